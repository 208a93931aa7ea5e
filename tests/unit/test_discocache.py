"""The discovery cache on disk (cluster.discocache): a second command makes no discovery requests, a kind not
found or a type gone from the server refreshes it once, and what it writes is private."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from fakes import WIDGET, FakeApiServer, fake_cluster

from kubectl_gitops.cluster.apierror import ApiError
from kubectl_gitops.cluster.discocache import DiscoveryCache, cache_name
from kubectl_gitops.cluster.discovery import ResourceType
from kubectl_gitops.settings import environment

GADGET = ResourceType("example.com", "v1", "Gadget", "gadgets", True, frozenset({"get", "list", "patch"}))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def discovery_requests(server: FakeApiServer) -> list[str]:
    """Wrap the fake's transport to record the discovery requests it answers."""
    seen: list[str] = []
    send = server.send

    def counting(method: str, path: str, **kw: Any) -> Any:
        if path in ("/api", "/apis"):
            seen.append(path)
        return send(method, path, **kw)

    server.send = counting  # type: ignore[method-assign]
    return seen


def cached_cluster(server: FakeApiServer, cache: DiscoveryCache) -> Any:
    cluster, _ = fake_cluster(server)
    cluster.discovery_cache = cache
    return cluster


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(tmp_path: Path, clock: Clock) -> DiscoveryCache:
    return DiscoveryCache(tmp_path / "cache" / "discovery" / "fake.json", ttl=600, clock=clock)


def test_a_second_command_reads_discovery_from_the_cache(cache: DiscoveryCache) -> None:
    server = FakeApiServer()
    seen = discovery_requests(server)
    first = cached_cluster(server, cache).discovery
    assert seen == ["/api", "/apis"]
    second = cached_cluster(server, cache).discovery
    assert seen == ["/api", "/apis"]  # nothing more: the cache answered
    assert second.types == first.types and second.preferred == first.preferred
    assert second.lookup("example.com/v1", "Widget") == WIDGET
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.path.parent.stat().st_mode) == 0o700


def test_an_old_cache_is_fetched_again(cache: DiscoveryCache, clock: Clock) -> None:
    server = FakeApiServer()
    seen = discovery_requests(server)
    cached_cluster(server, cache).discovery  # noqa: B018
    clock.now += 599
    cached_cluster(server, cache).discovery  # noqa: B018
    assert len(seen) == 2
    clock.now += 2
    cached_cluster(server, cache).discovery  # noqa: B018
    assert len(seen) == 4


@pytest.mark.parametrize("content", ["", "{not json", json.dumps({"format": 99, "written": 1e6, "types": []}),
                                     json.dumps({"format": 1, "written": 1e6, "types": [["only", "three", 3]]}),
                                     json.dumps([1, 2])])
def test_an_unreadable_cache_is_ignored_and_replaced(cache: DiscoveryCache, content: str) -> None:
    cache.path.parent.mkdir(parents=True)
    cache.path.write_text(content)
    server = FakeApiServer()
    seen = discovery_requests(server)
    d = cached_cluster(server, cache).discovery
    assert len(seen) == 2 and d.lookup("v1", "ConfigMap") is not None
    assert cache.load() is not None  # rewritten


def test_a_kind_not_in_the_cache_refreshes_it_once(cache: DiscoveryCache) -> None:
    server = FakeApiServer()
    seen = discovery_requests(server)
    cached_cluster(server, cache).discovery  # noqa: B018
    server.serve(GADGET)  # a CRD created since
    d = cached_cluster(server, cache).discovery
    assert len(seen) == 2
    assert d.lookup("example.com/v1", "Gadget") == GADGET
    assert len(seen) == 4
    assert d.scope("example.com/v1", "Nothing") is None and d.for_group_kind("example.com", "Nothing") is None
    assert len(seen) == 4  # once per run
    assert cache.load().lookup("example.com/v1", "Gadget") == GADGET  # type: ignore[union-attr]


def test_a_kind_not_served_costs_what_it_did_without_a_cache(cache: DiscoveryCache) -> None:
    server = FakeApiServer()
    seen = discovery_requests(server)
    d = cached_cluster(server, cache).discovery  # fetched: nothing to refresh from
    assert d.lookup("example.com/v1", "Nothing") is None
    assert len(seen) == 2


def test_a_type_gone_from_the_server_refreshes_the_cache_and_is_not_found(cache: DiscoveryCache) -> None:
    server = FakeApiServer()
    seen = discovery_requests(server)
    cached_cluster(server, cache).discovery  # noqa: B018
    server.unserve("example.com", "Widget")  # its CRD was deleted
    cluster = cached_cluster(server, cache)
    rt = cluster.discovery.lookup("example.com/v1", "Widget")
    assert rt == WIDGET and len(seen) == 2  # the cache still names it
    with pytest.raises(ApiError) as err:
        list(cluster.list(rt, "default"))
    assert err.value.status == 404 and err.value.unknown_type
    assert len(seen) == 4  # refreshed once, then the request was sent again and failed the same way
    assert cluster.discovery.lookup("example.com/v1", "Widget") is None
    assert cache.load().lookup("example.com/v1", "Widget") is None  # type: ignore[union-attr]


def test_a_stale_404_is_sent_again_after_the_refresh(cache: DiscoveryCache) -> None:
    """The type came back (a CRD re-created) between the cached discovery and the request: the request is sent
    again after the refresh and succeeds."""
    server = FakeApiServer()
    seen = discovery_requests(server)
    cached_cluster(server, cache).discovery  # noqa: B018
    server.fail("LIST", "Widget", status=404, message="the server could not find the requested resource",
                reason="NotFound")
    cluster = cached_cluster(server, cache)
    assert list(cluster.list(cluster.discovery.lookup("example.com/v1", "Widget"), "default")) == []
    assert len(seen) == 4


def test_an_objects_404_does_not_refresh(cache: DiscoveryCache) -> None:
    server = FakeApiServer()
    seen = discovery_requests(server)
    cached_cluster(server, cache).discovery  # noqa: B018
    cluster = cached_cluster(server, cache)
    assert cluster.get(cluster.discovery.lookup("v1", "ConfigMap"), "default", "missing") is None
    assert len(seen) == 2


def test_without_a_cache_nothing_is_written(tmp_path: Path) -> None:
    server = FakeApiServer()
    seen = discovery_requests(server)
    cluster, _ = fake_cluster(server)
    cluster.discovery  # noqa: B018
    cluster2, _ = fake_cluster(server)
    cluster2.discovery  # noqa: B018
    assert len(seen) == 4


def test_the_cache_is_keyed_by_server_and_ca(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a = cache_name("https://127.0.0.1:6443", b"CA one")
    assert a.startswith("127.0.0.1_6443-") and a.endswith(".json")
    assert a != cache_name("https://127.0.0.1:6443", b"CA two")  # a cluster re-created at the same address
    assert a != cache_name("https://127.0.0.1:6443/k8s/clusters/c-1", b"CA one")
    assert "/" not in cache_name("https://rancher.example.com/k8s/clusters/c-1", None)
    monkeypatch.setenv("KUBECTL_GITOPS_CACHE", str(tmp_path))
    monkeypatch.setenv("KUBECTL_GITOPS_DISCOVERY_TTL", "60")
    got = DiscoveryCache.for_server("https://127.0.0.1:6443", b"CA one")
    assert got is not None and got.path == tmp_path / "discovery" / a and got.ttl == 60
    monkeypatch.setenv("KUBECTL_GITOPS_DISCOVERY_TTL", "0")
    assert environment().discovery_ttl == 0
    assert DiscoveryCache.for_server("https://127.0.0.1:6443", b"CA one") is None


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path: Path, clock: Clock) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = DiscoveryCache(blocker / "discovery" / "x.json", ttl=600, clock=clock)
    server = FakeApiServer()
    assert cached_cluster(server, cache).discovery.lookup("v1", "ConfigMap") is not None
    assert cache.load() is None
