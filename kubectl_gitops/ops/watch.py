"""``Watcher``: ``sync --watch``, the pull-mode loop — poll the source, sync when the commit moves, check drift.

A driver around ``run_sync``, never a second engine: every sync it runs is exactly a push ``sync --ref <commit>``
(validate and dry-run all, waves, hooks, prune, record, status, Events), run under the app's Lease, which this
loop holds for as long as it leads the app.

One iteration (``iterate``), every ``--interval`` (jittered ±10 %):

1. **Lead.** Hold the app's Lease (``kubectl-gitops.<app>``, command ``watch``), renewed in the background. Held
   by another live process (a second replica, a push sync): stand by, read nothing else, try again next interval;
   that holder's death is noticed when its Lease expires (duration, 30 s by default), so a standby takes over
   within duration + interval. A push ``sync`` of the app meanwhile is refused (exit 6) or waits
   (``--lock-timeout``), as with any other holder.
2. **Poll** the source: ``git ls-remote`` for a URL, ``git rev-parse`` for a local repository (``source/poll.py``).
   Failures count as poll errors and back off.
3. **Act**, only when needed (then the record is read: one GET): the app suspended (``kubectl gitops suspend``)
   → nothing. A commit other than the last synced one → sync it (``trigger=watch``). The same commit failed before
   → retried only after its back-off (``interval × 2^(failures-1)``, capped by ``--max-backoff``, jittered) or as
   soon as the commit moves; a bad commit (invalid, refused, failing dry run) changes no object, and its failure
   is written to the status with an Event. Otherwise, every ``--drift-interval``: a drift check — ``sync
   --dry-run``, the cheap path ``diff`` uses (LISTs, and server dry runs only of objects that may differ; fields
   another field manager took count as drift, not as a conflict); drift is healed by a sync
   (``trigger=self-heal``) with ``--self-heal``, else written to the status (OutOfSync, the objects) with a
   ``DriftDetected`` Event, once per change.

Idle, a leading loop costs one ``ls-remote``/``rev-parse`` per interval, a Lease renewal every duration/3, and
a drift check per drift interval. Measured in ``bench/watch.md``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine import interrupt
from kubectl_gitops.engine.app_events import post_event
from kubectl_gitops.engine.app_status import AppStatus, Drift
from kubectl_gitops.engine.inventory import AppRef, Record, read_record, update_record, utc_now
from kubectl_gitops.engine.lease import Lease, LeaseLostError
from kubectl_gitops.engine.metrics import Metrics
from kubectl_gitops.engine.plan import Plan
from kubectl_gitops.engine.policy_check import WaitingForConfirmation
from kubectl_gitops.errors import GitopsError, RefusedError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.ops.app import resolve_app
from kubectl_gitops.ops.sync import SyncRequest, SyncResult, run_sync
from kubectl_gitops.settings import Settings
from kubectl_gitops.source.poll import current_commit
from kubectl_gitops.source.repo import open_source


@dataclass(frozen=True)
class WatchOptions:
    interval: float = 60.0  # --interval: between polls
    drift_interval: float = 300.0  # --drift-interval: between drift checks; 0: none
    self_heal: bool = False  # --self-heal: sync when drift is found (else it is only reported)
    once: bool = False  # --once: one iteration, then exit
    max_backoff: float = 600.0  # --max-backoff: the cap of the back-off after failures
    jitter: float = 0.1  # ± this fraction of every pause


def backoff(failures: int, base: float, cap: float, rng: random.Random) -> float:
    """The pause after ``failures`` failures in a row: base × 2^(failures-1), capped, plus up to 10 % jitter."""
    if failures <= 0:
        return base
    return min(cap, base * 2 ** min(failures - 1, 30)) * (1 + 0.1 * rng.random())


def jittered(seconds: float, fraction: float, rng: random.Random) -> float:
    return max(0.0, seconds * (1 + fraction * (2 * rng.random() - 1)))


@dataclass
class WatchState:
    """What the loop knows between iterations (and what /healthz, /readyz and the status page show)."""

    app: AppRef | None = None
    leading: bool = False
    commit: str | None = None  # the last commit the source showed
    synced: str | None = None  # the last commit synced successfully (read from the record when leading starts)
    failed_commit: str | None = None
    failures: int = 0
    retry_at: float = 0.0  # monotonic
    poll_failures: int = 0
    next_drift: float = 0.0  # monotonic
    ready: bool = False  # a poll succeeded (or this process stands by, ready to take over)
    last_loop: float = field(default_factory=time.monotonic)
    suspended: bool = False
    syncs: int = 0  # syncs run by this process
    last_error: str = ""
    standby_holder: str = ""
    record: Record | None = None  # as last read or written
    plan: Plan | None = None  # of the last sync or drift check (the status page draws its waves)
    plan_commit: str | None = None


class Watcher:
    def __init__(self, settings: Settings, req: SyncRequest, opts: WatchOptions, *, on_event: EventSink = discard,
                 metrics: Metrics | None = None, rng: random.Random | None = None,
                 monotonic: Callable[[], float] = time.monotonic, cluster: Cluster | None = None):
        self.settings = settings
        self.req = req
        self.opts = opts
        self.on_event = on_event
        self.metrics = metrics or Metrics()
        self.rng = rng or random.Random()
        self.monotonic = monotonic
        self.state = WatchState()
        self.cluster: Cluster | None = cluster  # shared by a WatchGroup (then not closed here)
        self._own_cluster = cluster is None
        self.lease: Lease | None = None

    # -- the loop -------------------------------------------------------------------------------------
    def run(self) -> WatchState:
        """Iterate until ``--once`` is done or a signal asks to stop (then the current wave finishes, the Lease is
        released). Returns the final state."""
        try:
            while True:
                delay = self.iterate()
                if self.opts.once or interrupt.requested() is not None:
                    break
                if interrupt.wait(delay):
                    break
        except interrupt.Interrupted:
            pass  # a sync stopped at a wave boundary (recorded as interrupted): leave cleanly
        finally:
            self.close()
        return self.state

    def close(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        if self.cluster is not None and self._own_cluster:
            self.cluster.close()
            self.cluster = None
        self._lead_gauge(False)

    def iterate(self) -> float:
        """One iteration; returns how long to pause before the next."""
        st = self.state
        st.last_loop = self.monotonic()
        try:
            if self.cluster is None:
                self.cluster = Cluster.connect(self.settings.cluster, pool_size=4)
            if st.app is None:
                st.app = self._resolve_app()
                self.on_event(Event("watch.start", f"watching app {st.app.name} (record {st.app.namespace}/"
                                                   f"{st.app.parent_name}) every {self.opts.interval:g}s",
                                    {"app": st.app.name, "namespace": st.app.namespace}))
            if not self._lead():
                st.ready = True  # a standby is ready to take over
                return self._pause()
        except interrupt.Interrupted:
            raise
        except GitopsError as e:  # cannot reach the cluster or read the source to name the app: try again later
            st.poll_failures += 1
            st.last_error = e.message
            self.metrics.inc("kubectl_gitops_poll_errors_total", app=self._name())
            self.on_event(Event("warning", f"watch: {e.message}", {"app": self._name()}))
            return backoff(st.poll_failures, self.opts.interval, self.opts.max_backoff, self.rng)
        assert st.app is not None
        app = st.app.name
        self.metrics.inc("kubectl_gitops_polls_total", app=app)
        try:
            commit = current_commit(self.settings.source)
        except GitopsError as e:
            st.poll_failures += 1
            st.last_error = e.message
            self.metrics.inc("kubectl_gitops_poll_errors_total", app=app)
            self.on_event(Event("watch.poll-error", e.message, {"app": app, "failures": st.poll_failures}))
            return backoff(st.poll_failures, self.opts.interval, self.opts.max_backoff, self.rng)
        st.poll_failures, st.ready = 0, True
        if commit != st.commit:
            self.on_event(Event("watch.commit", f"source at {commit[:12]}", {"app": app, "commit": commit}))
            if st.commit is not None and commit != st.failed_commit:
                st.failures = 0  # a new commit is tried at once, whatever failed before
            st.commit = commit
        now = self.monotonic()
        if st.synced is None or st.record is None:
            self._read_record()
        due_sync = commit != st.synced and (commit != st.failed_commit or now >= st.retry_at)
        due_drift = (not due_sync and commit == st.synced and self.opts.drift_interval > 0 and now >= st.next_drift)
        if not (due_sync or due_drift):
            return self._pause()
        record = self._read_record()
        if record.suspended:
            if not st.suspended:
                self.on_event(Event("watch.suspended", f"app {app} is suspended ({record.suspended}): not syncing "
                                                       "until `kubectl gitops resume`", {"app": app}))
            st.suspended = True
            self.metrics.set("kubectl_gitops_suspended", 1, app=app)
            return self._pause()
        if st.suspended:
            self.on_event(Event("watch.resumed", f"app {app} was resumed", {"app": app}))
        st.suspended = False
        self.metrics.set("kubectl_gitops_suspended", 0, app=app)
        if due_sync:
            self._sync(commit, "watch")
        else:
            self._drift_check(commit)
        return self._pause()

    def _pause(self) -> float:
        st = self.state
        now = self.monotonic()
        delay = jittered(self.opts.interval, self.opts.jitter, self.rng)
        if st.leading and st.commit is not None:
            if st.commit == st.failed_commit and st.commit != st.synced:
                delay = min(delay, max(0.0, st.retry_at - now))
            elif st.commit == st.synced and self.opts.drift_interval > 0:
                delay = min(delay, max(0.0, st.next_drift - now))
        return delay

    def _name(self) -> str:
        return self.state.app.name if self.state.app else (self.settings.app.name or "")

    def _resolve_app(self) -> AppRef:
        assert self.cluster is not None
        if self.settings.app.name:
            return resolve_app(self.settings, None, self.cluster)
        with open_source(self.settings.source, committed_only=True) as checkout:
            return resolve_app(self.settings, checkout, self.cluster)

    # -- leadership -----------------------------------------------------------------------------------
    def _lead_gauge(self, on: bool) -> None:
        if self.state.app is not None:
            self.metrics.set("kubectl_gitops_lease_held", 1 if on else 0, app=self.state.app.name)

    def _lead(self) -> bool:
        st = self.state
        assert st.app is not None and self.cluster is not None
        if self.lease is not None and self.lease.held:
            return True
        if self.lease is not None:  # lost (not renewed in time, or taken over)
            self.on_event(Event("watch.standby", f"lost the Lease of app {st.app.name}: standing by",
                                {"app": st.app.name}))
            self.lease.release()
            self.lease = None
            st.leading = False
            self._lead_gauge(False)
        lease = Lease(self.cluster, st.app.name, st.app.namespace, command="watch",
                      options=replace(self.req.lease, wait=0.0),
                      on_event=lambda ev: self.on_event(ev) if ev.type in ("warning", "lease.retry") else None)
        try:
            lease.hold()
        except RefusedError as e:
            if not (e.details and e.details[0].startswith("Lease ")):
                raise  # not held by another process (e.g. the record's namespace is missing): a failure, backed off
            holder = e.details[0]
            if holder != st.standby_holder:
                self.on_event(Event("watch.standby", f"app {st.app.name} is held by another process: standing by "
                                                     f"({holder})", {"app": st.app.name}))
            st.standby_holder = holder
            st.leading = False
            self._lead_gauge(False)
            return False
        self.lease = lease
        st.leading, st.standby_holder = True, ""
        st.synced = None  # another holder may have synced meanwhile: read the record again
        st.record = None
        self._lead_gauge(True)
        self.on_event(Event("watch.leading", f"holding app {st.app.name}", {"app": st.app.name,
                                                                             "holder": lease.identity}))
        return True

    # -- the record ---------------------------------------------------------------------------------------
    def _read_record(self) -> Record:
        st = self.state
        assert st.app is not None and self.cluster is not None
        record = read_record(self.cluster, st.app)
        st.record = record
        if st.synced is None:
            status = record.status
            if status is not None and status.last_synced_commit:
                st.synced = status.last_synced_commit
            else:
                last = next((h for h in reversed(record.history) if h.operation == "sync" and h.result == "succeeded"),
                            None)
                st.synced = last.commit if last is not None and last.commit else ""
            st.next_drift = self.monotonic()  # a drift check soon after taking the app
        return record

    def _write_status(self, change: Callable[[AppStatus], AppStatus]) -> None:
        """Write the app's status (under the Lease: the cluster's write guard); best effort."""
        st = self.state
        assert st.app is not None and self.cluster is not None
        try:
            st.record = update_record(self.cluster, st.app,
                                      lambda r: replace(r, status=change(r.status or AppStatus())))
        except GitopsError as e:
            self.on_event(Event("warning", f"could not write the status of app {st.app.name}: {e.message}"))

    def _event(self, reason: str, message: str, *, warning: bool) -> None:
        st = self.state
        assert st.app is not None and self.cluster is not None
        uid = st.record.uid if st.record is not None else None
        post_event(self.cluster, st.app, uid, reason, message, warning=warning,
                   instance=self.lease.identity if self.lease else "", on_event=self.on_event)

    # -- actions --------------------------------------------------------------------------------------
    def _pinned(self, commit: str) -> Settings:
        return replace(self.settings, source=replace(self.settings.source, ref=commit))

    def _request(self, trigger: str) -> SyncRequest:
        """The sync request of one run. With --self-heal every sync takes back fields another field manager
        changed (what healing means: the cluster equals Git); without it such a conflict fails the sync, and a
        person decides (--force-conflicts)."""
        req = replace(self.req, trigger=trigger, allow_dirty=False)
        if self.opts.self_heal:
            req = replace(req, compare=replace(req.compare, force_conflicts=True),
                          config=replace(req.config, force_conflicts=True))
        return req

    def _sync(self, commit: str, trigger: str) -> None:
        st = self.state
        assert st.app is not None
        app = st.app.name
        before = st.record.status if st.record is not None else None
        self.on_event(Event("watch.sync", f"{'reverting drift' if trigger == 'self-heal' else 'syncing'} "
                                          f"{commit[:12]}", {"app": app, "commit": commit, "trigger": trigger}))
        started = self.monotonic()
        st.syncs += 1
        result: SyncResult | None = None
        error: GitopsError | None = None
        try:
            result = run_sync(self._pinned(commit), self._request(trigger), on_event=self.on_event, held=self.lease)
        except interrupt.Interrupted:
            self.metrics.inc("kubectl_gitops_syncs_total", app=app, result="interrupted")
            raise
        except LeaseLostError as e:
            error = e
        except GitopsError as e:
            error = e
        seconds = self.monotonic() - started
        self.metrics.observe(seconds, app=app)
        if result is not None and result.ok:
            st.synced, st.failed_commit, st.failures, st.last_error = commit, None, 0, ""
            st.next_drift = self.monotonic() + self.opts.drift_interval
            self.metrics.inc("kubectl_gitops_syncs_total", app=app, result="succeeded")
            self.metrics.set("kubectl_gitops_last_success_timestamp_seconds", time.time(), app=app)
            self.metrics.set("kubectl_gitops_objects", len(result.changes), app=app)
            if trigger == "self-heal":
                self.metrics.inc("kubectl_gitops_self_heals_total", app=app)
            self.on_event(Event("watch.synced", f"synced {commit[:12]} in {seconds:.1f}s ({result.writes} writes)",
                                {"app": app, "commit": commit, "writes": result.writes, "trigger": trigger,
                                 "seconds": round(seconds, 3)}))
            st.plan, st.plan_commit = result.plan, commit
            try:
                self._read_record()  # written by the sync: its status, for the status page
            except GitopsError:
                st.record = None
            return
        message = error.message if error is not None else (result.outcome.message if result and result.outcome
                                                             else "failed")
        st.failed_commit = commit
        st.failures += 1
        wait = backoff(st.failures, self.opts.interval, self.opts.max_backoff, self.rng)
        st.retry_at = self.monotonic() + wait
        st.last_error = message
        self.metrics.inc("kubectl_gitops_syncs_total", app=app, result="failed")
        if isinstance(error, WaitingForConfirmation):  # never applied here: a person confirms it (docs/policy.md)
            message = (f"waiting for confirmation of protected changes ({', '.join(error.waiting)}): run "
                       f"`kubectl gitops sync --ref {commit[:12]} --confirm-protected ...`")
            self.on_event(Event("watch.waiting", f"sync of {commit[:12]} is {message}",
                                {"app": app, "commit": commit, "protected": error.waiting}))
        self.on_event(Event("watch.failed", f"sync of {commit[:12]} failed: {message}; retried when the commit "
                                            f"changes or in {wait:.0f}s", {"app": app, "commit": commit,
                                                                           "failures": st.failures,
                                                                           "retryIn": round(wait, 1)}))
        if isinstance(error, LeaseLostError):
            return  # not ours to write any more
        try:
            after = self._read_record()
        except GitopsError:
            return
        if after.status != before and after.status is not None and after.status.last_attempt_time and \
                after.status.phase == "Failed":
            return  # run_sync recorded it (a failure during the waves), with its Event
        now = utc_now()
        self._write_status(lambda s: s.failed(commit, now, message, health=s.health, by=trigger))
        self._event("SyncFailed", f"sync of {commit[:12]} failed, nothing was changed: {message}", warning=True)

    def _drift_check(self, commit: str) -> None:
        st = self.state
        assert st.app is not None
        app = st.app.name
        st.next_drift = self.monotonic() + self.opts.drift_interval
        try:
            result = run_sync(self._pinned(commit), replace(self._request("drift"), dry_run=True,
                                                            compare=replace(self.req.compare, force_conflicts=True)),
                              on_event=discard)
        except GitopsError as e:
            self.on_event(Event("warning", f"drift check of app {app} failed: {e.message}", {"app": app}))
            return
        st.plan, st.plan_commit = result.plan, commit
        hooks = {s.key for s in result.plan.steps if s.hook}
        drifted = sorted(k for k, c in result.changes.items() if c.changed and k not in hooks)
        self.metrics.set("kubectl_gitops_objects", len([k for k in result.changes if k not in hooks]), app=app)
        self.on_event(Event("watch.drift-check", f"{len(drifted)} object(s) differ from Git",
                            {"app": app, "drifted": [str(k) for k in drifted]}))
        current = st.record.status.drift if st.record is not None and st.record.status else Drift()
        drift = Drift.of(drifted)
        if drifted:
            self.metrics.inc("kubectl_gitops_drift_detected_total", app=app)
            if self.opts.self_heal:
                self._sync(commit, "self-heal")
                return
            if drift != current:
                self._write_status(lambda s: s.drifted(drift, by="watch"))
                self._event("DriftDetected", f"{len(drifted)} object(s) differ from Git at {commit[:12]} (not "
                                             f"healed: no --self-heal): {', '.join(drift.keys)}", warning=True)
        elif current.objects:
            self._write_status(lambda s: s.drifted(Drift(), by="watch"))


__all__ = ["WatchOptions", "WatchState", "Watcher", "backoff", "jittered"]
