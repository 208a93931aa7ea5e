"""`--image` and Helm `--set` at sync time, on the local control plane: plain, kustomize and Helm renders, the
record of each sync's overrides, and the warning before a sync that would revert them."""

from __future__ import annotations

import shutil

import pytest
from cli_helpers import gitops
from cluster_helpers import audit_mark, kubectl_json
from source_helpers import FIXTURES, HELM_MISSING, find_helm
from sync_helpers import SyncApp, deployment, ok, writes_in

pytestmark = pytest.mark.e2e


def live_image(namespace: str, name: str) -> str:
    return str(kubectl_json("get", "deployment", name, "-n", namespace)["spec"]["template"]["spec"]["containers"][0]
               ["image"])


def test_plain_sync_with_image_override_is_recorded_and_its_revert_is_announced_before_writing(tmp_path, namespace):
    app = SyncApp(tmp_path, "imgplain", namespace).write("web.yaml", deployment("web", namespace,
                                                                                 image="example.com/web:1"))
    app.commit()
    first = ok(app.sync("--image", "example.com/web=example.com/web:2"))
    assert f"--image: Deployment.apps {namespace}/web: example.com/web:1 -> example.com/web:2" in first.stderr
    assert live_image(namespace, "web") == "example.com/web:2"
    assert app.history()[-1]["images"] == ["example.com/web=example.com/web:2"]
    table = ok(app.run("history")).stdout
    assert "synced with --image example.com/web=example.com/web:2" in table

    # the diff without the override shows the revert; with it, nothing to do
    reverting = app.run("diff", "--image", "example.com/web:2")
    assert reverting.returncode == 0, reverting.stderr
    shown = app.run("diff")
    assert shown.returncode == 1 and "-        image: example.com/web:2" in shown.stdout, shown.stdout

    # a dry run and a real sync without --image say so before writing; the real one then reverts it
    dry = app.sync("--dry-run")
    assert dry.returncode == 0 and "reverts the image override --image example.com/web=example.com/web:2" in dry.stderr
    run = app.sync_json()
    assert run.code == 0, run
    warning = run.index({"type": "warning", "image": "example.com/web=example.com/web:2"})
    first_apply = run.index(lambda e: e["type"] == "apply" and e.get("action") == "configured")
    assert warning < first_apply
    assert live_image(namespace, "web") == "example.com/web:1"
    assert "images" not in app.history()[-1]


def test_override_matching_nothing_fails_before_any_write(tmp_path, namespace):
    app = SyncApp(tmp_path, "imgnone", namespace).write("web.yaml", deployment("web", namespace))
    app.commit()
    mark = audit_mark()
    proc = app.sync("--image", "example.com/wbe:2")
    assert proc.returncode == 3, proc.stderr
    assert "no image named 'example.com/wbe'" in proc.stderr and "example.com/web:1" in proc.stderr
    assert writes_in(namespace, mark) == []
    bad = app.sync("--image", "example.com/web")
    assert bad.returncode == 2 and "invalid --image" in bad.stderr


def test_kustomize_render_gets_the_override(tmp_path, namespace):
    app = SyncApp(tmp_path, "imgkust", namespace)
    app.write("base/web.yaml", deployment("web", namespace, image="example.com/web:1"))
    app.write("base/kustomization.yaml", "resources:\n- web.yaml\nimages:\n- name: example.com/web\n  newTag: '3'\n")
    app.commit()
    ok(app.sync("base", "--image", "example.com/web@sha256:" + "c" * 64))
    assert live_image(namespace, "web") == "example.com/web@sha256:" + "c" * 64


def test_helm_render_gets_set_values_and_the_override(tmp_path, namespace):
    helm = find_helm()
    if helm is None:
        pytest.skip(HELM_MISSING)
    app = SyncApp(tmp_path, "imghelm", namespace)
    shutil.copytree(FIXTURES / "helm" / "demo", app.repo.path / "chart", ignore=shutil.ignore_patterns("crds"))
    # without its crds/ folder (a cluster-scoped CRD other tests own), the chart must not render a Widget either:
    # whether the cluster serves Widget at this moment depends on which tests ran before
    service = app.repo.path / "chart" / "templates" / "service.yaml"
    service.write_text(service.read_text().split("\n---\n")[0] + "\n")
    app.commit()
    tag_file = tmp_path / "port.txt"
    tag_file.write_text("8080")
    env = {"KUBECTL_GITOPS_HELM": helm}
    proc = app.run("sync", "chart", "-n", namespace, "--release-name", "demo", "--set", "replicaCount=2",
                   "--set-string", "image.tag=1.28", "--set-file", f"service.port={tag_file}",
                   "--image", "nginx=mirror.local/nginx", env=env)
    ok(proc)
    dep = kubectl_json("get", "deployment", "demo-web", "-n", namespace)
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "mirror.local/nginx:1.28"
    svc = kubectl_json("get", "service", "demo-web", "-n", namespace)
    assert svc["spec"]["ports"][0]["port"] == 8080
    # --set with no chart under the path is invalid input
    app.write("plain/web.yaml", deployment("web", namespace))
    app.commit()
    proc = gitops("waves", "plain", "--set", "a=b", cwd=app.repo.path, env=env)
    assert proc.returncode == 3 and "no Helm chart under this path" in proc.stderr
