"""One writer per app: a ``coordination.k8s.io/v1`` Lease held by every ``sync`` and ``prune`` while it writes.

The Lease is named like the app's record (``kubectl-gitops.<app>``) and lives in the record's namespace.

* **Acquire** (before the first write): create it (POST; 409 AlreadyExists: someone else did) or, when it is
  free (no ``holderIdentity``: released) or expired (``renewTime + leaseDurationSeconds`` is past: its holder
  died), take it with a PUT carrying the ``resourceVersion`` read (409: we lost the race, read again). A POST or
  PUT whose outcome is unknown (``AmbiguousWriteError``: the cluster layer never re-sends them) is settled by
  reading the Lease back: the holder identity carries a random run id, so "is it ours?" has one answer.
  Held by a live run: refuse (exit 6) naming the holder and since when, or with ``wait`` poll (with jitter)
  until it is free or the wait is over. Taking over an expired Lease is reported as a warning naming the
  previous holder.
* **Renew** from a background thread every ``duration / 3``. Without a successful renewal for
  ``2/3 × duration`` (the rest is the margin for clock skew with the next run), or when someone else holds it,
  the Lease is *lost*: ``check()`` raises ``LeaseLostError`` (exit 4), and ``Cluster.write_guard`` calls it
  before every write, so a run that lost its Lease issues no more writes of any kind.
* **Release** at the end (also after a failure): the holder identity is cleared with a PUT, as Kubernetes'
  leader election does on release, so the Lease object stays (RBAC needs get, create and update on
  ``leases`` — never delete). A release that fails is only a warning: the Lease expires by itself.

Expiry compares the Lease's ``renewTime`` (written by the holder's clock) with this machine's clock: the
clocks must agree to within about a third of the duration (NTP does much better).
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubectl_gitops.engine.lease_holder import (
    ANN_COMMAND,
    DEFAULT_DURATION,
    Holder,
    format_time,
    local_holder,
    parse_time,
)
from kubectl_gitops.errors import AmbiguousWriteError, ClusterError, OperationFailed, RefusedError
from kubectl_gitops.events import Event, EventSink, discard

LEASE_PREFIX = "kubectl-gitops."
LEASE_API = "coordination.k8s.io/v1"
ANN_APP = "gitops.kubectl.dev/app"
VERBS = "get, create and update"
MAX_ROUNDS = 50  # acquisition rounds without waiting (lost races): far more than two racing runs need


class LeaseLostError(OperationFailed):
    """The run no longer holds its app's Lease (not renewed in time, or taken over): it stops writing."""


@dataclass(frozen=True)
class LeaseOptions:
    duration: float = DEFAULT_DURATION  # leaseDurationSeconds (KUBECTL_GITOPS_LEASE_SECONDS)
    wait: float = 0.0  # --lock-timeout: how long to wait for a held Lease; 0 refuses at once
    poll: float = 2.0  # while waiting: read the Lease every poll/2..poll seconds
    holder: str = ""  # user@host or the pod name; default: local_holder()


def _rv(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else (obj.get("metadata") or {}).get("resourceVersion")


class Lease:
    """The Lease of one app, held by this run. ``acquire()``, then ``start_renewing()``; ``check()`` before
    writes; ``release()`` at the end. Also a context manager doing all of that."""

    def __init__(self, cluster: Any, app: str, namespace: str, *, command: str, options: LeaseOptions = LeaseOptions(),
                 on_event: EventSink = discard, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None):
        self.guarded = cluster  # its writes stop when the Lease is lost (hold)
        self.cluster = cluster.sibling() if hasattr(cluster, "sibling") else cluster  # the Lease's own requests
        self.app = app
        self.namespace = namespace
        self.name = LEASE_PREFIX + app
        self.command = command
        self.options = options
        self.on_event = on_event
        self.clock, self.monotonic, self.sleep = clock, monotonic, sleep
        self.rng = rng or random.Random()
        self.identity = f"{options.holder or local_holder()}/{os.getpid()}/{secrets.token_hex(6)}"
        self.duration = max(1, round(options.duration))
        self.waited = False  # it was held when we came
        self.stale = False  # someone held it since peek() (or we waited): what was read before may be stale
        self._seen: tuple[str | None] | None = None  # peek(): the resourceVersion then (None inside: no Lease)
        self._peeked: tuple[dict[str, Any] | None] | None = None  # peek(): the Lease then, until acquire uses it
        self.took_over: Holder | None = None  # the expired holder we replaced
        self._obj: dict[str, Any] | None = None  # the Lease as we last wrote it
        self._valid_until: float | None = None  # monotonic: writes stop after this without a renewal
        self._lost = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rt: Any = None

    # -- the state ----------------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        return self._obj is not None and not self._lost

    def check(self) -> None:
        """Raise ``LeaseLostError`` unless this run still holds the Lease (see the module docstring)."""
        lost = self._lost_reason()
        if lost:
            raise LeaseLostError(
                f"app {self.app}: this run lost its Lease {self.namespace}/{self.name} ({lost}); it stopped "
                "writing, so what it applied so far stays as it is",
                hint="check that no other sync or prune of the app is running (kubectl get lease -n "
                     f"{self.namespace} {self.name} -o yaml), then run again: the next run reads the cluster afresh")

    def _lost_reason(self) -> str:
        if not self._lost and self._valid_until is not None and self.monotonic() > self._valid_until:
            self._mark_lost(f"it was not renewed for {round(self.duration * 2 / 3)}s")
        return self._lost

    def _mark_lost(self, why: str) -> None:
        with self._lock:
            first = not self._lost
            if first:
                self._lost = why
        if first:
            self.on_event(Event("warning", f"lost the Lease of app {self.app}: {why}; no more writes",
                                {"lease": self.name}))

    # -- requests -----------------------------------------------------------------------------------
    def _type(self) -> Any:
        if self._rt is None:
            self._rt = self.cluster.discovery.lookup(LEASE_API, "Lease")
            if self._rt is None:
                raise ClusterError(f"the cluster does not serve {LEASE_API} Leases, which sync and prune use to "
                                   "keep one writer per app", hint="use a cluster running Kubernetes 1.14 or later")
        return self._rt

    def _forbidden(self, verb: str, err: ClusterError) -> ClusterError:
        return ClusterError(
            f"not allowed to {verb} the Lease {self.namespace}/{self.name} (leases.coordination.k8s.io) that keeps "
            f"one writer per app: {err.message}", status=err.status, reason=err.reason,
            hint=f"sync and prune need {VERBS} on leases.coordination.k8s.io in namespace {self.namespace} "
                 "(a Role bound to you; see docs/reliability.md)")

    def _get(self) -> dict[str, Any] | None:
        from kubectl_gitops.cluster.client import ApiError

        try:
            obj: dict[str, Any] | None = self.cluster.get(self._type(), self.namespace, self.name)
            return obj
        except ApiError as e:
            if e.status == 403:
                raise self._forbidden("read", e) from e
            raise

    def _write(self, method: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """POST or PUT ``body``; the object written, or None when someone else got in first (409) or the
        outcome was unknown and the read-back shows the write did not happen as ours."""
        from kubectl_gitops.cluster.client import ApiError

        rt = self._type()
        path = rt.path(self.namespace, None if method == "POST" else self.name)
        try:
            out: dict[str, Any] = self.cluster.request(method, path, body=body)
            return out
        except AmbiguousWriteError:
            live = self._get()
            mine = (live is not None and Holder.of(live).identity == self.identity
                    and parse_time((live.get("spec") or {}).get("renewTime"))
                    == parse_time((body.get("spec") or {}).get("renewTime")))
            return live if mine else None
        except ApiError as e:
            if e.status == 409:
                return None
            if e.status == 403:
                raise self._forbidden("create" if method == "POST" else "update", e) from e
            if e.status == 404 and method == "POST" and "namespace" in e.message.lower():
                raise RefusedError(
                    f"cannot lock app {self.app}: namespace {self.namespace} does not exist",
                    hint="create it, or choose an existing one with --record-namespace (default: the context's "
                         "namespace)") from e
            raise

    def _body(self, live: dict[str, Any] | None, now: float, *, acquire: bool) -> dict[str, Any]:
        spec = dict((live or {}).get("spec") or {})
        meta = dict((live or {}).get("metadata") or {})
        meta.pop("managedFields", None)
        meta.update(name=self.name, namespace=self.namespace)
        meta["labels"] = {**(meta.get("labels") or {}), "app.kubernetes.io/managed-by": "kubectl-gitops"}
        meta["annotations"] = {**(meta.get("annotations") or {}), ANN_APP: self.app, ANN_COMMAND: self.command}
        if acquire:
            if live is not None and spec.get("holderIdentity") and spec.get("holderIdentity") != self.identity:
                spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            spec.update(holderIdentity=self.identity, leaseDurationSeconds=self.duration,
                        acquireTime=format_time(now))
        spec["renewTime"] = format_time(now)
        return {"apiVersion": LEASE_API, "kind": "Lease", "metadata": meta, "spec": spec}

    # -- acquire ------------------------------------------------------------------------------------
    def peek(self) -> Lease:
        """Note the Lease's resourceVersion before reading the cluster: if it is not the same when ``acquire``
        reads it, another run held the Lease meanwhile (and may have written), so ``stale`` is set and the
        caller reads again. Every writer holds the Lease, so an unchanged Lease means unchanged objects."""
        live = self._get()
        self._seen = (_rv(live),)
        self._peeked = (live,)  # acquire's first round writes against it: a change since makes that write 409
        return self

    def acquire(self) -> None:
        give_up = self.monotonic() + max(0.0, self.options.wait)
        rounds = 0  # races lost; waiting for a live holder (--lock-timeout) does not count
        while True:
            if rounds >= MAX_ROUNDS:
                raise ClusterError(f"could not take the Lease {self.namespace}/{self.name} of app {self.app}: "
                                   f"lost the race {MAX_ROUNDS} times", hint="run again")
            started = self.monotonic()
            now = self.clock()
            # the peeked Lease saves a round trip: the write carries its resourceVersion, so if anyone wrote the
            # Lease since, the API server answers 409 and the next round reads it (and finds it stale)
            live = self._peeked[0] if self._peeked is not None else self._get()
            self._peeked = None
            if self._seen is not None and _rv(live) != self._seen[0]:
                self.stale = True
            holder = Holder.of(live) if live is not None else None
            if holder is not None and not holder.free and holder.identity != self.identity \
                    and not holder.expired(now):
                if self.monotonic() >= give_up:
                    self._refuse(holder, now)
                if not self.waited:
                    self.on_event(Event("lease.wait", f"app {self.app} is locked by {holder.describe(now)}: "
                                                      "waiting (--lock-timeout)", {"holder": holder.identity}))
                self.waited = self.stale = True
                pause = self.options.poll * (0.5 + self.rng.random() / 2)
                self.sleep(max(0.0, min(pause, give_up - self.monotonic())))
                continue
            if holder is not None and holder.identity == self.identity:
                written: dict[str, Any] | None = live  # an earlier ambiguous write of ours did happen
            elif live is None:
                written = self._write("POST", self._body(None, now, acquire=True))
            else:
                written = self._write("PUT", self._body(live, now, acquire=True))
            if written is None:
                rounds += 1
                continue  # lost a race (or an unknown outcome that was not ours): read again
            self._acquired(written, started)
            if holder is not None and not holder.free and holder.identity != self.identity:
                self.took_over = holder
                self.on_event(Event("warning", f"took over the Lease of app {self.app} from {holder.describe(now)}: "
                                               f"it expired (not renewed for {holder.duration:.0f}s), that run "
                                               "probably died", {"lease": self.name, "previous": holder.identity}))
            return

    def _acquired(self, obj: dict[str, Any], started: float) -> None:
        with self._lock:
            self._obj = obj
            self._valid_until = started + self.duration * 2 / 3
        self.on_event(Event("lease", f"holding the Lease {self.namespace}/{self.name}",
                            {"lease": self.name, "namespace": self.namespace, "holder": self.identity}))

    def _refuse(self, holder: Holder, now: float) -> None:
        waited = f" after waiting {self.options.wait:.0f}s" if self.options.wait else ""
        raise RefusedError(
            f"app {self.app} is being synced or pruned by {holder.describe(now)}{waited}; nothing was changed",
            details=[f"Lease {self.namespace}/{self.name}: holder {holder.identity}"],
            hint="wait for it to finish, or pass --lock-timeout 5m to wait for it; if that run died, its Lease "
                 f"expires {holder.duration:.0f}s after its last renewal and the next run takes over")

    # -- renew --------------------------------------------------------------------------------------
    def renew(self) -> bool:
        """One renewal (PUT with the resourceVersion we wrote). True: renewed. False: not this time (try again
        soon). Someone else holding it marks the Lease lost."""

        if self._obj is None or self._lost_reason():
            return False
        started = self.monotonic()
        try:
            written = self._write("PUT", self._body(self._obj, self.clock(), acquire=False))
            if written is None:  # 409, or an unknown outcome: see whose it is now
                live = self._get()
                if live is None or Holder.of(live).identity != self.identity:
                    who = "nobody" if live is None else Holder.of(live).describe(self.clock())
                    self._mark_lost(f"it is now held by {who}")
                    return False
                with self._lock:
                    self._obj = live  # ours, with a newer resourceVersion: renew from it next time
                return False
        except (ClusterError, LeaseLostError) as e:
            self.on_event(Event("lease.retry", f"renewing the Lease failed: {e}", {"lease": self.name}))
            return False
        with self._lock:
            self._obj = written
            self._valid_until = started + self.duration * 2 / 3
        return True

    def start_renewing(self) -> None:
        def loop() -> None:
            interval = self.duration / 3
            pause = interval
            while not self._stop.wait(pause):
                if self._lost:
                    return
                pause = interval if self.renew() else min(1.0, interval)

        self._thread = threading.Thread(target=loop, name=f"lease-{self.app}", daemon=True)
        self._thread.start()

    # -- release ------------------------------------------------------------------------------------
    def release(self) -> None:
        """Stop renewing and clear the holder (only while it is still ours). Never raises."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if getattr(self.guarded, "write_guard", None) == self.check:
            self.guarded.write_guard = None
        obj = self._obj
        if obj is None or self._lost:
            return
        if self._thread is not None and self._thread.is_alive():  # a renewal still in flight: do not race it
            self.on_event(Event("warning", f"the Lease {self.namespace}/{self.name} was not released: a renewal was "
                                           f"still in flight; it expires {self.duration}s after its last renewal",
                                {"lease": self.name}))
            return
        body = self._body(obj, self.clock(), acquire=False)
        body["spec"].pop("holderIdentity", None)
        body["metadata"]["annotations"].pop(ANN_COMMAND, None)
        try:
            self.check()
            if self._write("PUT", body) is None:
                live = self._get()  # a 409 or an unknown outcome: fine unless it still names us
                if live is not None and Holder.of(live).identity == self.identity:
                    raise ClusterError("the Lease changed since it was written")
        except Exception as e:  # the Lease expires by itself; the run's outcome stands
            self.on_event(Event("warning", f"could not release the Lease {self.namespace}/{self.name} ({e}); it "
                                           f"expires {self.duration}s after its last renewal", {"lease": self.name}))
        finally:
            with self._lock:
                self._obj = None

    def hold(self) -> Lease:
        """Acquire, start renewing, and guard every write of the cluster connection with ``check``."""
        self.acquire()
        self.start_renewing()
        self.guarded.write_guard = self.check
        return self

    def __enter__(self) -> Lease:
        return self.hold()

    def __exit__(self, *exc: object) -> None:
        self.release()


__all__ = ["LEASE_PREFIX", "Lease", "LeaseLostError", "LeaseOptions"]
