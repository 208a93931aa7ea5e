"""hack/local-cluster finds its own processes by their command lines: a state dir must match as a whole path,
so `down` of one cluster never stops another whose state dir starts with the same text."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("local_cluster", str(ROOT / "hack" / "local-cluster"))
    spec = importlib.util.spec_from_loader("local_cluster", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.mark.parametrize("arg, ours", [
    ("--data-dir=/tmp/scale-cluster/etcd-data", True),
    ("--kubeconfig=/tmp/scale-cluster/kubeconfigs/kwok.kubeconfig", True),
    ("/tmp/scale-cluster", True),
    ("--data-dir=/tmp/scale-cluster2/etcd-data", False),  # another cluster: `down` stopped it before
    ("--kubeconfig=/tmp/scale-cluster-b/kubeconfig", False),
    ("--etcd-servers=http://127.0.0.1:2379", False),
])
def test_a_state_dir_matches_only_as_a_whole_path(arg: str, ours: bool) -> None:
    assert _script()._names_dir(arg, Path("/tmp/scale-cluster")) is ours
