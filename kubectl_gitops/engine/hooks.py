"""Hook objects across runs: the labels a sync puts on each hook it creates, and which copies left by other
runs (interrupted, killed, or simply earlier) are to be deleted.

Labels (besides the app's ``applyset.kubernetes.io/part-of``) on every hook object a sync creates or applies:

``gitops.kubectl.dev/run``
    the id of the run that made it (``record_merge.new_run_id()``, the id of the run's history entry too);
``gitops.kubectl.dev/hook``
    the hook's identity: 16 hex digits of the sha256 of its group, kind, namespace and name (or
    ``generateName``), the same for every copy of that hook, whatever name the server gave it;
``gitops.kubectl.dev/hook-phase``
    the phase it ran in (``PreSync``, ``Sync``, ``PostSync``, ``SyncFail``).

With them a copy is found by a LIST with a label selector: after an ambiguous create (the POST may have
reached the server) the run looks for its own copy before creating again, and the copies of earlier runs
are found even when their generated names are unknown.

When a copy of another run is deleted (``stale_reason``), by its own delete policy (read from the live
object's annotations, so a hook since changed or removed from Git is judged by what it was):

* ``BeforeHookCreation``: by the next run that reaches the hook, before it creates its own copy; by
  ``prune`` when a newer copy of the same hook exists (the newest copy stays, as after a normal sync);
* ``HookSucceeded``: when it has succeeded; ``HookFailed``: when it has failed;
* a copy still running, or finished with no policy saying so, stays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from kubectl_gitops.engine.annotations import HookDeletePolicy, delete_policies, runs_as_hook
from kubectl_gitops.engine.health import HealthStatus, hook_completed
from kubectl_gitops.model import Manifest, Obj, Origin, ResourceKey

LABEL_RUN = "gitops.kubectl.dev/run"
LABEL_HOOK = "gitops.kubectl.dev/hook"
LABEL_HOOK_PHASE = "gitops.kubectl.dev/hook-phase"


def hook_id(key: ResourceKey, *, generated: bool) -> str:
    """The identity label value shared by every copy of one hook (``key.name`` is the generateName for a
    generated hook)."""
    text = f"{key.group}/{key.kind}/{key.namespace}/{'generate:' if generated else ''}{key.name}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def hook_labels(key: ResourceKey, *, generated: bool, run: str, phase: str) -> dict[str, str]:
    return {LABEL_RUN: run, LABEL_HOOK: hook_id(key, generated=generated), LABEL_HOOK_PHASE: phase}


def labelled(obj: Obj, labels: dict[str, str]) -> Obj:
    """A copy of ``obj`` with ``labels`` added."""
    meta = dict(obj.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    return {**obj, "metadata": meta}


def selector(part_of: str | None, labels: dict[str, str]) -> str:
    """A label selector: the app's label (when known) plus ``labels`` (all must match)."""
    from kubectl_gitops.engine.inventory import LABEL_PART_OF

    app = [f"{LABEL_PART_OF}={part_of}"] if part_of else []
    return ",".join([*app, *(f"{k}={v}" for k, v in sorted(labels.items()))])


def _labels(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def run_of(obj: Obj) -> str | None:
    return _labels(obj).get(LABEL_RUN)


def state(obj: Obj) -> str:
    """``succeeded``, ``failed`` or ``running`` (a hook without a status is running)."""
    h = hook_completed(obj)
    if h.status is HealthStatus.HEALTHY:
        return "succeeded"
    if h.status is HealthStatus.DEGRADED:
        return "failed"
    return "running"


def policies_of(obj: Obj) -> frozenset[HookDeletePolicy]:
    return delete_policies(Manifest(obj, Origin("<cluster>")))


def stale_reason(obj: Obj, *, run: str | None, superseded: bool) -> str:
    """Why a copy of a hook made by another run is to be deleted now, or ``""``. ``run``: this run (its own
    copies are never stale); ``superseded``: a newer copy of the same hook exists or is about to be created."""
    made_by = run_of(obj)
    if made_by is None or made_by == run:
        return ""  # not ours to judge (no run label: made before runs were labelled), or this run's own
    policies = policies_of(obj)
    if superseded and HookDeletePolicy.BEFORE_HOOK_CREATION in policies:
        return f"superseded (BeforeHookCreation; left by run {made_by})"
    st = state(obj)
    if st == "succeeded" and HookDeletePolicy.HOOK_SUCCEEDED in policies:
        return f"succeeded (HookSucceeded; left by run {made_by})"
    if st == "failed" and HookDeletePolicy.HOOK_FAILED in policies:
        return f"failed (HookFailed; left by run {made_by})"
    return ""


@dataclass(frozen=True)
class Leftover:
    key: ResourceKey
    obj: Obj
    reason: str


def _created(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("creationTimestamp") or ""), str(run_of(obj) or "")


def leftovers(hooks: Iterable[tuple[ResourceKey, Obj]]) -> list[Leftover]:
    """Among live hook objects of one app (full objects: their status tells their state), the copies a
    prune deletes: every copy but the newest of each hook with ``BeforeHookCreation``, and finished copies
    whose policy deletes them. Objects without the run label are left alone."""
    by_hook: dict[str, list[tuple[ResourceKey, Obj]]] = {}
    for key, obj in hooks:
        if not runs_as_hook(Manifest(obj, Origin("<cluster>"))) or run_of(obj) is None:
            continue
        by_hook.setdefault(_labels(obj).get(LABEL_HOOK) or str(key), []).append((key, obj))
    out = []
    for copies in by_hook.values():
        copies.sort(key=lambda c: _created(c[1]))
        newest = copies[-1][0]
        for key, obj in copies:
            reason = stale_reason(obj, run=None, superseded=key != newest)
            if reason:
                out.append(Leftover(key, obj, reason))
    return sorted(out, key=lambda x: x.key)
