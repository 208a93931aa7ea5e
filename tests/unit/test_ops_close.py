"""``run_sync`` and ``run_prune`` close their cluster connection however they end (success, dry run, error)."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import CountingConnection

from kubectl_gitops.errors import SourceError
from kubectl_gitops.ops import prune as ops_prune
from kubectl_gitops.ops import sync as ops_sync
from kubectl_gitops.settings import Settings


def _fail(*args: Any, **kwargs: Any) -> Any:
    raise SourceError("the repository cannot be read")


@pytest.mark.parametrize("dry_run", [False, True])
def test_run_sync_closes_the_connection_when_loading_fails(dry_run: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = CountingConnection()
    monkeypatch.setattr(ops_sync.Cluster, "connect", classmethod(lambda cls, opts, pool_size=16: conn))
    monkeypatch.setattr(ops_sync, "load", _fail)
    with pytest.raises(SourceError):
        ops_sync.run_sync(Settings(), ops_sync.SyncRequest(allow_dirty=True, dry_run=dry_run))
    assert conn.closed == 1


def test_run_prune_closes_the_connection_when_loading_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = CountingConnection()
    monkeypatch.setattr(ops_prune.Cluster, "connect", classmethod(lambda cls, opts, pool_size=16: conn))
    monkeypatch.setattr(ops_prune, "load_desired", _fail)
    with pytest.raises(SourceError):
        ops_prune.run_prune(Settings(), ops_prune.PruneRequest())
    assert conn.closed == 1
