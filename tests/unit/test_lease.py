"""The Lease state machine (kubectl_gitops/engine/lease.py) against the fake API server (tests/fakes.py), with
optimistic concurrency: free, held, expired + takeover, a lost race, an ambiguous create that was ours, renewal
failure -> lost, release. Clocks are injected; nothing here waits."""

from __future__ import annotations

import random
from typing import Any

import pytest
from fakes import FakeApiServer, fake_cluster

from kubectl_gitops.cluster.client import Cluster, ResourceType
from kubectl_gitops.engine.lease import Lease, LeaseLostError, LeaseOptions
from kubectl_gitops.engine.lease_holder import Holder, format_time, parse_time
from kubectl_gitops.errors import AmbiguousWriteError, ClusterError, ExitCode, RefusedError
from kubectl_gitops.events import Event

LEASE_RT = ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True, frozenset())
NS, APP = "team", "web"
PATH = LEASE_RT.path(NS, "kubectl-gitops.web")


class Clock:
    def __init__(self, t: float = 1_700_000_000.0):
        self.t = t
        self.mono = 100.0

    def __call__(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.mono

    def advance(self, s: float) -> None:
        self.t += s
        self.mono += s


def leases() -> tuple[Cluster, FakeApiServer]:
    """The shared fake API server (tests/fakes.py): Leases with resourceVersions and 409s like the real one."""
    return fake_cluster(namespace=NS)


def holder(server: FakeApiServer) -> str:
    return str((lease_obj(server).get("spec") or {}).get("holderIdentity") or "")


def lease_obj(server: FakeApiServer) -> dict[str, Any]:
    obj = server.obj("Lease", "kubectl-gitops.web", NS)
    assert obj is not None
    return obj


def make(cluster: Cluster, clock: Clock, *, wait: float = 0.0, holder: str = "ana@laptop",
         events: list[Event] | None = None, duration: float = 30.0) -> Lease:
    sink = events.append if events is not None else (lambda e: None)
    return Lease(cluster, APP, NS, command="sync 1a2b3c4d5e6f",
                 options=LeaseOptions(duration=duration, wait=wait, poll=2.0, holder=holder), on_event=sink,
                 clock=clock, monotonic=clock.monotonic, sleep=clock.advance, rng=random.Random(1))


def test_free_lease_is_created_and_released() -> None:
    (c, srv), clock = leases(), Clock()
    lease = make(c, clock)
    lease.acquire()
    assert srv.written() == ["POST"] and holder(srv) == lease.identity
    spec = lease_obj(srv)["spec"]
    assert spec["leaseDurationSeconds"] == 30 and parse_time(spec["acquireTime"]) == pytest.approx(clock.t)
    assert lease.identity.startswith("ana@laptop/") and not lease.waited
    lease.check()
    lease.release()
    assert srv.written() == ["POST", "PUT"] and holder(srv) == ""
    # released: the next run takes it with an update, no create
    other = make(c, clock, holder="bo@ci")
    other.acquire()
    assert srv.written()[-1] == "PUT" and holder(srv) == other.identity
    assert lease_obj(srv)["spec"].get("leaseTransitions", 0) == 0  # it was free, not taken over


def test_held_lease_refuses_naming_holder_and_since_when() -> None:
    (c, srv), clock = leases(), Clock()
    first = make(c, clock)
    first.acquire()
    clock.advance(5)
    second = make(c, clock, holder="bo@ci")
    with pytest.raises(RefusedError) as e:
        second.acquire()
    assert e.value.exit_code == ExitCode.REFUSED
    msg = str(e.value)
    assert "ana@laptop" in msg and "sync 1a2b3c4d5e6f" in msg and "since " in msg and "renewed 5s ago" in msg
    assert "--lock-timeout" in (e.value.hint or "")
    assert holder(srv) == first.identity and srv.written() == ["POST"]


def test_expired_lease_is_taken_over_with_a_warning() -> None:
    (c, srv), clock = leases(), Clock()
    dead = make(c, clock)
    dead.acquire()  # then the process dies: no renewals
    clock.advance(31)
    events: list[Event] = []
    heir = make(c, clock, holder="bo@ci", events=events)
    heir.acquire()
    assert holder(srv) == heir.identity and heir.took_over is not None
    assert heir.took_over.identity == dead.identity
    warnings = [e.message for e in events if e.type == "warning"]
    assert len(warnings) == 1 and "took over" in warnings[0] and "ana@laptop" in warnings[0]
    assert lease_obj(srv)["spec"]["leaseTransitions"] == 1
    # the dead run, were it to come back, finds it lost at its next renewal
    assert dead.renew() is False
    with pytest.raises(LeaseLostError):
        dead.check()


def test_lost_race_on_create_reads_again_and_refuses() -> None:
    (c, srv), clock = leases(), Clock()
    rival = make(c, clock, holder="bo@ci")
    me = make(c, clock)
    srv.fail("POST", "Lease", before=rival.acquire)  # the rival creates it between our GET and our POST
    with pytest.raises(RefusedError, match="bo@ci"):
        me.acquire()
    assert holder(srv) == rival.identity


def test_lost_race_on_update_reads_again_and_refuses() -> None:
    (c, srv), clock = leases(), Clock()
    old = make(c, clock, holder="old@host")
    old.acquire()
    clock.advance(40)  # expired: both runs try to take it over
    rival = make(c, clock, holder="bo@ci")
    me = make(c, clock)
    srv.fail("PUT", "Lease", before=rival.acquire)
    with pytest.raises(RefusedError, match="bo@ci"):
        me.acquire()
    assert holder(srv) == rival.identity


def test_ambiguous_create_that_was_ours_is_held() -> None:
    (c, srv), clock = leases(), Clock()
    me = make(c, clock)

    srv.fail("POST", "Lease", reset="after")  # the server created it, the answer was lost
    me.acquire()
    assert me.held and holder(srv) == me.identity and srv.written() == ["POST"]


def test_ambiguous_create_that_did_not_happen_is_sent_again() -> None:
    (c, srv), clock = leases(), Clock()
    me = make(c, clock)

    srv.fail("POST", "Lease", error=AmbiguousWriteError("POST ...: timed out", method="POST", path=PATH))
    # never reached the server
    me.acquire()
    assert me.held and srv.written() == ["POST"]


def test_wait_polls_until_released_then_acquires() -> None:
    (c, srv), clock = leases(), Clock()
    first = make(c, clock)
    first.acquire()
    polls = []

    def sleep(s: float) -> None:
        polls.append(s)
        clock.advance(s)
        if len(polls) == 3:
            first.release()

    events: list[Event] = []
    second = make(c, clock, holder="bo@ci", wait=120, events=events)
    second.sleep = sleep
    second.acquire()
    assert second.waited and holder(srv) == second.identity and len(polls) == 3
    assert all(1.0 <= p <= 2.0 for p in polls)  # poll=2: jittered between half and all of it
    assert [e.type for e in events].count("lease.wait") == 1


def test_wait_gives_up_at_the_lock_timeout() -> None:
    (c, _srv), clock = leases(), Clock()
    first = make(c, clock)
    first.acquire()

    def sleep(s: float) -> None:
        clock.advance(s)
        first.renew()  # the holder is alive

    second = make(c, clock, holder="bo@ci", wait=10)
    second.sleep = sleep
    with pytest.raises(RefusedError, match="after waiting 10s"):
        second.acquire()
    assert clock.mono == pytest.approx(110.0)


def test_renewal_keeps_it_and_failed_renewals_lose_it() -> None:
    (c, srv), clock = leases(), Clock()
    events: list[Event] = []
    me = make(c, clock, events=events)
    me.acquire()
    c.write_guard = me.check
    clock.advance(10)
    assert me.renew() is True
    assert parse_time(lease_obj(srv)["spec"]["renewTime"]) == pytest.approx(clock.t)
    clock.advance(10)

    srv.fail("PUT", "Lease", error=ClusterError("cannot reach the API server", status=None))
    assert me.renew() is False
    me.check()  # 10 s since the last renewal: still within 2/3 of 30 s
    clock.advance(11)
    with pytest.raises(LeaseLostError) as e:
        me.check()
    assert e.value.exit_code == ExitCode.OPERATION_FAILED and "not renewed" in str(e.value)
    with pytest.raises(LeaseLostError):
        c.request("PATCH", "/api/v1/configmaps/x", body={"metadata": {"name": "x"}})  # the write guard
    assert next(e.message for e in events if e.type == "warning").startswith("lost the Lease")
    me.release()  # not ours any more: no write
    assert srv.written() == ["POST", "PUT"]


def test_renewal_conflict_with_ourselves_recovers_but_a_takeover_is_lost() -> None:
    (c, srv), clock = leases(), Clock()
    me = make(c, clock)
    me.acquire()
    # someone edited the Lease (kubectl annotate): still ours, a newer resourceVersion
    srv.edit("Lease", "kubectl-gitops.web", NS)
    assert me.renew() is False and me.held
    assert me.renew() is True
    # taken by force (kubectl edit): lost at once
    srv.edit("Lease", "kubectl-gitops.web", NS, lambda o: o["spec"].update(holderIdentity="eve@x/1/ff"))
    assert me.renew() is False and not me.held
    with pytest.raises(LeaseLostError, match="eve@x"):
        me.check()


def test_ambiguous_renewal_that_happened_counts() -> None:
    (c, srv), clock = leases(), Clock()
    me = make(c, clock)
    me.acquire()
    clock.advance(10)

    srv.fail("PUT", "Lease", reset="after")
    assert me.renew() is True
    clock.advance(15)  # 25 s after acquiring, 15 s after the ambiguous renewal
    me.check()


def test_forbidden_names_the_verbs() -> None:
    (c, srv), clock = leases(), Clock()

    srv.fail("GET", "Lease", status=403, reason="Forbidden", times=None,
             message='leases.coordination.k8s.io "kubectl-gitops.web" is forbidden: User "ci" cannot get '
                     'resource "leases"')
    with pytest.raises(ClusterError) as e:
        make(c, clock).acquire()
    assert e.value.exit_code == ExitCode.CLUSTER_ERROR and "get, create and update" in (e.value.hint or "")
    assert "namespace team" in (e.value.hint or "")


def test_holder_describe_and_times() -> None:
    t = 1_700_000_000.25
    assert parse_time(format_time(t)) == pytest.approx(t)
    h = Holder.of({"metadata": {"annotations": {"gitops.kubectl.dev/lease-command": "prune 1a2b"}},
                   "spec": {"holderIdentity": "ana@laptop/4242/abcdef", "acquireTime": format_time(t),
                            "renewTime": format_time(t + 5), "leaseDurationSeconds": 30}})
    assert h.describe(t + 7) == "ana@laptop (pid 4242, prune 1a2b) since 2023-11-14T22:13:20Z, renewed 2s ago"
    assert not h.expired(t + 34) and h.expired(t + 36)
    assert Holder.of({"spec": {}}).free


def test_peek_then_a_run_that_came_and_went_makes_it_stale() -> None:
    (c, srv), clock = leases(), Clock()
    quiet = make(c, clock).peek()  # nobody touched it between peek and acquire
    quiet.acquire()
    assert not quiet.stale and not quiet.waited
    quiet.release()
    me = make(c, clock, holder="bo@ci").peek()
    other = make(c, clock, holder="eve@ci")
    other.acquire()  # held and released while "me" was reading the cluster
    other.release()
    me.acquire()
    assert me.stale and not me.waited and holder(srv) == me.identity


def test_acquire_after_peek_writes_against_the_peeked_lease_without_reading_it_again() -> None:
    (c, srv), clock = leases(), Clock()
    first = make(c, clock)
    first.acquire()
    first.release()  # the Lease exists, free
    srv.log.clear()
    me = make(c, clock, holder="bo@ci").peek()
    me.acquire()
    assert [m for m, *_ in srv.log] == ["GET", "PUT"] and not me.stale  # one read for peek and acquire
    me.release()
    # a writer between peek and acquire: the write from the peeked version is refused (409), read again: stale
    srv.log.clear()
    late = make(c, clock, holder="cy@ci").peek()
    other = make(c, clock, holder="eve@ci")
    other.acquire()
    other.release()
    srv.log.clear()
    late.acquire()
    assert [m for m, *_ in srv.log] == ["PUT", "GET", "PUT"] and late.stale and holder(srv) == late.identity
