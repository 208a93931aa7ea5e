"""A sync into a namespace that is being deleted is refused before any write, naming it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cli_helpers import gitops
from cluster_helpers import audit_mark, kubectl, wait_for, writes_since
from source_helpers import GitRepo

pytestmark = pytest.mark.e2e
BIN = Path(__file__).resolve().parents[2] / "bin"




def test_sync_into_a_terminating_namespace_is_refused_before_any_write(tmp_path: Path, cluster: object) -> None:
    ns = f"terminating-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", ns)
    # a finalizer nobody removes keeps the namespace Terminating
    kubectl("create", "configmap", "held", "-n", ns)
    kubectl("patch", "configmap", "held", "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":["test/hold"]}}')
    kubectl("delete", "namespace", ns, "--wait=false")
    wait_for("the namespace to be Terminating", lambda: "Terminating" in kubectl(
        "get", "namespace", ns, "-o", "jsonpath={.status.phase}").stdout)
    try:
        repo = GitRepo.create(tmp_path / "repo")
        repo.write("ns.yaml", f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
        repo.commit()
        mark = audit_mark()
        res = gitops("sync", "--adopt", "--record-namespace", "default", cwd=repo.path)
        assert res.returncode == 6, res.stdout + res.stderr
        assert f"Namespace {ns}" in res.stderr and "being deleted" in res.stderr
        assert [w for w in writes_since(mark) if not w.dry_run and w.namespace in (ns, "")] == []
        diff = gitops("diff", "--record-namespace", "default", cwd=repo.path)
        assert "being deleted" in diff.stdout + diff.stderr
    finally:
        kubectl("patch", "configmap", "held", "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                check=False)
