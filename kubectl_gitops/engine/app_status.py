"""An app's status: what its record says about the last sync, drift and health, for everyone to read.

The status lives on the record (the Secret ``kubectl-gitops.<app>``) as one JSON annotation,
``gitops.kubectl.dev/status``, so ``kubectl describe secret`` shows it without decoding data, and every writer of
the record (push ``sync``, the ``sync --watch`` loop) keeps it current in the same write as the history entry::

    {"phase": "Synced", "health": "Healthy", "message": "", "lastSeenCommit": "1a2b…", "lastSyncedCommit": "1a2b…",
     "lastSyncTime": "2024-05-01T12:00:00Z", "lastAttemptTime": "…", "lastSeenTime": "…",
     "drift": {"objects": 0, "keys": []}, "selfHeals": 0, "by": "watch"}

Phases (``Phase``): ``Synced`` (the last sync of the last seen commit succeeded, no drift found since),
``OutOfSync`` (a newer commit was seen, or drift was found and not healed), ``Failed`` (the last attempt failed; the
message says why), plus two that are derived when the status is read, never stored: ``Suspended`` (the record's
``gitops.kubectl.dev/suspended`` annotation, set by ``kubectl gitops suspend``) and ``Progressing`` (a push
sync or prune holds the app's Lease right now). Writing a heartbeat would cost a record write per poll; the
status changes only when something happens, and a no-op sync writes nothing.

Pure: no cluster, no clock beyond ``utc_now``; ``tests/unit/test_app_status.py`` covers it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kubectl_gitops.model import ResourceKey

ANN_STATUS = "gitops.kubectl.dev/status"
ANN_SUSPENDED = "gitops.kubectl.dev/suspended"  # "true" while suspended; the value of who/when is informative
DRIFT_KEYS_LIMIT = 20
MESSAGE_LIMIT = 1000


class Phase:
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    FAILED = "Failed"
    PROGRESSING = "Progressing"  # derived: a sync or prune holds the Lease
    SUSPENDED = "Suspended"  # derived: the suspended annotation
    UNKNOWN = "Unknown"  # no status recorded (never synced, or by an older version)


class Health:
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    PROGRESSING = "Progressing"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Drift:
    """Objects found different from Git by the last drift check (keys cut to ``DRIFT_KEYS_LIMIT``)."""

    objects: int = 0
    keys: tuple[str, ...] = ()

    @classmethod
    def of(cls, keys: Iterable[ResourceKey | str]) -> Drift:
        names = sorted(str(k) for k in keys)
        return cls(len(names), tuple(names[:DRIFT_KEYS_LIMIT]))

    def to_json(self) -> dict[str, Any]:
        return {"objects": self.objects, "keys": list(self.keys)}


@dataclass(frozen=True)
class AppStatus:
    phase: str = Phase.UNKNOWN
    health: str = Health.UNKNOWN
    message: str = ""
    last_seen_commit: str | None = None  # the newest commit the source showed
    last_synced_commit: str | None = None  # the commit of the last successful sync
    last_sync_time: str = ""  # of the last successful sync
    last_attempt_time: str = ""  # of the last sync, whatever its result
    last_seen_time: str = ""  # when the last seen commit was first seen
    drift: Drift = field(default_factory=Drift)
    self_heals: int = 0  # drift reverted by the watch loop (--self-heal), in all
    by: str = ""  # "sync" (push) or "watch"

    def to_json(self) -> dict[str, Any]:
        return {"phase": self.phase, "health": self.health, "message": self.message,
                "lastSeenCommit": self.last_seen_commit, "lastSyncedCommit": self.last_synced_commit,
                "lastSyncTime": self.last_sync_time, "lastAttemptTime": self.last_attempt_time,
                "lastSeenTime": self.last_seen_time, "drift": self.drift.to_json(), "selfHeals": self.self_heals,
                "by": self.by}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AppStatus:
        raw = d.get("drift")
        drift: dict[str, Any] = raw if isinstance(raw, dict) else {}
        raw_keys = drift.get("keys")
        keys: list[Any] = raw_keys if isinstance(raw_keys, list) else []
        return cls(phase=str(d.get("phase") or Phase.UNKNOWN), health=str(d.get("health") or Health.UNKNOWN),
                   message=str(d.get("message") or ""), last_seen_commit=_str(d.get("lastSeenCommit")),
                   last_synced_commit=_str(d.get("lastSyncedCommit")), last_sync_time=str(d.get("lastSyncTime") or ""),
                   last_attempt_time=str(d.get("lastAttemptTime") or ""),
                   last_seen_time=str(d.get("lastSeenTime") or ""),
                   drift=Drift(_int(drift.get("objects")), tuple(str(k) for k in keys[:DRIFT_KEYS_LIMIT])),
                   self_heals=_int(d.get("selfHeals")), by=str(d.get("by") or ""))

    def annotation(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True)

    # -- transitions (pure; the caller gives the time) ------------------------------------------------
    def seen(self, commit: str | None, now: str) -> AppStatus:
        """The source shows ``commit``: OutOfSync when it is not the synced one (a Failed status stays Failed
        for the commit that failed)."""
        if commit is None or commit == self.last_seen_commit:
            return self
        phase = self.phase if commit == self.last_synced_commit else Phase.OUT_OF_SYNC
        return replace(self, last_seen_commit=commit, last_seen_time=now, phase=phase,
                       message="" if phase == Phase.OUT_OF_SYNC else self.message)

    def synced(self, commit: str | None, now: str, *, health: str, by: str, healed: bool = False) -> AppStatus:
        return replace(self, phase=Phase.SYNCED, health=health, message="", last_synced_commit=commit,
                       last_seen_commit=commit if self.last_seen_commit != commit else self.last_seen_commit,
                       last_seen_time=self.last_seen_time if self.last_seen_commit == commit else now,
                       last_sync_time=now, last_attempt_time=now, drift=Drift(),
                       self_heals=self.self_heals + (1 if healed else 0), by=by)

    def failed(self, commit: str | None, now: str, message: str, *, health: str, by: str) -> AppStatus:
        seen = self.seen(commit, now)
        return replace(seen, phase=Phase.FAILED, health=health, message=_cut(message), last_attempt_time=now, by=by)

    def drifted(self, drift: Drift, *, by: str) -> AppStatus:
        """A drift check found ``drift`` (no objects: back in sync)."""
        if drift.objects == 0:
            phase = Phase.SYNCED if self.phase == Phase.OUT_OF_SYNC and self.last_seen_commit == \
                self.last_synced_commit else self.phase
            return replace(self, drift=drift, phase=phase)
        return replace(self, drift=drift, phase=Phase.OUT_OF_SYNC if self.phase != Phase.FAILED else self.phase,
                       message=f"{drift.objects} object(s) differ from Git (drift)" if self.phase != Phase.FAILED
                       else self.message, by=by)


def _str(v: Any) -> str | None:
    return str(v) if v else None


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 1] + "…"


def parse_status(annotations: Mapping[str, str]) -> AppStatus | None:
    """The stored status, or None (never written, or damaged: a damaged status must not block a sync)."""
    raw = annotations.get(ANN_STATUS)
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return AppStatus.from_json(doc) if isinstance(doc, dict) else None


def shown_phase(status: AppStatus | None, *, suspended: bool, progressing: bool) -> str:
    """The phase to show: Suspended and Progressing (derived) before the stored one."""
    if suspended:
        return Phase.SUSPENDED
    if progressing:
        return Phase.PROGRESSING
    return status.phase if status is not None else Phase.UNKNOWN


__all__ = ["ANN_STATUS", "ANN_SUSPENDED", "AppStatus", "Drift", "Health", "Phase", "parse_status", "shown_phase"]
