"""Ignore rules apply to diff and to sync alike (argo-cd#7820): an ignored field is neither shown nor overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import gitops
from cluster_helpers import kubectl, kubectl_json
from source_helpers import GitRepo

pytestmark = pytest.mark.e2e
BIN = Path(__file__).resolve().parents[2] / "bin"




def deployment(ns: str, image: str) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {image}
"""


def test_ignored_replicas_are_not_diffed_and_not_overwritten_by_sync(tmp_path: Path, namespace: str) -> None:
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("app/web.yaml", deployment(namespace, "nginx:1.26"))
    repo.commit("web")
    rules = tmp_path / "ignore.yaml"
    rules.write_text("- group: apps\n  kind: Deployment\n  jsonPointers: [/spec/replicas]\n")
    first = gitops("sync", "app", "--adopt", cwd=repo.path)
    assert first.returncode == 0, first.stderr
    kubectl("scale", "deployment/web", "-n", namespace, "--replicas=3")  # an HPA or a human, outside Git

    shown = gitops("diff", "app", cwd=repo.path)
    assert shown.returncode == 1 and "replicas" in shown.stdout and "kubectl" in shown.stdout  # attributed drift
    quiet = gitops("diff", "app", "--ignore-differences", str(rules), cwd=repo.path)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr

    repo.write("app/web.yaml", deployment(namespace, "nginx:1.27"))
    repo.commit("new image")
    synced = gitops("sync", "app", "--ignore-differences", str(rules), cwd=repo.path)
    assert synced.returncode == 0, synced.stderr
    live = kubectl_json("get", "deployment", "web", "-n", namespace)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert live["spec"]["replicas"] == 3

    # --apply-ignored: an object that is out of sync for another reason is written whole, ignored fields too
    repo.write("app/web.yaml", deployment(namespace, "nginx:1.28"))
    repo.commit("newer image")
    forced = gitops("sync", "app", "--ignore-differences", str(rules), "--apply-ignored", "--force-conflicts",
                    cwd=repo.path)
    assert forced.returncode == 0, forced.stderr
    assert kubectl_json("get", "deployment", "web", "-n", namespace)["spec"]["replicas"] == 2
