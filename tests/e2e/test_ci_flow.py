"""The CI deploy stage as a pipeline runs it, on the local control plane: `diff -o patch` applied to the live
objects gives what a sync writes; `image set` + commit + push, `sync`, `promote` to prod."""

from __future__ import annotations

import copy
import json

import jsonpatch
import pytest
from apptree_helpers import GIT_BASE, application
from cli_helpers import gitops
from cluster_helpers import kubectl, kubectl_json
from source_helpers import GitRepo
from sync_helpers import SyncApp, configmap, deployment, ok

from kubectl_gitops.engine.diff.normalize import normalize

pytestmark = pytest.mark.e2e


def live(kind: str, name: str, namespace: str) -> dict:
    obj: dict = kubectl_json("get", kind, name, "-n", namespace)
    return obj


def written(obj: dict) -> dict:
    """What a sync writes: normalised, without what the Deployment controller changes after the write."""
    out = normalize(obj)
    out["metadata"].get("annotations", {}).pop("deployment.kubernetes.io/revision", None)
    return out


def test_diff_patch_applied_to_live_objects_gives_what_sync_writes(tmp_path, namespace):
    app = SyncApp(tmp_path, "patchapp", namespace)
    app.write("web.yaml", deployment("web", namespace, replicas=2, image="example.com/web:1"))
    app.write("cm.yaml", configmap("settings", namespace, value="1"))
    app.write("old.yaml", configmap("old", namespace))
    app.commit()
    ok(app.sync())
    app.write("web.yaml", deployment("web", namespace, {"team": "shop"}, replicas=3, image="example.com/web:2"))
    app.write("cm.yaml", configmap("settings", namespace, value="2"))
    app.write("new.yaml", configmap("new", namespace))
    app.remove("old.yaml")
    app.commit()

    proc = app.run("diff", "-o", "patch", "--image", "example.com/web:3")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    by = {(o["kind"], o["name"]): o for o in doc["objects"]}
    assert doc["schemaVersion"] == 1 and set(by) == {("Deployment", "web"), ("ConfigMap", "settings"),
                                                     ("ConfigMap", "new"), ("ConfigMap", "old")}
    assert by[("ConfigMap", "old")]["op"] == "delete" and by[("ConfigMap", "old")]["patch"] is None
    before = {k: live(k[0].lower(), k[1], namespace) for k in [("Deployment", "web"), ("ConfigMap", "settings")]}
    patched = {k: jsonpatch.apply_patch(copy.deepcopy(obj), by[k]["patch"]) for k, obj in before.items()}
    created = jsonpatch.apply_patch({}, by[("ConfigMap", "new")]["patch"])

    ok(app.sync("--image", "example.com/web:3", "--prune", "--yes"))
    for k, obj in patched.items():
        assert written(obj) == written(live(k[0].lower(), k[1], namespace)), k
    assert written(created) == written(live("configmap", "new", namespace))
    assert patched[("Deployment", "web")]["spec"]["template"]["spec"]["containers"][0]["image"] == "example.com/web:3"


def kustomize_env(namespace: str, env: str) -> dict[str, str]:
    return {f"overlays/{env}/kustomization.yaml":
            f"namespace: {namespace}\nnamePrefix: {env}-\nresources:\n- ../../base\nimages:\n"
            f"- name: example.com/web\n  newTag: \"1\"\n"}


def test_ci_pipeline_image_set_sync_promote_and_patch(tmp_path, namespace):
    """What the docs/ci.md jobs run, in order: CI builds example.com/web:2, writes it back to the dev overlay and
    pushes; the deploy job syncs dev (the new image is live); a release promotes dev to prod; the pull-request
    job's `diff -o patch` for prod, applied to the live prod object, gives what the prod sync then writes."""
    remote = GitRepo.create(tmp_path / "remote.git", bare=True)
    seed = GitRepo.create(tmp_path / "seed")
    seed.write("base/web.yaml", deployment("web", namespace, image="example.com/web:1"))
    seed.write("base/kustomization.yaml", "resources:\n- web.yaml\n")
    for env in ("dev", "prod"):
        for rel, text in kustomize_env(namespace, env).items():
            seed.write(rel, text)
    seed.commit("environments")
    seed.git("remote", "add", "origin", str(remote.path))
    seed.git("push", "-q", "-u", "origin", "HEAD:main")
    ci = GitRepo.clone(str(remote.path), tmp_path / "ci")

    def run(*args: str):
        return gitops(*args, cwd=ci.path)

    def app(env: str) -> tuple[str, ...]:
        return ("--app", f"ci-{env}", "--record-namespace", namespace, f"overlays/{env}")

    ok(run("sync", *app("dev")))
    ok(run("sync", *app("prod")))
    # build stage: write the new image back, push
    proc = ok(run("image", "set", "example.com/web:2", "--path", "overlays/dev", "--push"))
    assert 'newTag: "2"' in proc.stdout and "pushed" in proc.stderr
    assert 'newTag: "2"' in remote.git("show", "main:overlays/dev/kustomization.yaml")
    # deploy stage (on merge): sync dev
    ok(run("sync", *app("dev")))
    assert live("deployment", "dev-web", namespace)["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "example.com/web:2"
    # release: promote dev to prod (the diff is shown), then the pull-request diff as a patch
    proc = ok(run("promote", "--from", "overlays/dev", "--to", "overlays/prod", "--commit"))
    assert '-  newTag: "1"\n+  newTag: "2"' in proc.stdout
    diff = run("diff", *app("prod"), "-o", "patch")
    assert diff.returncode == 1, diff.stderr
    [obj] = [o for o in json.loads(diff.stdout)["objects"] if o["kind"] == "Deployment"]
    patched = jsonpatch.apply_patch(live("deployment", "prod-web", namespace), obj["patch"])
    ok(run("sync", *app("prod")))
    assert written(patched) == written(live("deployment", "prod-web", namespace))
    assert patched["spec"]["template"]["spec"]["containers"][0]["image"] == "example.com/web:2"


def test_diff_patch_of_a_tree_of_apps_is_one_document_with_a_patch_list_per_app(tmp_path, namespace):
    git = {"repoURL": f"{GIT_BASE}/apps", "targetRevision": "HEAD"}
    apps_repo = GitRepo.create(tmp_path / "org" / "apps")
    apps_repo.write("team-b/cm.yaml", configmap("team-b", namespace, value="b"))
    apps_repo.commit("team-b")
    platform = GitRepo.create(tmp_path / "org" / "platform")
    platform.write("bootstrap/team-b.yaml",
                   application("team-b", namespace=namespace, source={**git, "path": "team-b"}))
    platform.commit("bootstrap")
    diff = gitops("diff", "--app", "root", "--record-namespace", namespace, "-n", namespace, "--repo-mirror",
                  f"{GIT_BASE}={tmp_path / 'org'}", "--path", "bootstrap", "-o", "patch", cwd=platform.path,
                  env={"KUBECTL_GITOPS_CACHE": str(tmp_path / "cache")})
    assert diff.returncode == 1, diff.stderr
    apps = {a["app"]: a for a in json.loads(diff.stdout)["apps"]}
    assert list(apps) == ["root", "team-b"]
    [obj] = apps["team-b"]["objects"]
    assert (obj["op"], obj["kind"], obj["name"]) == ("create", "ConfigMap", "team-b")
    assert jsonpatch.apply_patch({}, obj["patch"])["data"] == {"value": "b"}


def test_image_override_on_a_tree_root_without_that_image_fails_instead_of_being_dropped(tmp_path, namespace):
    git = {"repoURL": f"{GIT_BASE}/apps", "targetRevision": "HEAD"}
    apps_repo = GitRepo.create(tmp_path / "org" / "apps")
    apps_repo.write("web/web.yaml", deployment("web", namespace, image="example.com/web:1"))
    apps_repo.commit("web")
    platform = GitRepo.create(tmp_path / "org" / "platform")
    platform.write("bootstrap/web.yaml", application("web", namespace=namespace, source={**git, "path": "web"}))
    platform.commit("bootstrap")
    proc = gitops("sync", "--app", "root", "--record-namespace", namespace, "-n", namespace, "--repo-mirror",
                  f"{GIT_BASE}={tmp_path / 'org'}", "--path", "bootstrap", "--image", "example.com/web:2",
                  cwd=platform.path, env={"KUBECTL_GITOPS_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 3, proc.stderr
    assert "in a tree of apps --image applies to the root's own objects only" in proc.stderr
    assert kubectl("get", "deployment", "web", "-n", namespace, check=False).returncode != 0
