"""Who holds a Lease, as read from it (``Holder``), who we are (``local_holder``), and its MicroTime format."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from kubectl_gitops.settings import environment

ANN_COMMAND = "gitops.kubectl.dev/lease-command"  # what the holder runs, for humans: "sync 1a2b3c4d5e6f"
DEFAULT_DURATION = 30.0


def local_holder() -> str:
    """``user@host``, or the pod's name inside a pod (``POD_NAME``, else ``HOSTNAME``)."""
    env = environment()
    if env.pod:
        return f"pod/{env.pod}"
    user = env.user
    if not user:
        try:
            user = getpass.getuser()
        except Exception:
            user = "unknown"
    return f"{user}@{socket.gethostname()}"


def format_time(t: float) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds, UTC."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Holder:
    """Who holds a Lease, as read from it."""

    identity: str
    command: str
    acquired: float | None
    renewed: float | None
    duration: float

    @classmethod
    def of(cls, obj: dict[str, Any]) -> Holder:
        spec = obj.get("spec") or {}
        ann = (obj.get("metadata") or {}).get("annotations") or {}
        return cls(str(spec.get("holderIdentity") or ""), str(ann.get(ANN_COMMAND) or ""),
                   parse_time(spec.get("acquireTime")), parse_time(spec.get("renewTime")),
                   float(spec.get("leaseDurationSeconds") or DEFAULT_DURATION))

    @property
    def free(self) -> bool:
        return not self.identity

    def expired(self, now: float) -> bool:
        last = self.renewed if self.renewed is not None else self.acquired
        return last is None or last + self.duration < now

    def describe(self, now: float) -> str:
        """``ana@laptop (pid 4242, sync 1a2b3c4d5e6f) since 2024-05-01T09:12:40Z, renewed 3s ago``."""
        who, pid, _ = ([*self.identity.split("/", 2), "", ""])[:3]
        parts = [p for p in (f"pid {pid}" if pid else "", self.command) if p]
        text = who + (f" ({', '.join(parts)})" if parts else "")
        if self.acquired is not None:
            text += " since " + datetime.fromtimestamp(self.acquired, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.renewed is not None:
            text += f", renewed {max(0, round(now - self.renewed))}s ago"
        return text
