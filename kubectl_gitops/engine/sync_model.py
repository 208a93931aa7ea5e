"""What the wave loop takes and reports: its options, per-step and per-wave results, the outcome, WaveFailed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_gitops.engine.plan import APPLIED_ACTIONS, Phase, StepAction
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import ResourceKey


@dataclass(frozen=True)
class SyncConfig:
    concurrency: int = 8
    wait: bool = True  # gate each wave on health
    wave_timeout: float = 300.0
    timeout: float | None = None  # the whole sync
    poll_interval: float = 1.0
    force_conflicts: bool = False
    progress_interval: float = 5.0  # while a wave waits: a "wave.waiting" event this often (0: never)


@dataclass
class StepResult:
    key: ResourceKey
    phase: Phase
    wave: int
    action: StepAction
    health: str = ""
    message: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"phase": str(self.phase), "wave": self.wave, "group": self.key.group, "kind": self.key.kind,
                "namespace": self.key.namespace, "name": self.key.name, "action": str(self.action),
                "health": self.health, "message": self.message, "seconds": round(self.seconds, 3)}


@dataclass
class WaveResult:
    phase: Phase
    wave: int
    objects: int
    applied: int
    seconds: float


@dataclass
class SyncOutcome:
    ok: bool
    steps: list[StepResult] = field(default_factory=list)
    waves: list[WaveResult] = field(default_factory=list)
    message: str = ""
    failed: list[StepResult] = field(default_factory=list)
    error: GitopsError | None = None  # what stopped the sync when it was not a failed wave (cluster error, signal)
    reached: str = ""  # the wave it was in: "Sync wave 1"
    writes: int = 0  # write requests that succeeded during the run (objects, hooks, hook deletions)

    @property
    def applied(self) -> int:
        """Objects (and hooks) written before the end or the failure."""
        return sum(r.action in APPLIED_ACTIONS for r in self.steps)


class WaveFailed(GitopsError):
    """A wave did not become healthy (or an apply failed); carries the objects at fault."""

    def __init__(self, message: str, failed: list[StepResult]):
        super().__init__(message, details=[": ".join(x for x in (str(r.key), r.health, r.message) if x)
                                           for r in failed])
        self.failed = failed
