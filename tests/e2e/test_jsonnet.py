"""A Jsonnet app on the local control plane, as a user of Argo CD's jsonnet-guestbook would run it: a folder of
``.jsonnet`` files and a ``.libsonnet`` library in vendor/, inputs given with the ``--jsonnet-*`` flags; sync
applies it in wave order, diff is clean afterwards, a changed input shows as a difference, and a wrong input
is exit 3 with nothing written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from apptree_helpers import GIT_BASE, application
from cli_helpers import gitops
from cluster_helpers import audit_mark, kubectl_json
from source_helpers import GitRepo
from sync_helpers import SyncApp, ok, parse_run, writes_in

pytestmark = pytest.mark.e2e

LIB = """{
  configMap(name, ns, data, wave=0):: {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: {name: name, namespace: ns, annotations: {'argocd.argoproj.io/sync-wave': std.toString(wave)}},
    data: data,
  },
}
"""

GUESTBOOK = """local k = import 'k.libsonnet';
function(namespace, replicas=1) [
  k.configMap('settings', namespace, {env: std.extVar('env'), replicas: std.toString(replicas)}),
  {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: {name: 'guestbook-ui', namespace: namespace, annotations: {'argocd.argoproj.io/sync-wave': '1'}},
    spec: {
      replicas: replicas,
      selector: {matchLabels: {app: 'guestbook-ui'}},
      template: {
        metadata: {labels: {app: 'guestbook-ui'}},
        spec: {containers: [{name: 'ui', image: 'registry.k8s.io/pause:3.9'}]},
      },
    },
  },
]
"""

SERVICE = """{
  apiVersion: 'v1', kind: 'List', items: [{
    apiVersion: 'v1', kind: 'Service', metadata: {name: 'guestbook-ui', namespace: std.extVar('namespace')},
    spec: {selector: {app: 'guestbook-ui'}, ports: [{port: 80, targetPort: 8080}]},
  }],
}
"""


def test_a_jsonnet_folder_syncs_in_wave_order_and_diff_is_clean_afterwards(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "jsonnet-guestbook", ns)
    app.write("vendor/k.libsonnet", LIB)
    app.write("guestbook/guestbook.jsonnet", GUESTBOOK)
    app.write("guestbook/service.jsonnet", SERVICE)
    app.write("guestbook/README.md", "The guestbook, in Jsonnet.\n")
    app.commit("jsonnet guestbook")
    inputs = ["guestbook", "--jsonnet-libs", "vendor", "--jsonnet-ext-var-str", "env=prod",
              "--jsonnet-ext-var-str", f"namespace={ns}", "--jsonnet-tla-str", f"namespace={ns}",
              "--jsonnet-tla-code", "replicas=2"]

    run = app.sync_json(*inputs)
    assert run.code == 0, run
    assert run.wave_starts() == [("Sync", 0), ("Sync", 1)]
    assert run.applied() == [(f"ConfigMap {ns}/settings", "created"), (f"Service {ns}/guestbook-ui", "created"),
                             (f"Deployment.apps {ns}/guestbook-ui", "created")]
    assert kubectl_json("get", "configmap", "settings", "-n", ns)["data"] == {"env": "prod", "replicas": "2"}
    assert kubectl_json("get", "deployment", "guestbook-ui", "-n", ns)["spec"]["replicas"] == 2

    mark = audit_mark()
    clean = app.run("diff", *inputs)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    again = app.sync_json(*inputs)
    assert again.code == 0 and again.applied() == [], again
    assert writes_in(ns, mark) == []

    changed = app.run("diff", *inputs[:-1], "replicas=3", "-o", "json")
    assert changed.returncode == 1, changed.stderr
    report = json.loads(changed.stdout)
    assert sorted((c["kind"], c["name"], c["op"]) for c in report["changes"] if c["op"] != "unchanged") == [
        ("ConfigMap", "settings", "update"), ("Deployment", "guestbook-ui", "update")]


def test_a_missing_input_is_exit_3_naming_file_and_line_and_nothing_is_written(tmp_path: Path,
                                                                              namespace: str) -> None:
    app = SyncApp(tmp_path, "jsonnet-missing", namespace)
    app.write("vendor/k.libsonnet", LIB)
    app.write("guestbook/guestbook.jsonnet", GUESTBOOK)
    app.commit("jsonnet guestbook")
    mark = audit_mark()
    proc = app.sync("guestbook", "--jsonnet-libs", "vendor", "--jsonnet-tla-str", f"namespace={namespace}")
    assert proc.returncode == 3, proc.stderr
    assert "guestbook/guestbook.jsonnet:3: jsonnet: Undefined external variable: env; pass it with " \
           "--jsonnet-ext-var-str env=VALUE" in proc.stderr
    assert writes_in(namespace, mark) == []


def test_a_folder_no_renderer_reads_is_refused_not_an_empty_sync(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "cue-app", namespace)
    app.write("cue/app.cue", "package app\n")
    app.commit("cue")
    proc = app.sync("cue")
    assert proc.returncode == 3
    assert "cue: no file here is read by a renderer (cue/app.cue)" in proc.stderr
    ok(app.sync("cue", "--exclude", "*.cue"))  # a folder meant to render nothing, said so


def test_an_application_with_directory_jsonnet_is_synced_as_a_child_app(tmp_path: Path, namespace: str) -> None:
    """The app-of-apps case: a bootstrap Application points at a Jsonnet folder of another repository, with
    Argo CD's directory.jsonnet (build variables, a TLA as code, a library folder at that repository's root)."""
    ns = namespace
    org = tmp_path / "org"
    apps = GitRepo.create(org / "guestbook")
    apps.write("vendor/k.libsonnet", LIB)
    apps.write("jsonnet/guestbook.jsonnet", GUESTBOOK)
    apps.commit("guestbook in jsonnet")
    platform = GitRepo.create(org / "platform")
    platform.write("bootstrap/guestbook.yaml", application("guestbook", namespace=ns, source={
        "repoURL": f"{GIT_BASE}/guestbook", "targetRevision": "HEAD", "path": "jsonnet",
        "directory": {"jsonnet": {"extVars": [{"name": "env", "value": "$ARGOCD_APP_NAME-prod"}],
                                  "tlas": [{"name": "namespace", "value": "$ARGOCD_APP_NAMESPACE"},
                                           {"name": "replicas", "value": "1 + 1", "code": True}],
                                  "libs": ["vendor"]}}}))
    platform.commit("bootstrap")

    def run(command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return gitops(command, "--app", "root", "--record-namespace", ns, "-n", ns, "--apps", "expand",
                      "--repo-mirror", f"{GIT_BASE}={org}", "--path", "bootstrap", *args, cwd=platform.path,
                      env={"KUBECTL_GITOPS_CACHE": str(tmp_path / "cache")})

    synced = parse_run(run("sync", "-o", "json"))
    assert synced.code == 0, synced
    assert {a["app"]: a["status"] for a in synced.result["apps"]}["guestbook"] == "synced"
    assert kubectl_json("get", "configmap", "settings", "-n", ns)["data"] == {"env": "guestbook-prod", "replicas": "2"}
    assert kubectl_json("get", "deployment", "guestbook-ui", "-n", ns)["spec"]["replicas"] == 2
    clean = run("diff")
    assert clean.returncode == 0, clean.stdout + clean.stderr
