"""``run_status``, ``run_list``, ``run_suspend``: the apps' status as their records say (``kubectl gitops status``,
``list``, ``suspend``, ``resume``).

Reads are one GET of the record and one of the Lease per app (``list``: one LIST of records and one of Leases per
namespace, or across the cluster). The Lease adds what the record cannot say without a write per poll: a push sync
or prune holding it right now (``Progressing``) and which process holds the app (a ``sync --watch`` holder).
``suspend``/``resume`` change only the record's ``gitops.kubectl.dev/suspended`` annotation (read-modify-write,
merged like every record write) and post an Event; they do not take the Lease, so they work while a watch loop
holds it — the loop reads the flag before each sync.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, replace
from typing import Any

from kubectl_gitops.cluster.client import Cluster, ResourceType
from kubectl_gitops.engine.app_events import post_event
from kubectl_gitops.engine.app_status import AppStatus, shown_phase
from kubectl_gitops.engine.inventory import (
    LABEL_MANAGED_BY,
    PARENT_PREFIX,
    TOOLING_NAME,
    AppRef,
    Record,
    parse_parent,
    read_record,
    update_record,
    utc_now,
)
from kubectl_gitops.engine.lease_holder import Holder
from kubectl_gitops.engine.run_record import current_user
from kubectl_gitops.errors import GitopsError, InvalidInputError
from kubectl_gitops.ops.app import app_name
from kubectl_gitops.settings import Settings
from kubectl_gitops.source.repo import open_source

SECRETS = ResourceType("", "v1", "Secret", "secrets", True)
LEASES = ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True)


@dataclass
class AppState:
    """One app as read: its record, the Lease's holder (None: no Lease or free), and when it was read."""

    app: AppRef
    record: Record
    holder: Holder | None = None
    created: str = ""  # the record's creationTimestamp
    now: float = dataclasses.field(default_factory=time.time)

    @property
    def status(self) -> AppStatus:
        return self.record.status or AppStatus()

    @property
    def progressing(self) -> bool:
        """A push sync or prune holds the Lease (a watch loop holds it between syncs too: not Progressing)."""
        h = self.holder
        return h is not None and not h.expired(self.now) and h.command.split(" ", 1)[0] in ("sync", "prune")

    @property
    def phase(self) -> str:
        return shown_phase(self.record.status, suspended=bool(self.record.suspended), progressing=self.progressing)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"app": self.app.name, "recordNamespace": self.app.namespace,
                               "exists": self.record.exists, "source": self.record.source, **self.status.to_json(),
                               "phase": self.phase, "storedPhase": self.status.phase,
                               "suspended": bool(self.record.suspended), "created": self.created}
        if self.record.suspended:
            out["suspendedBy"] = self.record.suspended
        if self.holder is not None and not self.holder.free:
            out["lease"] = {"holder": self.holder.identity, "command": self.holder.command,
                            "expired": self.holder.expired(self.now)}
        last = self.record.history[-1] if self.record.history else None
        if last is not None:
            out["lastOperation"] = last.to_json()
        return out


@dataclass
class StatusResult:
    apps: list[AppState]
    context: str


def _named_app(settings: Settings, name: str | None) -> str:
    """APP when given, else ``--app``, else the app the repository and --path map to (as history does)."""
    if name:
        return app_name(dataclasses.replace(settings, app=dataclasses.replace(settings.app, name=name)), None)
    if settings.app.name:
        return app_name(settings, None)
    with open_source(dataclasses.replace(settings.source, ref=None), committed_only=False) as checkout:
        return app_name(settings, checkout)


def _holder(cluster: Cluster, app: AppRef) -> Holder | None:
    try:
        obj = cluster.get(LEASES, app.namespace, f"{PARENT_PREFIX}{app.name}")
    except GitopsError:
        return None  # reading Leases is not needed to show a status (RBAC may not allow it)
    return Holder.of(obj) if obj is not None else None


def run_status(settings: Settings, name: str | None = None) -> StatusResult:
    """One app: a GET of its record and one of its Lease."""
    app_ = _named_app(settings, name)
    cluster = Cluster.connect(settings.cluster, pool_size=2)
    try:
        app = AppRef(app_, settings.app.record_namespace or cluster.namespace)
        obj = cluster.get(SECRETS, app.namespace, app.parent_name)
        record = parse_parent(obj, app) if obj is not None else Record(app)
        created = str(((obj or {}).get("metadata") or {}).get("creationTimestamp") or "")
        return StatusResult([AppState(app, record, _holder(cluster, app), created)], cluster.context)
    finally:
        cluster.close()


def run_list(settings: Settings, *, all_namespaces: bool = False) -> StatusResult:
    """Every app whose record is in the namespace (``--record-namespace``, else the context's) or, with
    ``all_namespaces``, in the cluster: one LIST of records and one of Leases. Records another tool made, or
    damaged ones, are left out."""
    cluster = Cluster.connect(settings.cluster, pool_size=2)
    try:
        ns = None if all_namespaces else (settings.app.record_namespace or cluster.namespace)
        holders: dict[tuple[str, str], Holder] = {}
        try:
            for lease in cluster.list(LEASES, ns):
                meta = lease.get("metadata") or {}
                if str(meta.get("name", "")).startswith(PARENT_PREFIX):
                    holders[(meta.get("namespace", ""), meta["name"])] = Holder.of(lease)
        except GitopsError:
            pass  # Leases only add Progressing
        apps = []
        for obj in cluster.list(SECRETS, ns, label_selector=f"{LABEL_MANAGED_BY}={TOOLING_NAME}"):
            meta = obj.get("metadata") or {}
            name = str(meta.get("name", ""))
            if not name.startswith(PARENT_PREFIX):
                continue
            app = AppRef(name[len(PARENT_PREFIX):], str(meta.get("namespace", "")))
            try:
                record = parse_parent(obj, app)
            except GitopsError:
                continue
            apps.append(AppState(app, record, holders.get((app.namespace, name)),
                                 str(meta.get("creationTimestamp") or "")))
        apps.sort(key=lambda a: (a.app.namespace, a.app.name))
        return StatusResult(apps, cluster.context)
    finally:
        cluster.close()


def run_suspend(settings: Settings, name: str | None, *, suspend: bool) -> AppState:
    """Set or clear the suspended flag on the app's record (a write only when it changes) and post an Event."""
    app_ = _named_app(settings, name)
    cluster = Cluster.connect(settings.cluster, pool_size=2)
    try:
        app = AppRef(app_, settings.app.record_namespace or cluster.namespace)
        record = read_record(cluster, app)
        if not record.exists:
            raise InvalidInputError(
                f"app {app.name} has no record in namespace {app.namespace} on context {cluster.context}: it was "
                "never synced there", hint="check the name, --record-namespace and --context (kubectl gitops list)")
        flag = f"{current_user()} {utc_now()}" if suspend else ""
        if bool(record.suspended) != suspend:
            record = update_record(cluster, app, lambda r: replace(r, suspended=flag if suspend else ""),
                                   current=record)
            post_event(cluster, app, record.uid, "Suspended" if suspend else "Resumed",
                       f"{'suspended' if suspend else 'resumed'} by {current_user()}: the watch loop "
                       f"{'does not sync this app until resume' if suspend else 'syncs it again'}")
        return AppState(app, record, _holder(cluster, app))
    finally:
        cluster.close()


__all__ = ["AppState", "StatusResult", "run_list", "run_status", "run_suspend"]
