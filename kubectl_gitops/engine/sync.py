"""The wave loop: apply the plan phase by phase and wave by wave, waiting for health in between.

How a sync runs (Argo CD semantics, see plan.py for the ordering):

1. Everything was rendered, validated and dry-run before this module is called (ops.sync), so a sync
   that cannot succeed writes nothing.
2. Only the lowest pending (phase, wave) runs. Within it, objects are applied in kind order (one batch
   per kind, each batch on a bounded pool): hooks with ``BeforeHookCreation`` are deleted first, then
   out-of-sync objects are applied with server-side apply and hooks are created. Unchanged objects are
   not written at all.
3. The wave is done when every object in it is Healthy (hooks: completed), judged by health.py. A CRD
   is waited for (Established) before custom resources of the same wave are applied. Degraded, or no
   progress within the wave timeout, fails the sync: hooks with ``HookFailed`` are deleted and the
   SyncFail hooks run.
4. After a successful wave, hooks with ``HookSucceeded`` are deleted.

Longer than ~400 lines because it is one class, ``Syncer``, whose steps (apply, wait for health, hook copies,
SyncFail) share one run's state (types, hook names, last healths, run id); its options and results are in
``sync_model.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kubectl_gitops.cluster.client import ApiError, Cluster, ClusterError, ResourceType
from kubectl_gitops.cluster.concurrency import map_bounded
from kubectl_gitops.cluster.live import Target, fetch_live
from kubectl_gitops.engine import interrupt
from kubectl_gitops.engine.annotations import HookDeletePolicy
from kubectl_gitops.engine.health import Health, HealthStatus, assess, hook_completed
from kubectl_gitops.engine.hooks import (
    LABEL_HOOK,
    hook_id,
    hook_labels,
    labelled,
    run_of,
    selector,
    stale_reason,
)
from kubectl_gitops.engine.inventory import LABEL_PART_OF
from kubectl_gitops.engine.plan import APPLIED_ACTIONS, Phase, Plan, Step, StepAction, kind_rank
from kubectl_gitops.engine.record_merge import new_run_id
from kubectl_gitops.engine.sync_model import StepResult, SyncConfig, SyncOutcome, WaveFailed, WaveResult
from kubectl_gitops.errors import AmbiguousWriteError, GitopsError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.model import Obj, ResourceKey

# Says whether a (non-hook) object is out of sync and must be written.
NeedsApply = Callable[[Step], bool]


class Syncer:
    """Runs one plan against one cluster. ``needs_apply(step)`` says whether an object is out of sync."""

    def __init__(self, cluster: Cluster, plan: Plan, *, types: dict[ResourceKey, ResourceType | None],
                 objects: dict[ResourceKey, Obj], existing: set[ResourceKey], needs_apply: NeedsApply,
                 config: SyncConfig, on_event: EventSink = discard, run_id: str | None = None):
        self.cluster = cluster
        self.plan = plan
        self.types = types
        self.objects = objects  # what to send, per key (manifest + our annotations/labels)
        self.existing = existing  # keys that existed before the sync (created vs configured)
        self.needs_apply = needs_apply
        self.config = config
        self.on_event = on_event
        self.deadline = time.monotonic() + config.timeout if config.timeout else None
        self.hook_names: dict[int, str] = {}  # step.order -> actual name of a generateName hook
        self.last_health: dict[ResourceKey, Health] = {}  # the last health seen of each waited-for object
        self.run_id = run_id or new_run_id()  # labels every hook object this run makes (hooks.py)

    # -- public -------------------------------------------------------------------------------------
    def run(self) -> SyncOutcome:
        out = SyncOutcome(ok=True)
        self.on_event(Event("sync.start", f"{len(self.plan.main_groups())} waves",
                            {"waves": len(self.plan.main_groups()), "objects": len(self.plan.steps)}))
        writes = self.cluster.writes
        try:
            for phase, wave, steps in self.plan.main_groups():
                out.reached = f"{phase} wave {wave}"
                out.waves.append(self._run_wave(phase, wave, steps, out))
        except WaveFailed as e:
            out.ok, out.message, out.failed = False, e.message, e.failed
            self._after_failure(out)
        except GitopsError as e:  # the API server failed us mid-way (or a signal): the caller records and raises it
            out.ok, out.message, out.error = False, e.message, e
            if not _interrupted(e):
                self._after_failure(out)
        out.writes = self.cluster.writes - writes
        for r in out.steps:
            if not r.health and r.key in self.last_health:
                r.health = self.last_health[r.key].status.value
        self.on_event(Event("sync.done", "succeeded" if out.ok else f"failed: {out.message}",
                            {"ok": out.ok, "writes": self.cluster.writes}))
        return out

    # -- one wave -----------------------------------------------------------------------------------
    def _run_wave(self, phase: Phase, wave: int, steps: list[Step], out: SyncOutcome) -> WaveResult:
        start = time.monotonic()
        self.on_event(Event("wave.start", f"{phase} wave {wave}: {len(steps)} objects",
                            {"phase": str(phase), "wave": wave, "objects": len(steps),
                             "keys": [str(s.key) for s in steps]}))
        applied = 0
        interrupt.check(f"before {phase} wave {wave}", boundary=True)
        for batch in _kind_batches(steps):
            interrupt.check(f"before {phase} wave {wave}")
            self._clean_earlier_copies([s for s in batch if s.hook])
            results = self._apply_batch(batch, out)
            failed = [r for r in results if r.action == StepAction.FAILED]
            if failed:
                raise WaveFailed(f"{phase} wave {wave}: {len(failed)} object(s) could not be applied", failed)
            applied += sum(r.action in APPLIED_ACTIONS for r in results)
            if any(s.kind == "CustomResourceDefinition" for s in batch):
                self._wait([s for s in batch if s.kind == "CustomResourceDefinition"], phase, wave, start)
                self._resolve_pending_types()
        self._wait(steps, phase, wave, start)
        self._delete_hooks_by_policy([s for s in steps if s.hook], HookDeletePolicy.HOOK_SUCCEEDED)
        seconds = time.monotonic() - start
        self.on_event(Event("wave.done", f"{phase} wave {wave}: {applied} applied, healthy in {seconds:.1f}s",
                            {"phase": str(phase), "wave": wave, "applied": applied, "seconds": round(seconds, 3)}))
        return WaveResult(phase, wave, len(steps), applied, seconds)

    def _apply_batch(self, batch: list[Step], out: SyncOutcome) -> list[StepResult]:
        """Apply one batch concurrently. When a request fails outright (a cluster error, not a refused apply),
        the batch's other results are kept in ``out`` (what was applied is known) before the error is raised."""
        errors: list[GitopsError] = []

        def guarded(step: Step) -> StepResult | None:
            try:
                return self._apply_step(step)
            except GitopsError as e:
                errors.append(e)
                return None

        # Objects in sync are answered here, in order; only the rest go to the pool (a re-sync of 10,000
        # unchanged objects made 10,000 pool tasks that returned at once).
        todo = [s.hook or self.needs_apply(s) for s in batch]
        done = iter(map_bounded(guarded, [s for s, t in zip(batch, todo, strict=True) if t], self.config.concurrency))
        results = [r for s, t in zip(batch, todo, strict=True)
                   if (r := next(done) if t else StepResult(s.key, s.phase, s.wave, StepAction.UNCHANGED)) is not None]
        out.steps.extend(results)
        if errors:
            raise next((e for e in errors if not _interrupted(e)), errors[0])
        return results

    def _apply_step(self, step: Step) -> StepResult:
        t0 = time.monotonic()
        res = StepResult(step.key, step.phase, step.wave, StepAction.UNCHANGED)
        if not step.hook and not self.needs_apply(step):
            return res
        rt = self.types.get(step.key)
        if rt is None:
            rt = self._type_for(step)
        obj = self.objects[step.key]
        if step.hook:
            obj = labelled(obj, hook_labels(step.key, generated=step.generated, run=self.run_id, phase=str(step.phase)))
        interrupt.check(f"before applying {step.key}")
        try:
            if step.hook and step.generated:
                created = self._create_hook(step, obj, rt)
                self.hook_names[step.order] = created["metadata"]["name"]
                res.action = StepAction.HOOK
            elif step.options.replace:
                res.action = self._replace(step, obj, rt)
            else:
                query_force = self.config.force_conflicts or step.options.force
                existed = step.key in self.existing
                self.cluster.apply(obj, rt, force=query_force)
                res.action = (StepAction.HOOK if step.hook
                              else StepAction.CONFIGURED if existed else StepAction.CREATED)
        except ApiError as e:
            res.action, res.health, res.message = StepAction.FAILED, "", e.message
            if e.field_manager_conflict:
                res.message += "; another field manager owns these fields: re-run with --force-conflicts to take them"
        res.seconds = time.monotonic() - t0
        self.on_event(Event("apply", f"{step.key} {res.action}", {
            "phase": str(step.phase), "wave": step.wave, "key": str(step.key), "action": str(res.action),
            "name": self.hook_names.get(step.order, step.name), "detail": res.message}))
        return res

    def _replace(self, step: Step, obj: Obj, rt: ResourceType) -> StepAction:
        live = self.cluster.get(rt, step.namespace or None, step.name)
        if live is None:
            self.cluster.create(obj, rt)
            return StepAction.CREATED
        if step.options.force:
            self.cluster.delete(rt, step.namespace or None, step.name, propagation="Foreground")
            self._wait_gone([(rt, step.namespace, step.name)])
            self.cluster.create(obj, rt)
            return StepAction.CONFIGURED
        body = dict(obj)
        body["metadata"] = {**(obj.get("metadata") or {}),
                            "resourceVersion": (live.get("metadata") or {}).get("resourceVersion")}
        self.cluster.request("PUT", rt.path(step.namespace or None, step.name), body=body,
                             query={"fieldManager": self.cluster.field_manager}, retry_conflicts=True)
        return StepAction.CONFIGURED

    # -- health -------------------------------------------------------------------------------------
    def _wait(self, steps: list[Step], phase: Phase, wave: int, start: float) -> None:
        """Block until every step is healthy; raise WaveFailed on Degraded or timeout. Failed reads are
        tolerated until the wave's deadline (``_poll_healths``)."""
        if not steps:
            return
        hooks = [s for s in steps if s.hook]
        watched = steps if self.config.wait else hooks  # hooks are always waited for: they gate the phase
        if not watched:
            return
        last: dict[ResourceKey, HealthStatus] = {}
        wave_deadline = start + self.config.wave_timeout
        self._read_failed: ClusterError | None = None
        waiting_since = time.monotonic()
        next_note = waiting_since + self.config.progress_interval
        while True:
            healths = self._poll_healths(watched, phase, wave, wave_deadline)
            if healths is None:  # the reads failed: tolerated until the wave's deadline
                interrupt.check(f"while waiting for {phase} wave {wave}")
                time.sleep(self.config.poll_interval)
                continue
            self.last_health.update((s.key, h) for s, h in healths)
            for s, h in healths:
                if last.get(s.key) != h.status:
                    last[s.key] = h.status
                    self.on_event(Event("health", f"{s.key}: {h}", {
                        "phase": str(phase), "wave": wave, "key": str(s.key), "status": h.status.value,
                        "detail": h.message}))
            bad = [(s, h) for s, h in healths if h.status is HealthStatus.DEGRADED]
            if bad:
                raise WaveFailed(f"{phase} wave {wave}: {len(bad)} object(s) degraded",
                                 [StepResult(s.key, phase, wave, StepAction.FAILED, h.status.value, h.message)
                                  for s, h in bad])
            pending = [(s, h) for s, h in healths if not h.healthy]
            if not pending:
                return
            now = time.monotonic()
            if now > wave_deadline or (self.deadline and now > self.deadline):
                limit = self.config.wave_timeout if now > wave_deadline else self.config.timeout
                raise WaveFailed(
                    f"{phase} wave {wave}: timed out after {limit:.0f}s waiting for {len(pending)} object(s) "
                    "to become healthy (raise --wave-timeout, or check the objects)",
                    [StepResult(s.key, phase, wave, StepAction.FAILED, h.status.value, h.message) for s, h in pending])
            if self.config.progress_interval and now >= next_note:
                next_note = now + self.config.progress_interval
                self._note_waiting(phase, wave, pending, len(watched), now - waiting_since)
            interrupt.check(f"while waiting for {phase} wave {wave}")
            time.sleep(self.config.poll_interval)

    def _note_waiting(self, phase: Phase, wave: int, pending: list[tuple[Step, Health]], total: int,
                      seconds: float) -> None:
        """Progress while a wave waits: which objects it waits for, and what each one says."""
        shown = ", ".join(f"{s.kind} {self.hook_names.get(s.order, s.name)}" + (f" {h.message}" if h.message else
                                                                                f" {h.status.value}")
                          for s, h in pending[:3]) + (", ..." if len(pending) > 3 else "")
        self.on_event(Event("wave.waiting", f"{phase} wave {wave}: waiting for {len(pending)} of {total} "
                                            f"objects: {shown}", {
            "phase": str(phase), "wave": wave, "total": total, "seconds": round(seconds, 1),
            "pending": [{"key": str(s.key), "status": h.status.value, "detail": h.message} for s, h in pending]}))

    def _poll_healths(self, steps: list[Step], phase: Phase, wave: int,
                      wave_deadline: float) -> list[tuple[Step, Health]] | None:
        """``_healths``, or None when its reads failed for a reason that may pass (unreachable, timed out,
        429, 5xx): one warning, then the wave keeps waiting until its deadline, where the error is raised."""
        try:
            healths = self._healths(steps)
        except ClusterError as e:
            if not _transient(e):
                raise
            now = time.monotonic()
            if now > wave_deadline or (self.deadline and now > self.deadline):
                e.message = f"{phase} wave {wave}: health checks failed until the wave's deadline: {e.message}"
                raise
            if self._read_failed is None:
                self.on_event(Event("warning", f"{phase} wave {wave}: reading health failed ({e.message}); "
                                               "retrying until the wave times out",
                                    {"phase": str(phase), "wave": wave}))
            self._read_failed = e
            return None
        if self._read_failed is not None:
            self._read_failed = None
            self.on_event(Event("health.resumed", f"{phase} wave {wave}: health can be read again",
                                {"phase": str(phase), "wave": wave}))
        return healths

    def _healths(self, steps: list[Step]) -> list[tuple[Step, Health]]:
        targets, names = [], {}
        for s in steps:
            rt = self.types.get(s.key) or self._type_for(s)
            name = self.hook_names.get(s.order, s.name)
            key = ResourceKey(s.key.group, s.key.kind, s.key.namespace, name)
            names[s.order] = key
            targets.append(Target(key, rt))
        live = fetch_live(self.cluster, targets, workers=self.config.concurrency)
        out = []
        for s in steps:
            obj = live.get(names[s.order])
            if s.hook:
                h = hook_completed(obj) if obj is not None else Health(HealthStatus.MISSING, "hook object is gone")
                if obj is None and s.key.kind not in ("Job", "Pod"):
                    h = Health(HealthStatus.HEALTHY)
            else:
                h = assess(obj)
            out.append((s, h))
        return out

    def _wait_gone(self, objs: list[tuple[ResourceType, str, str]], timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        remaining = list(objs)
        while remaining and time.monotonic() < end:
            remaining = [o for o in remaining if self.cluster.get(o[0], o[1] or None, o[2]) is not None]
            if remaining:
                time.sleep(self.config.poll_interval / 2)

    # -- hooks --------------------------------------------------------------------------------------
    def _create_hook(self, step: Step, obj: Obj, rt: ResourceType) -> Obj:
        """Create a generateName hook. When the create is ambiguous (the POST may have reached the server), look
        for this run's copy by its labels first: found, it is the hook; not found, creating again is safe."""
        try:
            created: Obj = self.cluster.create(obj, rt)
            return created
        except AmbiguousWriteError as e:
            found = self._own_copy(step, obj, rt)
            how = "found by its labels" if found is not None else "not created: created again"
            self.on_event(Event("hook.recovered", f"{step.key}: the create's outcome was unknown; {how}",
                                {"key": str(step.key), "found": found is not None, "request": e.method}))
            if found is not None:
                return found
            interrupt.check(f"before creating {step.key} again")
            created = self.cluster.create(obj, rt)
            return created

    def _own_copy(self, step: Step, obj: Obj, rt: ResourceType) -> Obj | None:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        mine = {k: labels[k] for k in labels if k.startswith("gitops.kubectl.dev/")}
        copies = list(self.cluster.list(rt, step.namespace or None,
                                        label_selector=selector(labels.get(LABEL_PART_OF), mine)))
        return copies[0] if copies else None

    def _clean_earlier_copies(self, hooks: list[Step]) -> None:
        """Before a hook is created: delete the copies of it that other runs left, by their delete policy
        (hooks.py): ``BeforeHookCreation`` always, ``HookSucceeded``/``HookFailed`` when finished so. A named
        hook with ``BeforeHookCreation`` is deleted by name, whoever made it (as before runs were labelled)."""
        doomed = []
        for s in hooks:
            rt = self.types.get(s.key) or self._type_for(s)
            ns = s.namespace or None
            if not s.generated and HookDeletePolicy.BEFORE_HOOK_CREATION in s.delete_policies:
                interrupt.check(f"before deleting {s.key}")
                if self.cluster.delete(rt, ns, s.name, propagation="Background"):
                    doomed.append((rt, s.namespace, s.name))
                continue
            if s.generated:
                part_of = ((self.objects[s.key].get("metadata") or {}).get("labels") or {}).get(LABEL_PART_OF)
                copies = list(self.cluster.list(rt, ns, label_selector=selector(
                    part_of, {LABEL_HOOK: hook_id(s.key, generated=True)})))
            else:
                live = self.cluster.get(rt, ns, s.name)
                copies = [live] if live is not None else []
            for obj in copies:
                reason = stale_reason(obj, run=self.run_id, superseded=True)
                if not reason:
                    continue
                meta = obj.get("metadata") or {}
                interrupt.check(f"before deleting {s.key}")
                try:
                    gone = not self.cluster.delete(rt, ns, meta["name"], propagation="Background", uid=meta.get("uid"))
                except ApiError as e:
                    if not e.conflict:
                        raise
                    continue  # the name holds another object now: not that copy
                if not gone:
                    doomed.append((rt, s.namespace, meta["name"]))
                self.on_event(Event("hook.deleted", f"{s.key} {meta['name']} deleted: {reason}",
                                    {"key": str(s.key), "name": meta["name"], "run": run_of(obj), "reason": reason}))
        self._wait_gone(doomed)

    def _delete_hooks_by_policy(self, hooks: list[Step], policy: HookDeletePolicy) -> None:
        for s in hooks:
            if policy in s.delete_policies:
                rt = self.types.get(s.key) or self._type_for(s)
                name = self.hook_names.get(s.order, s.name)
                if name:
                    self.cluster.delete(rt, s.namespace or None, name, propagation="Background")
                    self.on_event(Event("hook.deleted", f"{s.key} deleted ({policy})",
                                        {"key": str(s.key), "policy": str(policy)}))

    def _all_hooks_run(self, out: SyncOutcome) -> list[Step]:
        ran = {r.key for r in out.steps if r.action == StepAction.HOOK}
        return [s for s in self.plan.steps if s.hook and s.key in ran and s.phase is not Phase.SYNC_FAIL]

    def _after_failure(self, out: SyncOutcome) -> None:
        """After a failed wave or a cluster error: delete hooks by ``HookFailed`` and run the SyncFail hooks,
        best effort (a cluster that fails here too is noted in the message; a signal stops it)."""
        try:
            self._delete_hooks_by_policy(self._all_hooks_run(out), HookDeletePolicy.HOOK_FAILED)
        except GitopsError as e:
            if _interrupted(e):
                out.error = out.error or e
                return
            out.message += f"; deleting HookFailed hooks failed: {e.message}"
        self._run_sync_fail(out)

    def _run_sync_fail(self, out: SyncOutcome) -> None:
        """The SyncFail phase, bounded like any wave (by --wave-timeout); it never hides the first failure."""
        groups = self.plan.groups(Phase.SYNC_FAIL)
        if not groups:
            return
        self.on_event(Event("syncfail.start", "running SyncFail hooks", {}))
        for phase, wave, steps in groups:
            try:
                out.waves.append(self._run_wave(phase, wave, steps, out))
            except WaveFailed as e:
                out.message += f"; SyncFail hooks failed too: {e.message}"
                return
            except GitopsError as e:
                if _interrupted(e):
                    out.error = out.error or e
                    return
                out.message += f"; SyncFail hooks could not run: {e.message}"
                return

    # -- types --------------------------------------------------------------------------------------
    def _type_for(self, step: Step) -> ResourceType:
        rt = self.cluster.discovery.lookup(step.manifest.api_version, step.kind)
        if rt is None:
            rt = self.cluster.refresh_discovery().lookup(step.manifest.api_version, step.kind)
        if rt is None:
            raise WaveFailed(f"{step.key}: the cluster does not serve {step.manifest.api_version} {step.kind}",
                             [StepResult(step.key, step.phase, step.wave, StepAction.FAILED, "", "kind not served")])
        self.types[step.key] = rt
        return rt

    def _resolve_pending_types(self) -> None:
        if any(v is None for v in self.types.values()):
            self.cluster.refresh_discovery()


def _interrupted(e: BaseException) -> bool:
    """A stop asked for by a signal: no new writes, so no SyncFail hooks either."""
    return isinstance(e, interrupt.Interrupted)


def _transient(e: ClusterError) -> bool:
    """A failed read that may pass if asked again later: no answer at all, or 429/5xx."""
    return e.status is None or e.status == 429 or e.status >= 500


def _kind_batches(steps: list[Step]) -> list[list[Step]]:
    """Consecutive steps of the same kind rank, in plan order: each batch is applied concurrently."""
    batches: list[list[Step]] = []
    last = None
    for s in steps:
        rank = kind_rank(s.kind)
        if batches and rank == last:
            batches[-1].append(s)
        else:
            batches.append([s])
            last = rank
    return batches
