"""Progress events: how the core tells the CLI what is happening without printing.

Long operations take an ``on_event`` callback; the CLI renders events as human lines, a progress bar,
or one JSON object per line (``-o json``). Events never carry secret values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    type: str  # e.g. "wave.start", "apply", "health", "wave.done", "hook.done", "sync.done", "log"
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {**self.data, "type": self.type, "time": round(self.time, 3), "message": self.message}


EventSink = Callable[[Event], None]


def discard(_: Event) -> None:
    """The default sink: drop events."""
