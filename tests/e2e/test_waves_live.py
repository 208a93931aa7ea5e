"""`waves --live`: the plan with what a sync would change, from the same dry runs as diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import gitops
from cluster_helpers import audit_mark, writes_since
from source_helpers import GitRepo

pytestmark = pytest.mark.e2e
BIN = Path(__file__).resolve().parents[2] / "bin"




def cm(ns: str, name: str, value: str, wave: int) -> str:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"  annotations:\n    argocd.argoproj.io/sync-wave: '{wave}'\ndata:\n  k: '{value}'\n")


def test_live_marks_each_step_with_its_change_and_writes_nothing(tmp_path: Path, namespace: str) -> None:
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("a.yaml", cm(namespace, "a", "1", 0))
    repo.write("b.yaml", cm(namespace, "b", "1", 1))
    repo.commit("two config maps")
    synced = gitops("sync", cwd=repo.path)
    assert synced.returncode == 0, synced.stderr
    repo.write("b.yaml", cm(namespace, "b", "2", 1))
    repo.write("c.yaml", cm(namespace, "c", "1", 2))

    mark = audit_mark()
    res = gitops("waves", "--live", "-o", "json", cwd=repo.path)
    assert res.returncode == 0, res.stderr
    changes = {s["name"]: s["change"] for s in json.loads(res.stdout)}
    assert changes == {"a": "unchanged", "b": "update", "c": "create"}
    assert [w for w in writes_since(mark) if not w.dry_run] == []

    table = gitops("waves", "--live", cwd=repo.path)
    assert table.returncode == 0, table.stderr
    assert "CHANGE" in table.stdout.splitlines()[0]
