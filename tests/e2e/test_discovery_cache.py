"""The discovery cache against the real API server: the second command makes no discovery requests, and a
CRD created after the cache was written is found (the cache refreshes once on a kind it does not know)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import pytest
from cli_helpers import gitops
from cluster_helpers import kubectl
from source_helpers import GitRepo, configmap

pytestmark = pytest.mark.e2e


def diff(repo: GitRepo, namespace: str, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return gitops("diff", "--app", "disco", "--record-namespace", namespace, "-v", *args, cwd=repo.path,
                  env={"KUBECTL_GITOPS_CACHE": str(cache)})


def requests(proc: subprocess.CompletedProcess[str]) -> int:
    found = re.search(r"(\d+) requests;", proc.stderr)
    assert found, proc.stderr
    return int(found.group(1))


def test_discovery_is_cached_per_server_and_refreshed_for_a_new_kind(tmp_path: Path, namespace: str) -> None:
    cache = tmp_path / "cache"
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("cm.yaml", configmap("c", namespace=namespace))
    repo.commit("cm")
    cold = diff(repo, namespace, cache)
    assert cold.returncode == 1 and "Traceback" not in cold.stderr, cold.stderr
    [written] = (cache / "discovery").iterdir()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE((cache / "discovery").stat().st_mode) == 0o700
    assert any(t[2] == "ConfigMap" for t in json.loads(written.read_text())["types"])
    warm = diff(repo, namespace, cache)
    assert warm.returncode == 1, warm.stderr
    assert requests(warm) == requests(cold) - 2  # /api and /apis came from the cache
    off = gitops("diff", "--app", "disco", "--record-namespace", namespace, "-v", cwd=repo.path,
                 env={"KUBECTL_GITOPS_CACHE": str(cache), "KUBECTL_GITOPS_DISCOVERY_TTL": "0"})
    assert requests(off) == requests(cold)

    # A CRD created since the cache was written: its kind is not in the cache, which is refreshed once.
    group = f"{namespace}.example.com"
    kubectl("apply", "-f", "-", input=(
        f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gizmos.{group}\n"
        f"spec:\n  group: {group}\n  scope: Namespaced\n"
        "  names: {plural: gizmos, singular: gizmo, kind: Gizmo, listKind: GizmoList}\n"
        "  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n"
        "        type: object\n        x-kubernetes-preserve-unknown-fields: true\n"))
    try:
        kubectl("wait", "--for=condition=Established", f"crd/gizmos.{group}", "--timeout=60s")
        repo.write("gizmo.yaml", f"apiVersion: {group}/v1\nkind: Gizmo\nmetadata:\n  name: g\n  namespace: "
                                 f"{namespace}\nspec:\n  size: 1\n")
        repo.commit("gizmo")
        found = diff(repo, namespace, cache, "-o", "json")
        assert found.returncode == 1, found.stderr
        kinds = {c["kind"]: c["op"] for c in json.loads(found.stdout)["changes"]}
        assert kinds == {"ConfigMap": "create", "Gizmo": "create"}
        assert any(t[2] == "Gizmo" for t in json.loads(written.read_text())["types"])  # the cache was rewritten
    finally:
        kubectl("delete", "crd", f"gizmos.{group}", "--wait=false", "--ignore-not-found")
