"""Recording how a sync ended, failures included (issue 12, item 7).

A sync that the API server stops mid-way (a cluster error, an ambiguous write, a request that timed out) or a
signal interrupts has often applied part of the commit. ``record_outcome`` writes that run into the record's
history like any other — ``failed`` (or ``interrupted``), with the counts of what was applied and the wave it
was in — best effort, since the cluster that failed the sync may fail the record write too. Then it raises
the run's error (its exit code unchanged), its message saying whether anything was written and whether the
failure is recorded:

    PATCH ... timed out after 30s ...; 14 object(s) were applied before the failure, in Sync wave 1 — the next
    sync continues from there; recorded as failed in the history of app shop
"""

from __future__ import annotations

from kubectl_gitops.engine.interrupt import Interrupted
from kubectl_gitops.engine.lease import LeaseLostError
from kubectl_gitops.engine.prune_plan import PruneReport
from kubectl_gitops.engine.run_record import Inventory
from kubectl_gitops.engine.sync_model import SyncOutcome
from kubectl_gitops.errors import GitopsError


def step_counts(outcome: SyncOutcome) -> dict[str, int]:
    """How many steps ended in each action (created, configured, unchanged, hook, failed, ...)."""
    counts: dict[str, int] = {}
    for step in outcome.steps:
        action = str(step.action)  # the plain string (records are YAML/JSON)
        counts[action] = counts.get(action, 0) + 1
    return counts


def written(outcome: SyncOutcome) -> str:
    """Whether the run wrote anything before it stopped, in words."""
    where = f", in {outcome.reached}" if outcome.reached else ""
    if outcome.applied:
        return (f"{outcome.applied} object(s) were applied before the failure{where} — the next sync continues "
                "from there")
    if outcome.writes:
        return f"no object was applied before the failure{where} ({outcome.writes} other write(s), hooks)"
    return "nothing was written"


def health_of(outcome: SyncOutcome) -> str:
    """The app's health after the run, for its status: the worst health a failed step reported."""
    if outcome.ok:
        return "Healthy"
    seen = {r.health for r in outcome.failed} | {r.health for r in outcome.steps}
    return "Degraded" if "Degraded" in seen else "Progressing" if "Progressing" in seen else "Unknown"


def record_outcome(inventory: Inventory, outcome: SyncOutcome, *, seconds: float,
                   ref: str | None) -> PruneReport | None:
    """Record the run (prune first, after a successful sync); for a run stopped by an error, record it as
    failed or interrupted, best effort, and raise that error with what was written and whether it is recorded."""
    counts = step_counts(outcome)
    error = outcome.error
    if error is None:
        return inventory.after_apply(outcome.ok, counts, message=outcome.message, seconds=seconds, ref=ref,
                                     health=health_of(outcome))
    interrupted = isinstance(error, Interrupted)
    what = written(outcome)
    result = "interrupted" if interrupted else "failed"
    if isinstance(error, LeaseLostError):  # the record is not ours to write any more (the write guard says so)
        error.message = f"{error.message}; {what}; not recorded in the history: the Lease is lost"
        raise error
    try:
        inventory.after_apply(False, counts, message=f"{outcome.message} ({what})", seconds=seconds, ref=ref,
                              result=result, health=health_of(outcome))
        note = f"recorded as {result} in the history of app {inventory.app.name}"
    except GitopsError as e:
        note = f"the {'interruption' if interrupted else 'failure'} could not be recorded in the history ({e.message})"
    error.message = f"{error.message}; {what}; {note}"
    if error.hint is None and not interrupted:
        error.hint = "run the sync again once the API server answers: it applies what is missing"
    raise error
