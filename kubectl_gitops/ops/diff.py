"""``run_diff``: what a sync would change, from any revision, against the live cluster."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..diff import Change, Op
from ..events import EventSink, discard
from ..plan import plan_annotation_checks
from ..settings import Settings
from ..source import Checkout
from .common import CompareOptions, compute_changes, load


@dataclass
class DiffResult:
    changes: list[Change]
    checkout: Checkout
    context: str
    dry_runs: int = 0
    requests: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def differences(self) -> list[Change]:
        return [c for c in self.changes if c.changed and not c.ignored_extraneous]

    def counts(self) -> dict[str, int]:
        out = {op.value: 0 for op in Op}
        for c in self.changes:
            out[c.op.value] += 1
        return out


def run_diff(settings: Settings, opts: CompareOptions, *, on_event: EventSink = discard) -> DiffResult:
    """Render and validate the repository, then compare it with the cluster. Writes nothing to the cluster."""
    loaded = load(settings, committed_only=False, on_event=on_event, extra_checks=plan_annotation_checks,
                  workers=opts.concurrency)
    t0 = time.monotonic()
    computed = compute_changes(loaded, opts, on_event=on_event)
    loaded.timings["compare"] = time.monotonic() - t0
    loaded.cluster.close()
    return DiffResult(computed.changes, loaded.desired.checkout, loaded.cluster.context,
                      dry_runs=computed.dry_runs, requests=loaded.cluster.requests, timings=loaded.timings)
