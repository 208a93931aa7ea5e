"""The record's read-modify-write: what a run writes is merged with the FRESH record (issue 12, item 6).

A run reads the app's record (the *base*), works for a while, then writes it. Another run of the same app
may have written the record in between (the *fresh* record, read again after the 409 that the base's
``resourceVersion`` causes). Writing the run's own view would undo the other run's widening: a namespace it
added to the scope, and with it every object it applied there, would fall out of every later ``diff`` and
``prune`` for good. So every write goes through ``merge_record``:

* **scope** (group-kinds x namespaces that prune LISTs). When nobody wrote since the base, a prune that
  listed every member narrows it exactly (``RecordUpdate.exact``), as the ApplySet algorithm does. When the
  fresh record differs from the base, the result is the fresh scope ∪ this run's scope, minus only the
  group-kinds and namespaces that this run's *deleted* objects alone occupied: not one this run still
  wants, not one a member of the fresh record is in, not one the other writer added. Without a prune the
  run only widens: fresh ∪ this run's.
* **members** (``data.sources``, member -> source file): this run's view ∪ whatever the other writer added
  or changed since the base, minus what this run deleted.
* **status** (phase, commits, drift): this run's, when it has one; the fresh record's ``suspended`` flag always
  stays (only ``suspend``/``resume`` change it).
* **history**: the run's entry is appended unless an entry with the same run id is already there, so a
  write that is sent again after an ambiguous failure (or re-done after a 409) never appends it twice.

Pure: no cluster, no clock; ``tests/unit/test_record_merge.py`` covers it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from kubectl_gitops.engine.app_status import AppStatus
from kubectl_gitops.engine.inventory import HistoryEntry, Record, Scope
from kubectl_gitops.model import ResourceKey


def new_run_id() -> str:
    """A random id for one run of sync or prune (16 hex digits), carried by its history entry."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class RecordUpdate:
    """What one run wants to write, computed from ``base`` (the record it read or last wrote)."""

    base: Record
    scope: Scope  # exact: the complete scope after this run's prune; else: what this run needs covered
    exact: bool = False  # a prune listed every member of base.scope: the scope may narrow to ``scope``
    sources: Mapping[ResourceKey, str] = field(default_factory=dict)  # this run's view of every member's source
    pruned: frozenset[ResourceKey] = frozenset()  # what this run deleted (or found gone)
    entry: HistoryEntry | None = None
    source: str = ""  # the record's "<repo> <path>" annotation; empty keeps the fresh one
    status: AppStatus | None = None  # the app's status after this run (app_status.py); None keeps the fresh one


def untouched(fresh: Record, base: Record) -> bool:
    """Nobody wrote the record since ``base`` was read or written."""
    return fresh.exists == base.exists and fresh.resource_version == base.resource_version


def has_run(record: Record, run: str) -> bool:
    return bool(run) and any(h.run == run for h in record.history)


def merge_scope(fresh: Record, update: RecordUpdate) -> Scope:
    base = update.base
    if not update.exact:
        return fresh.scope.union(update.scope)
    if untouched(fresh, base):
        return update.scope
    occupied = Scope.of([*update.sources, *(k for k in fresh.sources if k not in update.pruned)])
    deleted = Scope.of(update.pruned)
    keep = update.scope.union(occupied).union(Scope(fresh.scope.group_kinds - base.scope.group_kinds,
                                                    fresh.scope.namespaces - base.scope.namespaces))
    wider = fresh.scope.union(update.scope)
    return Scope(wider.group_kinds - (deleted.group_kinds - keep.group_kinds),
                 wider.namespaces - (deleted.namespaces - keep.namespaces))


def merge_sources(fresh: Record, update: RecordUpdate) -> dict[ResourceKey, str]:
    """This run's view, plus members the other writer added or moved since the base, minus what was pruned."""
    out = {k: v for k, v in update.sources.items() if k not in update.pruned}
    base = update.base.sources
    for key, src in fresh.sources.items():
        if key not in update.pruned and key not in out and base.get(key) != src:
            out[key] = src
    return out


def merge_record(fresh: Record, update: RecordUpdate) -> Record:
    """The record to write over ``fresh`` (see the module docstring); keeps fresh's resourceVersion."""
    merged = replace(fresh, scope=merge_scope(fresh, update), sources=merge_sources(fresh, update),
                     source=update.source or fresh.source, status=update.status or fresh.status)
    if update.entry is not None and not has_run(fresh, update.entry.run):
        merged = merged.with_entry(update.entry)
    return merged


__all__ = ["RecordUpdate", "has_run", "merge_record", "merge_scope", "merge_sources", "new_run_id",
           "untouched"]
