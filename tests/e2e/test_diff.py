"""`kubectl gitops diff` as a user runs it: the plugin on PATH, real git repositories, the local control plane.

Every test works in its own namespace, which is also where its app record lives (``--record-namespace``), so
apps of different tests never meet. Objects get into the cluster through our own ``sync`` (the way a user
gets them there), and every diff is checked against the audit log: diff never writes, and a diff with nothing
to change does not even dry-run.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_helpers import gitops
from cluster_helpers import ROOT, AuditMark, WriteCall, audit_mark, kubectl, kubectl_json, writes_since
from source_helpers import FIXTURES, HELM_MISSING, GitRepo, configmap, find_helm

pytestmark = pytest.mark.e2e

APP = "difftest"


# --- running the CLI --------------------------------------------------------------------------------------



def show(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def expect(proc: subprocess.CompletedProcess[str], code: int) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == code, show(proc)
    assert "Traceback" not in proc.stderr, show(proc)
    return proc


class App:
    """One app's git repository, and `kubectl gitops` commands run on it (always this app, this record)."""

    def __init__(self, tmp_path: Path, namespace: str, name: str = APP):
        self.repo = GitRepo.create(tmp_path / "repo")
        self.namespace = namespace
        self.name = name

    @property
    def path(self) -> Path:
        return self.repo.path

    def write(self, rel: str, text: str) -> App:
        self.repo.write(rel, text)
        return self

    def commit(self, message: str = "change") -> str:
        return self.repo.commit(message)

    def run(self, command: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return gitops(command, "--app", self.name, "--record-namespace", self.namespace, *args, cwd=self.path,
                      env=env)

    def diff(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("diff", *args, env=env)

    def diff_json(self, *args: str, code: int | None = None) -> dict[str, Any]:
        proc = self.diff("-o", "json", *args)
        if code is not None:
            expect(proc, code)
        assert proc.returncode in (0, 1), show(proc)
        doc: dict[str, Any] = json.loads(proc.stdout)
        return doc

    def sync(self, *args: str) -> None:
        expect(self.run("sync", *args), 0)


def changes(doc: dict[str, Any], *, all_ops: bool = False) -> dict[tuple[str, str], dict[str, Any]]:
    """The change list of `-o json` by (kind, name); unchanged objects left out unless all_ops."""
    return {(c["kind"], c["name"]): c for c in doc["changes"] if all_ops or c["op"] != "unchanged"}


# --- the audit log ----------------------------------------------------------------------------------------
# Other test sessions may share the cluster, so only calls about this test's objects are counted: those in its
# namespace (the namespace itself included) and the cluster-scoped objects it names.

def calls_since(mark: AuditMark, namespace: str, *cluster_scoped: str) -> list[WriteCall]:
    """Our write calls (dry runs included) since mark that concern this test's objects."""
    return [w for w in writes_since(mark) if w.namespace == namespace
            or (w.resource == "namespaces" and w.name == namespace)
            or (not w.namespace and w.name in cluster_scoped)]


def real_writes(mark: AuditMark, namespace: str, *cluster_scoped: str) -> list[WriteCall]:
    return [w for w in calls_since(mark, namespace, *cluster_scoped) if not w.dry_run]


def dry_runs(mark: AuditMark, namespace: str, *cluster_scoped: str) -> list[WriteCall]:
    """Our dry-run applies since mark (any real write fails the test: diff must never write)."""
    calls = calls_since(mark, namespace, *cluster_scoped)
    written = [w for w in calls if not w.dry_run]
    assert written == [], f"diff wrote to the cluster: {written}"
    return calls


# --- manifests --------------------------------------------------------------------------------------------

def deployment(name: str, namespace: str, *, image: str = "nginx:1.26", replicas: int = 2) -> str:
    """A Deployment as people write it: none of the fields the API server defaults."""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: {name}
        image: {image}
"""


def service(name: str, namespace: str) -> str:
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {namespace}
spec:
  selector: {{app: {name}}}
  ports:
  - port: 80
    targetPort: 8080
"""


def secret(name: str, namespace: str, *, string_data: dict[str, str] | None = None,
           data: dict[str, str] | None = None) -> str:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}}
    if string_data:
        doc["stringData"] = string_data
    if data:
        doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return yaml.safe_dump(doc, sort_keys=False)


def cm(name: str, namespace: str, *, value: str = "1", annotations: dict[str, str] | None = None) -> str:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": namespace}, "data": {"value": value}}
    if annotations:
        doc["metadata"]["annotations"] = annotations
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture
def app(tmp_path: Path, namespace: str) -> App:
    """A repository with a Deployment, a Service and a ConfigMap in the test namespace (committed, not synced)."""
    a = App(tmp_path, namespace)
    a.write("apps/web.yaml", deployment("web", namespace) + "---\n" + service("web", namespace))
    a.write("apps/config.yaml", cm("settings", namespace))
    a.commit("web")
    return a


@pytest.fixture
def synced(app: App) -> App:
    """The same app, synced: the cluster holds exactly what the repository says."""
    app.sync()
    return app


# --- create, update, unchanged ----------------------------------------------------------------------------

def test_new_objects_are_creates_with_the_servers_defaults_and_nothing_is_written(app: App) -> None:
    mark = audit_mark()
    proc = expect(app.diff(), 1)
    name = f"apps.v1.Deployment.{app.namespace}.web"
    assert f"diff -u -N live/{name} merged/{name}" in proc.stdout
    assert "+kind: Deployment" in proc.stdout and "+kind: Service" in proc.stdout and "+kind: ConfigMap" in proc.stdout
    # The "after" side is the API server's dry run: its defaults are there (it is what the object will be).
    assert "+        terminationMessagePath: /dev/termination-log" in proc.stdout
    assert "+  sessionAffinity: None" in proc.stdout
    calls = dry_runs(mark, app.namespace)
    assert sorted((c.resource, c.name) for c in calls) == [
        ("configmaps", "settings"), ("deployments", "web"), ("services", "web")]
    assert kubectl("get", "deployment", "web", "-n", app.namespace, check=False).returncode != 0
    doc = app.diff_json(code=1)
    assert doc["counts"] == {"create": 3, "update": 0, "delete": 0, "unchanged": 0, "ignored": 0}
    by = changes(doc)
    assert by[("Deployment", "web")]["source"] == "apps/web.yaml:1"
    assert by[("Service", "web")]["source"] == "apps/web.yaml:18"


def test_after_a_sync_diff_is_empty_exits_0_and_makes_no_dry_runs(synced: App) -> None:
    mark = audit_mark()
    proc = expect(synced.diff(), 0)
    assert proc.stdout == ""
    assert "no differences (3 objects, work tree @ " in proc.stderr
    assert calls_since(mark, synced.namespace) == []  # the fast path: LISTs per type and namespace, no dry run
    doc = synced.diff_json(code=0)
    assert doc["counts"]["unchanged"] == 3 and all(c["diff"] == "" for c in doc["changes"])
    assert calls_since(mark, synced.namespace) == []


def test_fields_the_server_defaults_are_not_differences_even_when_every_object_is_dry_run(synced: App) -> None:
    """The Deployment in git sets none of strategy, revisionHistoryLimit, imagePullPolicy, ...: live has them
    all, and the dry run (not the manifest) is what is compared, so there is nothing to show."""
    live = kubectl_json("get", "deployment", "web", "-n", synced.namespace)
    assert live["spec"]["revisionHistoryLimit"] == 10 and live["spec"]["strategy"]["type"] == "RollingUpdate"
    mark = audit_mark()
    proc = expect(synced.diff("--no-fast-path"), 0)
    assert proc.stdout == ""
    assert len(dry_runs(mark, synced.namespace)) == 3


def test_a_change_in_git_is_an_update_and_only_that_object_is_dry_run(synced: App) -> None:
    synced.write("apps/web.yaml", deployment("web", synced.namespace, image="nginx:1.27")
                 + "---\n" + service("web", synced.namespace))
    synced.commit("new image")
    mark = audit_mark()
    proc = expect(synced.diff(), 1)
    assert "-        image: nginx:1.26" in proc.stdout and "+        image: nginx:1.27" in proc.stdout
    assert "Service" not in proc.stdout and "ConfigMap" not in proc.stdout
    assert "#" not in proc.stdout  # a change from git is not drift: no attribution line
    assert [(c.resource, c.name) for c in dry_runs(mark, synced.namespace)] == [("deployments", "web")]

    summary = expect(synced.diff("--summary"), 1)
    rows = [line.split() for line in summary.stdout.splitlines()]
    assert rows[0] == ["OP", "KIND", "NAMESPACE/NAME", "SOURCE", "DRIFT"]
    assert rows[1:] == [["update", "Deployment", f"{synced.namespace}/web", "apps/web.yaml:1"]]
    assert "1 to update, 2 unchanged" in summary.stderr


def test_a_field_set_only_by_another_manager_is_not_a_difference(synced: App) -> None:
    """A sync never removes what others own (a label a human added): diff agrees, without a dry run."""
    kubectl("label", "configmap", "settings", "-n", synced.namespace, "owner=team-a")
    mark = audit_mark()
    expect(synced.diff(), 0)
    assert calls_since(mark, synced.namespace) == []


# --- drift ------------------------------------------------------------------------------------------------

def test_drift_names_the_manager_that_changed_the_field_and_when(synced: App) -> None:
    kubectl("patch", "deployment", "web", "-n", synced.namespace, "--type=merge", "--field-manager=hpa-bot",
            "-p", '{"spec":{"replicas":5}}')
    proc = expect(synced.diff(), 1)
    assert "-  replicas: 5" in proc.stdout and "+  replicas: 2" in proc.stdout
    assert re.search(r"^# spec\.replicas: changed by hpa-bot \(Update\) \d+[smhd] ago$", proc.stdout, re.M), \
        proc.stdout
    [change] = changes(synced.diff_json(code=1)).values()
    [drift] = change["drift"]
    assert (drift["path"], drift["manager"], drift["operation"]) == ("spec.replicas", "hpa-bot", "Update")
    assert re.match(r"\d{4}-\d\d-\d\dT", drift["time"])
    summary = expect(synced.diff("--summary"), 1)
    assert re.search(r"spec\.replicas \(hpa-bot, \d+[smhd] ago\)", summary.stdout), summary.stdout


def test_kubectl_scale_is_attributed_to_kubectl(synced: App) -> None:
    kubectl("scale", "deployment/web", "-n", synced.namespace, "--replicas=4")
    proc = expect(synced.diff(), 1)
    assert "# spec.replicas: changed by kubectl (Update)" in proc.stdout, proc.stdout
    # a sync would need --force-conflicts to take the field back, and diff says so
    assert "conflict" in proc.stdout and "kubectl" in proc.stdout


# --- ignore rules -----------------------------------------------------------------------------------------

IGNORE_CASES = {
    "json-pointer": "- group: apps\n  kind: Deployment\n  jsonPointers: [/spec/replicas]\n",
    "managed-fields-manager": "- group: apps\n  kind: Deployment\n  managedFieldsManagers: [hpa-bot]\n",
    "by-name-in-argo-application-form": ("ignoreDifferences:\n- group: apps\n  kind: Deployment\n  name: web\n"
                                          "  jqPathExpressions: ['.spec.replicas']\n"),
}


@pytest.mark.parametrize("rules", IGNORE_CASES.values(), ids=IGNORE_CASES.keys())
def test_ignore_rules_hide_drift_in_the_fields_they_name(synced: App, tmp_path: Path, rules: str) -> None:
    kubectl("patch", "deployment", "web", "-n", synced.namespace, "--type=merge", "--field-manager=hpa-bot",
            "-p", '{"spec":{"replicas":5}}')
    path = tmp_path / "ignore.yaml"
    path.write_text(rules)
    expect(synced.diff(), 1)
    proc = expect(synced.diff("--ignore-differences", str(path)), 0)
    assert proc.stdout == ""
    # the rules hide only what they name: a change from git to the same Deployment still shows
    synced.write("apps/web.yaml", deployment("web", synced.namespace, image="nginx:1.27")
                 + "---\n" + service("web", synced.namespace))
    proc = expect(synced.diff("--ignore-differences", str(path)), 1)
    assert "+        image: nginx:1.27" in proc.stdout and "replicas" not in proc.stdout


def test_ignore_rules_for_another_kind_or_name_change_nothing(synced: App, tmp_path: Path) -> None:
    kubectl("patch", "deployment", "web", "-n", synced.namespace, "--type=merge", "--field-manager=hpa-bot",
            "-p", '{"spec":{"replicas":5}}')
    path = tmp_path / "ignore.yaml"
    path.write_text("- group: apps\n  kind: StatefulSet\n  jsonPointers: [/spec/replicas]\n"
                    "- group: apps\n  kind: Deployment\n  name: api\n  jsonPointers: [/spec/replicas]\n")
    proc = expect(synced.diff("--ignore-differences", str(path)), 1)
    assert "+  replicas: 2" in proc.stdout


def test_an_extraneous_object_marked_ignore_extraneous_is_listed_but_not_a_difference(app: App) -> None:
    ns = app.namespace
    app.write("extra/keep.yaml", cm("keep", ns, annotations={
        "argocd.argoproj.io/compare-options": "IgnoreExtraneous"}))
    app.write("extra/gone.yaml", cm("gone", ns))
    app.commit("two more")
    app.sync()

    app.repo.git("rm", "-q", "extra/keep.yaml")
    app.commit("drop keep")
    doc = app.diff_json(code=0)
    [keep] = [c for c in doc["changes"] if c["name"] == "keep"]
    assert (keep["op"], keep["ignoredExtraneous"]) == ("delete", True)
    assert (doc["counts"]["ignored"], doc["counts"]["delete"]) == (1, 0)  # counted apart: not a difference
    proc = expect(app.diff("--summary", "--show-unchanged"), 0)
    assert re.search(r"^delete \(ignored\)\s+ConfigMap\s+" + ns + "/keep", proc.stdout, re.M), proc.stdout
    assert "1 ignored" in proc.stderr and "to delete" not in proc.stderr, show(proc)

    app.repo.git("rm", "-q", "extra/gone.yaml")
    app.commit("drop gone")
    doc = app.diff_json(code=1)  # an extraneous object without the annotation is a difference (a prune)
    assert {c["name"]: (c["op"], c["ignoredExtraneous"]) for c in doc["changes"] if c["op"] == "delete"} == {
        "keep": ("delete", True), "gone": ("delete", False)}


# --- masking ----------------------------------------------------------------------------------------------

def _cat_script(tmp_path: Path) -> tuple[Path, Path]:
    """An external diff program that prints every file it is given and remembers the folders."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    record = tmp_path / "external-dirs.txt"
    script = tmp_path / "cat-all.sh"
    script.write_text(f"""#!/bin/sh
echo "$1" > {record}
echo "$2" >> {record}
find "$1" "$2" -type f | sort | while read -r f; do echo "== $f"; cat "$f"; done
exit 1
""")
    script.chmod(0o755)
    return script, record


FORMATS: dict[str, tuple[str, ...]] = {
    "unified": (), "summary": ("--summary",), "json": ("-o", "json"), "yaml": ("-o", "yaml"),
    "markdown": ("-o", "markdown"), "table": ("-o", "table"), "verbose": ("-vv",),
    "unchanged-listed": ("--summary", "--show-unchanged"),
}


def _assert_no_canary(proc: subprocess.CompletedProcess[str], canaries: list[str]) -> None:
    for value in canaries:
        encoded = base64.b64encode(value.encode()).decode()
        for stream in (proc.stdout, proc.stderr):
            assert value not in stream and encoded not in stream, f"a secret value leaked: {show(proc)}"


def _every_output(a: App, tmp_path: Path, canaries: list[str]) -> dict[str, str]:
    """Run diff in every output format (and an external diff); assert no canary; stdout by format."""
    out = {}
    for label, args in FORMATS.items():
        proc = a.diff(*args)
        assert proc.returncode == 1, f"{label}: {show(proc)}"
        _assert_no_canary(proc, canaries)
        out[label] = proc.stdout
    script, record = _cat_script(tmp_path)
    proc = a.diff(env={"KUBECTL_EXTERNAL_DIFF": str(script)})
    assert proc.returncode == 1, show(proc)
    _assert_no_canary(proc, canaries)
    dirs = record.read_text().split()
    assert len(dirs) == 2 and dirs[0].endswith("/LIVE") and dirs[1].endswith("/MERGED")
    assert not Path(dirs[0]).parent.exists(), "the external diff's temporary folder was left behind"
    out["external"] = proc.stdout
    return out


def _stored() -> str:
    """A secret value that goes into the cluster. Not a CANARY- value: etcd's files stay on disk, and the suite's
    canary check reads every file the cluster leaves; these tests check their own values explicitly instead."""
    return f"STORED-{uuid.uuid4().hex}"


def _canary() -> str:
    """A secret value that only ever reaches the API server in dry runs (never stored): the suite checks it too."""
    return f"CANARY-{uuid.uuid4().hex}"


def test_secret_values_are_masked_in_every_output_format(app: App, tmp_path: Path) -> None:
    ns = app.namespace
    new = [_canary(), _canary()]
    app.write("apps/creds.yaml", secret("creds", ns, string_data={"password": new[0]}, data={"token": new[1]}))
    created = _every_output(app, tmp_path / "create", new)
    assert "+  password: '***'" in created["unified"] and "+  token: '***'" in created["unified"]
    assert "== " in created["external"] and "MERGED/v1.Secret." + ns + ".creds" in created["external"]
    assert "password: '***'" in created["external"]

    stored = [_stored(), _stored()]
    app.write("apps/creds.yaml", secret("creds", ns, string_data={"password": stored[0]}, data={"token": stored[1]}))
    app.commit("creds")
    app.sync()
    changed = _canary()
    app.write("apps/creds.yaml", secret("creds", ns, string_data={"password": changed}, data={"token": stored[1]}))
    updated = _every_output(app, tmp_path / "update", [*stored, changed])
    assert "-  password: '*** (before)'" in updated["unified"]
    assert "+  password: '*** (after)'" in updated["unified"]
    assert "token: '*** (" not in updated["unified"]  # unchanged, and masked all the same
    assert "*** (before)" in updated["external"] and "*** (after)" in updated["external"]
    doc = json.loads(updated["json"])
    [change] = [c for c in doc["changes"] if c["name"] == "creds"]
    assert change["op"] == "update" and "*** (after)" in change["diff"]


def test_an_unchanged_secret_written_with_string_data_is_not_dry_run(app: App) -> None:
    """The server folds stringData into data and never stores it; the fast path compares the decoded data, so a
    synced Secret is known unchanged without a dry run, and a changed value is dry-run and shown masked."""
    ns = app.namespace
    stored = [_stored(), _stored(), _stored()]
    app.write("apps/creds.yaml", secret("creds", ns, string_data={"password": stored[0], "note": "caf\u00e9\nline 2"})
              + "---\n" + secret("mixed", ns, string_data={"password": stored[1]}, data={"token": stored[2]}))
    app.commit("secrets")
    app.sync()
    mark = audit_mark()
    proc = expect(app.diff(), 0)
    assert proc.stdout == "" and dry_runs(mark, ns) == []
    changed = _stored()
    app.write("apps/creds.yaml", secret("creds", ns, string_data={"password": changed, "note": "caf\u00e9\nline 2"})
              + "---\n" + secret("mixed", ns, string_data={"password": stored[1]}, data={"token": stored[2]}))
    mark = audit_mark()
    proc = expect(app.diff(), 1)
    assert [(c.resource, c.name) for c in dry_runs(mark, ns)] == [("secrets", "creds")]
    assert "+  password: '*** (after)'" in proc.stdout
    assert not any(v in proc.stdout + proc.stderr for v in [*stored, changed])


def test_the_last_applied_configuration_annotation_is_masked(namespace: str, tmp_path: Path) -> None:
    """A Secret first created by client-side `kubectl apply` carries its plaintext in an annotation."""
    old, new = _stored(), _canary()
    kubectl("apply", "-f", "-", input=secret("legacy", namespace, string_data={"password": old}))
    assert old in kubectl("get", "secret", "legacy", "-n", namespace, "-o", "yaml").stdout  # the annotation has it
    a = App(tmp_path, namespace)
    a.write("legacy.yaml", secret("legacy", namespace, string_data={"password": new}))
    a.commit("take over the secret")
    outputs = _every_output(a, tmp_path / "out", [old, new])
    assert "kubectl.kubernetes.io/last-applied-configuration: '***'" in outputs["unified"], outputs["unified"]


# --- exit codes -------------------------------------------------------------------------------------------

def _closed_port_kubeconfig(tmp_path: Path) -> Path:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    path = tmp_path / "unreachable.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                  "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u", "namespace": "default"}}]}))
    return path


EXIT_CASES: dict[str, tuple[int, list[str], list[str]]] = {
    # case: (exit code, extra diff arguments, fragments expected on stderr)
    "no-differences": (0, [], ["no differences"]),
    "differences": (1, ["--ref", "HEAD~1"], []),
    "unknown-flag": (2, ["--no-such-flag"], ["No such option", "--no-such-flag"]),
    "bad-output-format": (2, ["-o", "xml"], ["Invalid value for '-o'", "xml"]),
    "bad-timeout": (2, ["--request-timeout", "soon"], ["--request-timeout"]),
    "bad-concurrency": (2, ["--concurrency", "0"], ["--concurrency"]),
    "invalid-manifest": (3, ["broken"], ["broken/bad.yaml:5", "invalid YAML", "hint:"]),
    "unknown-ref": (3, ["--ref", "no-such-branch"], ["no-such-branch"]),
    "unreachable-cluster": (5, ["--kubeconfig", "{unreachable}", "--request-timeout", "2s"], ["127.0.0.1:"]),
}


@pytest.mark.parametrize("case", EXIT_CASES, ids=EXIT_CASES.keys())
def test_exit_codes(synced: App, tmp_path: Path, case: str) -> None:
    code, args, fragments = EXIT_CASES[case]
    synced.write("apps/config.yaml", cm("settings", synced.namespace, value="0"))  # HEAD~1 differs from live
    synced.commit("older value")
    synced.write("apps/config.yaml", cm("settings", synced.namespace, value="1"))
    synced.commit("back to the synced value")
    if case == "invalid-manifest":
        synced.write("broken/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n    bad: indent\n")
    unreachable = str(_closed_port_kubeconfig(tmp_path))
    mark = audit_mark()
    proc = expect(synced.diff(*(a.replace("{unreachable}", unreachable) for a in args)), code)
    for fragment in fragments:
        assert fragment in proc.stderr, show(proc)
    if code > 1:
        assert proc.stdout == "", show(proc)
    assert real_writes(mark, synced.namespace) == []
    if code == 0:
        assert calls_since(mark, synced.namespace) == []


def test_an_unreachable_cluster_says_which_server_and_what_to_check(tmp_path: Path, app: App) -> None:
    kubeconfig = _closed_port_kubeconfig(tmp_path)
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    proc = expect(app.diff("--kubeconfig", str(kubeconfig), "--request-timeout", "2s"), 5)
    assert server.removeprefix("https://") in proc.stderr, show(proc)
    assert "hint:" in proc.stderr, show(proc)


# --- sources: --ref, dirty work trees, kustomize, helm ------------------------------------------------------

def test_ref_reads_an_older_commit_without_touching_the_work_tree(app: App) -> None:
    old = app.repo.head()
    app.sync()
    app.write("apps/web.yaml", deployment("web", app.namespace, image="nginx:1.27")
              + "---\n" + service("web", app.namespace))
    app.commit("new image")
    app.write("apps/config.yaml", cm("settings", app.namespace, value="uncommitted"))
    status, head = app.repo.status(), app.repo.head()

    expect(app.diff("--ref", old), 0)
    expect(app.diff("--ref", "HEAD~1"), 0)
    doc = app.diff_json("--ref", "HEAD", code=1)
    assert doc["source"]["commit"] == head and doc["source"]["dirty"] is False
    assert doc["source"]["ref"] == "HEAD"
    assert set(changes(doc)) == {("Deployment", "web")}  # the uncommitted ConfigMap edit is not in HEAD
    doc = app.diff_json(code=1)  # the work tree: both
    assert set(changes(doc)) == {("Deployment", "web"), ("ConfigMap", "settings")}
    assert doc["source"]["ref"] is None
    assert (app.repo.status(), app.repo.head()) == (status, head)


def test_uncommitted_edits_are_included_and_the_output_says_so(synced: App) -> None:
    synced.write("apps/config.yaml", cm("settings", synced.namespace, value="2"))
    proc = expect(synced.diff(), 1)
    assert "(work tree dirty)" in proc.stderr and "uncommitted changes are included" in proc.stderr
    assert '-  value: "1"' in proc.stdout or "-  value: '1'" in proc.stdout, proc.stdout
    assert synced.diff_json(code=1)["source"]["dirty"] is True
    committed = expect(synced.diff("--ref", "HEAD"), 0)
    assert "dirty" not in committed.stderr


def _copy_fixture(a: App, src: Path, rel: str, replacements: dict[str, str]) -> None:
    a.repo.copy_in(src, rel)
    for f in (a.path / rel).rglob("*.yaml"):
        text = f.read_text()
        for old, new in replacements.items():
            text = text.replace(old, new)
        f.write_text(text)


def test_a_kustomize_overlay_is_rendered_and_compared(tmp_path: Path, namespace: str) -> None:
    a = App(tmp_path, namespace)
    _copy_fixture(a, FIXTURES / "kustomize", "deploy", {"namespace: prod": f"namespace: {namespace}",
                                                        "name: prod": f"name: {namespace}"})
    a.commit("kustomize")
    mark = audit_mark()
    doc = a.diff_json("deploy/overlays/prod", code=1)
    assert real_writes(mark, namespace) == []
    by = changes(doc, all_ops=True)
    kinds = {(kind, name if not name.startswith("api-config-") else "api-config-<hash>"): c["op"]
             for (kind, name), c in by.items()}
    assert kinds == {("Namespace", namespace): "update", ("Deployment", "api"): "create",
                     ("Service", "api"): "create", ("ConfigMap", "api-config-<hash>"): "create"}
    deploy = by[("Deployment", "api")]
    assert deploy["namespace"] == namespace and deploy["source"].startswith("deploy/overlays/prod")
    assert "+  replicas: 3" in deploy["diff"] and "+    env: prod" in deploy["diff"]
    assert "+    env: prod" in by[("Namespace", namespace)]["diff"]  # the overlay's label on our namespace

    a.sync("deploy/overlays/prod", "--adopt")  # the namespace exists (the test made it): take it over
    mark = audit_mark()
    expect(a.diff("deploy/overlays/prod"), 0)
    assert calls_since(mark, namespace) == []


@pytest.fixture
def helm_env() -> dict[str, str]:
    helm = find_helm()
    if helm is None:
        pytest.skip(HELM_MISSING)
    return {"KUBECTL_GITOPS_HELM": helm}


def test_a_helm_chart_is_rendered_with_values_and_compared(tmp_path: Path, namespace: str,
                                                          helm_env: dict[str, str]) -> None:
    a = App(tmp_path, namespace)
    a.repo.copy_in(FIXTURES / "helm", "charts")
    a.commit("chart")
    args = ["charts/demo", "-n", namespace, "--release-name", "shop", "--values", "values-prod.yaml"]
    mark = audit_mark()
    proc = a.diff(*args, "-o", "json", env=helm_env)
    assert proc.returncode == 1, show(proc)
    assert real_writes(mark, namespace, "widgets.example.com") == []
    by = changes(json.loads(proc.stdout), all_ops=True)
    web = by[("Deployment", "shop-web")]
    assert web["op"] == "create" and web["namespace"] == namespace
    assert web["source"].startswith("charts/demo/templates/deployment.yaml")
    assert "+  replicas: 4" in web["diff"]  # values-prod.yaml
    assert "+        image: nginx:1.27" in web["diff"]
    assert by[("Service", "shop-web")]["op"] == "create"
    assert by[("Widget", "shop-widget")]["op"] == "create"
    assert ("CustomResourceDefinition", "widgets.example.com") in by
    # hooks run on every sync: they are not compared, and `helm test` pods are skipped altogether
    assert not any(kind in ("Job", "Pod") for kind, _ in by)

    default_values = a.diff(*args[:-2], "-o", "json", env=helm_env)
    assert "+  replicas: 1" in changes(json.loads(default_values.stdout))[("Deployment", "shop-web")]["diff"]


def test_a_chart_without_helm_installed_is_a_clear_error(tmp_path: Path, namespace: str) -> None:
    a = App(tmp_path, namespace)
    a.repo.copy_in(FIXTURES / "helm", "charts")
    a.commit("chart")
    no_helm = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "helm").exists())
    proc = expect(a.diff("charts/demo", env={"PATH": f"{ROOT / 'bin'}{os.pathsep}{no_helm}",
                                             "KUBECTL_GITOPS_HELM": ""}), 3)
    assert "helm" in proc.stderr and "KUBECTL_GITOPS_HELM" in proc.stderr, show(proc)


# --- many objects at once -----------------------------------------------------------------------------------

@pytest.fixture
def wide(tmp_path: Path, namespace: str) -> Iterator[App]:
    a = App(tmp_path, namespace)
    for i in range(30):
        a.write(f"cm/{i:02}.yaml", configmap(f"c{i:02}", namespace=namespace, value=str(i)))
    a.commit("30 configmaps")
    a.sync()
    yield a


def test_only_the_objects_that_may_change_are_dry_run(wide: App) -> None:
    for i in (3, 17):
        wide.write(f"cm/{i:02}.yaml", configmap(f"c{i:02}", namespace=wide.namespace, value="changed"))
    mark = audit_mark()
    doc = wide.diff_json("--concurrency", "2", code=1)
    assert sorted(c.name for c in dry_runs(mark, wide.namespace)) == ["c03", "c17"]
    assert sorted(name for _, name in changes(doc)) == ["c03", "c17"]
    assert doc["counts"]["unchanged"] == 28
