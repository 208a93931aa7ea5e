"""Drift: which other field manager set a live field that a sync would change, how and when."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubectl_gitops import FIELD_MANAGER
from kubectl_gitops.engine.diff.fields import entry_paths, managed_fields, path_string, resolve
from kubectl_gitops.engine.diff.normalize import normalize
from kubectl_gitops.engine.diff.tree import MISSING, same
from kubectl_gitops.model import Obj


@dataclass(frozen=True)
class Drift:
    """A field whose live value was set by another field manager, and a sync would change."""

    path: str  # "spec.replicas", "spec.template.spec.containers[name=web].image"
    manager: str
    operation: str  # Apply | Update
    time: str | None  # RFC 3339, from managedFields

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "manager": self.manager, "operation": self.operation, "time": self.time}


def drift_between(before: Obj, after: Obj, managed_fields: list[dict[str, Any]], field_manager: str) -> list[Drift]:
    found: dict[str, Drift] = {}
    for entry in managed_fields:
        manager = str(entry.get("manager") or "")
        if manager == field_manager or not manager:
            continue
        for path in entry_paths(entry):
            bv = resolve(before, path)
            if bv is MISSING or same(bv, resolve(after, path)):
                continue
            d = Drift(path_string(path), manager, str(entry.get("operation") or ""), entry.get("time"))
            old = found.get(d.path)
            if old is None or (d.time or "") > (old.time or ""):
                found[d.path] = d  # shared ownership: the latest writer
    return sorted(found.values(), key=lambda d: d.path)


def drift(live: Obj, merged: Obj, field_manager: str = FIELD_MANAGER) -> list[Drift]:
    """Fields that differ between (normalised) live and merged and that another manager set in live:
    who, how (Apply/Update) and when. Fields only we own are plain changes from git, not drift."""
    return drift_between(normalize(live), normalize(merged), managed_fields(live), field_manager)
