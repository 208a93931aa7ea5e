"""Nested trees (an Application whose source holds Applications), --only, the JSON diff of a tree, and cycles."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from apptree_helpers import GIT_BASE, application
from cli_helpers import gitops
from cluster_helpers import kubectl, kubectl_json
from source_helpers import GitRepo, configmap
from sync_helpers import parse_run

pytestmark = pytest.mark.e2e


class Nested:
    def __init__(self, tmp_path: Path, ns: str):
        self.ns = ns
        self.env = {"KUBECTL_GITOPS_CACHE": str(tmp_path / "cache")}
        self.mirror = ["--repo-mirror", f"{GIT_BASE}={tmp_path / 'org'}"]
        git = {"repoURL": f"{GIT_BASE}/apps", "targetRevision": "HEAD"}
        self.apps = GitRepo.create(tmp_path / "org" / "apps")
        self.apps.write("teams/shared.yaml", configmap("teams-shared", namespace=ns))
        self.apps.write("teams/team-a.yaml", application("team-a", namespace=ns, source={**git, "path": "team-a"}))
        self.apps.write("teams/team-b.yaml", application("team-b", wave=1, namespace=ns,
                                                         source={**git, "path": "team-b"}))
        self.apps.write("team-a/cm.yaml", configmap("team-a", value="a"))
        self.apps.write("team-b/cm.yaml", configmap("team-b", value="b"))
        self.apps.commit("teams")
        self.platform = GitRepo.create(tmp_path / "org" / "platform")
        self.platform.write("bootstrap/teams.yaml", application("teams", namespace=ns, source={**git, "path": "teams"}))
        self.platform.commit("bootstrap")

    def run(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return gitops(command, "--app", "root", "--record-namespace", self.ns, "-n", self.ns, *self.mirror,
                      "--path", "bootstrap", *args, cwd=self.platform.path, env=self.env)


def test_an_application_whose_source_holds_applications_is_a_tree_below_it(tmp_path: Path, namespace: str) -> None:
    t = Nested(tmp_path, namespace)
    diff = t.run("diff", "-o", "json")
    assert diff.returncode == 1, diff.stderr
    doc = json.loads(diff.stdout)
    assert [a["app"] for a in doc["apps"]] == ["root", "teams", "team-a", "team-b"]
    assert [c["name"] for c in next(a for a in doc["apps"] if a["app"] == "team-b")["changes"]] == ["team-b"]

    dry = parse_run(t.run("sync", "-o", "json", "--dry-run"))
    assert dry.code == 0, dry
    assert {a["app"]: a["status"] for a in dry.result["apps"]}["team-a"] == "dry run"
    assert kubectl("get", "configmap", "teams-shared", "-n", namespace, check=False).returncode != 0

    only = parse_run(t.run("sync", "-o", "json", "--only", "team-b"))
    assert only.code == 0, only
    assert {a["app"]: a["status"] for a in only.result["apps"]} == {
        "root": "not selected", "teams": "not selected", "team-a": "not selected", "team-b": "synced"}
    assert kubectl("get", "configmap", "team-a", "-n", namespace, check=False).returncode != 0

    run = parse_run(t.run("sync", "-o", "json"))
    assert run.code == 0, run
    apps = {a["app"]: a for a in run.result["apps"]}
    assert apps["teams"]["parent"] == "root" and apps["team-a"]["parent"] == "teams"
    assert {k: v["status"] for k, v in apps.items()} == {"root": "no objects", "teams": "synced", "team-a": "synced",
                                                         "team-b": "synced"}
    starts = {e["app"]: i for i, e in enumerate(run.events) if e["type"] == "app.start"}
    dones = {e["app"]: i for i, e in enumerate(run.events) if e["type"] == "app.done"}
    assert dones["team-a"] < starts["team-b"]  # wave 0 before wave 1, inside the nested tree
    assert kubectl_json("get", "configmap", "team-a", "-n", namespace)["data"] == {"value": "a"}
    kubectl("get", "configmap", "teams-shared", "-n", namespace)

    clean = t.run("diff")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_an_application_pointing_back_at_its_ancestor_is_a_cycle(tmp_path: Path, namespace: str) -> None:
    t = Nested(tmp_path, namespace)
    t.platform.write("bootstrap/loop.yaml", application("loop", namespace=namespace, source={
        "repoURL": f"{GIT_BASE}/platform.git", "path": "bootstrap"}))
    t.platform.commit("a loop")
    proc = t.run("sync")
    assert proc.returncode == 3, proc.stderr
    assert "a cycle (root -> loop)" in proc.stderr, proc.stderr
    assert kubectl("get", "configmap", "teams-shared", "-n", namespace, check=False).returncode != 0


def test_waves_of_a_tree_as_json_and_apply_mode(tmp_path: Path, namespace: str) -> None:
    t = Nested(tmp_path, namespace)
    waves = gitops("waves", "--path", "bootstrap", "-o", "json", cwd=t.platform.path,  # the mirror from the environment
                   env={**t.env, "KUBECTL_GITOPS_REPO_MIRROR": f"https://other.example/x=/nowhere {t.mirror[1]}"})
    assert waves.returncode == 0, waves.stderr
    doc = json.loads(waves.stdout)
    assert [(a["app"], a["parent"]) for a in doc][1:] == [("teams", doc[0]["app"]), ("team-a", "teams"),
                                                           ("team-b", "teams")]
    assert [s["name"] for s in doc[1]["steps"]] == ["teams-shared"]
    assert "expanding 1 app object(s)" in waves.stderr
    dot = gitops("waves", "--path", "bootstrap", "--graph", "dot", *t.mirror, cwd=t.platform.path, env=t.env)
    assert dot.returncode == 0 and 'subgraph cluster_2 { label="team-a"' in dot.stdout, dot.stdout + dot.stderr
    assert '"teams.app" -> "team-a.app";' in dot.stdout
    # --apps=apply: the Applications are objects of the plan, nothing is expanded
    plain = gitops("waves", "--path", "bootstrap", "-o", "json", "--apps", "apply", cwd=t.platform.path, env=t.env)
    assert plain.returncode == 0, plain.stderr
    assert [(s["kind"], s["name"]) for s in json.loads(plain.stdout)] == [("Application", "teams")]


def test_destinations_map_to_contexts_and_ignore_differences_apply_per_app(tmp_path: Path, namespace: str) -> None:
    import os

    import yaml

    t = Nested(tmp_path, namespace)
    # a second context for the same cluster, standing for another cluster registered in Argo CD
    config = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())
    config["contexts"].append({"name": "edge", "context": {**config["contexts"][0]["context"]}})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    t.env["KUBECONFIG"] = str(kubeconfig)
    edge = application("edge-app", namespace=namespace, source={
        "repoURL": f"{GIT_BASE}/apps", "path": "team-a"}, extra={"ignoreDifferences": [
            {"kind": "ConfigMap", "name": "team-a", "jsonPointers": ["/data/value"]}]})
    edge = edge.replace("server: https://kubernetes.default.svc", "server: https://edge.example.test:6443")
    t.platform.write("bootstrap/teams.yaml", edge)
    t.platform.commit("an app on another cluster")
    unmapped = t.run("sync")
    assert unmapped.returncode == 3, unmapped.stderr
    assert "--cluster https://edge.example.test:6443=CONTEXT" in unmapped.stderr
    run = parse_run(t.run("sync", "-o", "json", "--cluster", "https://edge.example.test:6443=edge"))
    assert run.code == 0, run
    history = json.loads(gitops("history", "--app", "edge-app", "--record-namespace", namespace, "--context", "edge",
                                "-o", "json", cwd=t.platform.path, env=t.env).stdout)
    assert history["history"][-1]["context"] == "edge"
    # the Application's ignoreDifferences: a change of that field in the cluster is no difference
    kubectl("patch", "configmap", "team-a", "-n", namespace, "--type", "merge", "-p", '{"data":{"value":"z"}}')
    diff = t.run("diff", "--cluster", "https://edge.example.test:6443=edge")
    assert diff.returncode == 0, diff.stdout + diff.stderr
