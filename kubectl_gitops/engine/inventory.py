"""The app's inventory: a kubectl-compatible ApplySet parent object, the record of what an app owns.

Why ApplySet: it is the Kubernetes standard for "which objects did this tool apply" (KEP-3659). An app's
record is a Secret ``kubectl-gitops.<app>`` in the record namespace (the kind kubectl uses by default), with

* label ``applyset.kubernetes.io/id: applyset-<base64url(sha256("<name>.<namespace>.Secret."))>-v1``,
  exactly kubectl's algorithm, so ``kubectl get`` with ``-l applyset.kubernetes.io/part-of=<id>`` lists
  the app's objects;
* annotation ``applyset.kubernetes.io/tooling: kubectl-gitops/v<version>``: another tool's parent is never
  touched, and kubectl refuses to touch ours;
* annotations ``applyset.kubernetes.io/contains-group-kinds`` (``ConfigMap,Deployment.apps``: sorted, core
  kinds bare) and ``applyset.kubernetes.io/additional-namespaces`` (sorted, without the record's own
  namespace, which is always included): together the *scope* prune LISTs;
* ``data.history``: the last ``HISTORY_LIMIT`` syncs and prunes as JSON (``kubectl gitops history``);
* ``data.sources``: which file (or kustomize/Helm folder) each member was rendered from, as JSON
  ``{"<renderer>:<path>": [[group, kind, namespace, name], ...]}`` (see ``prune.source_of``): a prune
  limited by ``--include``/``--exclude`` considers only members whose source it selected. Left out when it
  would exceed ``SOURCES_LIMIT`` bytes (then such prunes refuse, as for records of older versions).

Members carry the label ``applyset.kubernetes.io/part-of: <id>``.

The crash-safe order (the ApplySet algorithm): before applying, the scope becomes old ∪ new; after a
successful prune it becomes exactly the desired scope (plus the scope of members that were deliberately
kept). A run killed at any point leaves a scope that covers every labelled object, so the next prune
finds them all. Every write is a read-modify-write merged with the fresh record (``record_merge.py``), so a
run never narrows the scope another run widened meanwhile, and never appends its history entry twice.

Ownership of live objects (other tools' markers, conflicts) is ownership.py; the app's name app_names.py.

Everything above ``# --- cluster`` is pure; the functions below it read and write the parent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kubectl_gitops import FIELD_MANAGER, __version__
from kubectl_gitops.engine.app_status import ANN_STATUS, ANN_SUSPENDED, AppStatus, parse_status
from kubectl_gitops.errors import RefusedError
from kubectl_gitops.model import Obj, ResourceKey

if TYPE_CHECKING:
    from kubectl_gitops.cluster.client import Cluster

LABEL_APPLYSET_ID = "applyset.kubernetes.io/id"
LABEL_PART_OF = "applyset.kubernetes.io/part-of"
ANN_TOOLING = "applyset.kubernetes.io/tooling"
ANN_GROUP_KINDS = "applyset.kubernetes.io/contains-group-kinds"
ANN_ADDITIONAL_NAMESPACES = "applyset.kubernetes.io/additional-namespaces"
ANN_APP = "gitops.kubectl.dev/app"
ANN_SOURCE = "gitops.kubectl.dev/source"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"

TOOLING_NAME = "kubectl-gitops"
TOOLING = f"{TOOLING_NAME}/v{__version__}"
PARENT_KIND = "Secret"
PARENT_GROUP = ""
PARENT_API_VERSION = "v1"
PARENT_PREFIX = "kubectl-gitops."
DATA_HISTORY = "history"
HISTORY_LIMIT = 20
DATA_SOURCES = "sources"
SOURCES_LIMIT = 512 * 1024  # a Secret holds at most 1 MiB in all


# --- identity --------------------------------------------------------------------------------------------

def applyset_id(name: str, namespace: str, kind: str = PARENT_KIND, group: str = PARENT_GROUP) -> str:
    """kubectl's ApplySet id: ``applyset-<base64url-nopad(sha256("<name>.<namespace>.<kind>.<group>"))>-v1``."""
    digest = hashlib.sha256(f"{name}.{namespace}.{kind}.{group}".encode()).digest()
    return "applyset-" + base64.urlsafe_b64encode(digest).decode().rstrip("=") + "-v1"


@dataclass(frozen=True)
class AppRef:
    """Which app, and where its record lives."""

    name: str
    namespace: str  # the record's namespace

    @property
    def parent_name(self) -> str:
        return PARENT_PREFIX + self.name

    @property
    def id(self) -> str:
        return applyset_id(self.parent_name, self.namespace)

    @property
    def selector(self) -> str:
        """The label selector of the app's members."""
        return f"{LABEL_PART_OF}={self.id}"

    @property
    def member_labels(self) -> dict[str, str]:
        return {LABEL_PART_OF: self.id}

    def __str__(self) -> str:
        return f"{self.name} (record {PARENT_KIND} {self.namespace}/{self.parent_name})"


# --- scope: group-kinds x namespaces -----------------------------------------------------------------------

def parse_group_kind(text: str) -> tuple[str, str]:
    """``Deployment.apps`` -> (``apps``, ``Deployment``); ``ConfigMap`` -> (``""``, ``ConfigMap``)."""
    kind, _, group = text.partition(".")
    return group, kind


def _csv(value: str | None) -> frozenset[str]:
    return frozenset(p.strip() for p in (value or "").split(",") if p.strip())


@dataclass(frozen=True)
class Scope:
    """Where members may be: group-kinds, and namespaces of namespaced members (the record's own
    namespace is always searched too, as kubectl does)."""

    group_kinds: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()

    @classmethod
    def of(cls, keys: Iterable[ResourceKey]) -> Scope:
        gks, nss = set(), set()
        for k in keys:
            gks.add(k.group_kind)
            if k.namespace:
                nss.add(k.namespace)
        return cls(frozenset(gks), frozenset(nss))

    def union(self, other: Scope) -> Scope:
        return Scope(self.group_kinds | other.group_kinds, self.namespaces | other.namespaces)

    def covers(self, other: Scope) -> bool:
        return other.group_kinds <= self.group_kinds and other.namespaces <= self.namespaces

    def search_namespaces(self, record_namespace: str) -> list[str]:
        """Namespaces a LIST of a namespaced kind must look in: the recorded ones and the record's own."""
        return sorted(self.namespaces | {record_namespace})

    def annotations(self, record_namespace: str) -> dict[str, str]:
        return {
            ANN_GROUP_KINDS: ",".join(sorted(self.group_kinds)),
            ANN_ADDITIONAL_NAMESPACES: ",".join(sorted(self.namespaces - {record_namespace})),
        }

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str], record_namespace: str) -> Scope:
        """The parent's scope; its own namespace is implicit in the annotation and explicit here."""
        return cls(_csv(annotations.get(ANN_GROUP_KINDS)),
                   _csv(annotations.get(ANN_ADDITIONAL_NAMESPACES)) | {record_namespace})


# --- history ---------------------------------------------------------------------------------------------

def utc_now() -> str:
    """ISO-8601 UTC to the second: ``2024-05-01T12:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class HistoryEntry:
    """One sync or prune, as recorded in the parent. ``revision`` only ever grows."""

    revision: int
    operation: str  # sync | prune
    result: str  # succeeded | failed
    time: str = field(default_factory=utc_now)
    user: str = ""
    context: str = ""
    commit: str | None = None
    ref: str | None = None
    path: str = "."
    dirty: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    message: str = ""
    seconds: float = 0.0
    run: str = ""  # the run's random id: a write re-done after a failure never appends the entry twice
    images: tuple[str, ...] = ()  # the run's --image overrides (source.images' canonical text)

    def to_json(self) -> dict[str, Any]:
        out = {"revision": self.revision, "operation": self.operation, "result": self.result, "time": self.time,
               "user": self.user, "context": self.context, "commit": self.commit, "ref": self.ref,
               "path": self.path, "dirty": self.dirty, "counts": dict(self.counts), "message": self.message,
               "seconds": round(self.seconds, 3)}
        if self.run:
            out["run"] = self.run
        if self.images:
            out["images"] = list(self.images)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> HistoryEntry:
        counts = d.get("counts") or {}
        return cls(revision=int(d.get("revision") or 0), operation=str(d.get("operation") or "sync"),
                   result=str(d.get("result") or ""), time=str(d.get("time") or ""), user=str(d.get("user") or ""),
                   context=str(d.get("context") or ""), commit=d.get("commit") or None, ref=d.get("ref") or None,
                   path=str(d.get("path") or "."), dirty=bool(d.get("dirty")),
                   counts={str(k): int(v) for k, v in counts.items() if isinstance(v, int)},
                   message=str(d.get("message") or ""), seconds=float(d.get("seconds") or 0.0),
                   run=str(d.get("run") or ""),
                   images=tuple(str(i) for i in d.get("images") or () if isinstance(i, str)))


# --- the record --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """The parent object, parsed. ``exists`` is False before the app's first sync."""

    app: AppRef
    scope: Scope = field(default_factory=Scope)
    history: tuple[HistoryEntry, ...] = ()
    exists: bool = False
    resource_version: str | None = None
    source: str = ""  # "<repo> <path>", informative
    sources: Mapping[ResourceKey, str] = field(default_factory=dict)  # member -> "<renderer>:<path>"
    uid: str | None = None  # of the live parent (``delete_record`` deletes only that one; Events name it)
    status: AppStatus | None = None  # app_status.py: phase, health, commits, drift
    suspended: str = ""  # non-empty while `kubectl gitops suspend` holds the watch loop off (who and when)

    @property
    def next_revision(self) -> int:
        return max((h.revision for h in self.history), default=0) + 1

    def with_entry(self, entry: HistoryEntry) -> Record:
        """The record with ``entry`` appended (its revision assigned) and history cut to the limit."""
        entry = replace(entry, revision=self.next_revision)
        return replace(self, history=(*self.history, entry)[-HISTORY_LIMIT:])


def parse_parent(obj: Obj, app: AppRef) -> Record:
    """Read a live parent. Refuses (``RefusedError``) a parent of another tool, or one whose id label does
    not match: touching it could orphan or delete another tool's objects."""
    meta = obj.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    where = f"{PARENT_KIND} {app.namespace}/{app.parent_name}"
    tooling = annotations.get(ANN_TOOLING)
    if tooling is None:
        raise RefusedError(
            f"{where} exists but is not an ApplySet parent of kubectl-gitops (no {ANN_TOOLING} annotation)",
            hint="it was made by someone else: choose another --app name or --record-namespace, or delete it "
                 "if you are sure it is unused")
    base = tooling.rsplit("/", 1)[0] if "/" in tooling else tooling
    if base != TOOLING_NAME:
        raise RefusedError(
            f"{where} is an ApplySet managed by {base!r} (tooling {tooling!r}), not by kubectl-gitops",
            hint="ApplySet tools must not modify each other's sets: choose another --app or --record-namespace")
    if labels.get(LABEL_APPLYSET_ID) != app.id:
        raise RefusedError(
            f"{where} has {LABEL_APPLYSET_ID}={labels.get(LABEL_APPLYSET_ID)!r}, expected {app.id!r}",
            hint="the record was copied or edited by hand; delete the label's wrong value or the object")
    history: list[HistoryEntry] = []
    raw = (obj.get("data") or {}).get(DATA_HISTORY)
    if raw:
        try:
            entries = json.loads(base64.b64decode(raw))
            history = [HistoryEntry.from_json(e) for e in entries if isinstance(e, dict)]
        except (ValueError, TypeError):
            history = []  # a damaged history must not block a sync; the next write replaces it
    return Record(app=app, scope=Scope.from_annotations(annotations, app.namespace), history=tuple(history),
                  exists=True, resource_version=meta.get("resourceVersion"), source=annotations.get(ANN_SOURCE, ""),
                  sources=decode_sources((obj.get("data") or {}).get(DATA_SOURCES)), uid=meta.get("uid"),
                  status=parse_status(annotations), suspended=str(annotations.get(ANN_SUSPENDED) or ""))


def encode_sources(sources: Mapping[ResourceKey, str]) -> str | None:
    """``data.sources`` (base64 JSON), or None when there is nothing to record or it is over the limit."""
    by_source: dict[str, list[list[str]]] = {}
    for key in sorted(sources):
        by_source.setdefault(sources[key], []).append([key.group, key.kind, key.namespace, key.name])
    if not by_source:
        return None
    text = json.dumps(by_source, separators=(",", ":"), sort_keys=True)
    return base64.b64encode(text.encode()).decode() if len(text) <= SOURCES_LIMIT else None


def decode_sources(raw: Any) -> dict[ResourceKey, str]:
    """The members' sources; a missing or damaged field gives none (every member is then unattributed, and a
    prune limited by --include/--exclude refuses rather than guess)."""
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        doc = json.loads(base64.b64decode(raw))
    except (ValueError, TypeError):
        return {}
    out: dict[ResourceKey, str] = {}
    if not isinstance(doc, dict):
        return out
    for source, keys in doc.items():
        if not isinstance(source, str) or not isinstance(keys, list):
            continue
        for k in keys:
            if isinstance(k, list) and len(k) == 4 and all(isinstance(v, str) for v in k):
                out[ResourceKey(*k)] = source
    return out


def parent_object(record: Record) -> Obj:
    """The parent as sent with server-side apply (with ``resourceVersion``: a lost update fails, 409)."""
    app = record.app
    history = json.dumps([h.to_json() for h in record.history], separators=(",", ":"), sort_keys=True)
    meta: Obj = {
        "name": app.parent_name,
        "namespace": app.namespace,
        "labels": {LABEL_APPLYSET_ID: app.id, LABEL_MANAGED_BY: TOOLING_NAME},
        "annotations": {ANN_TOOLING: TOOLING, ANN_APP: app.name, **record.scope.annotations(app.namespace)},
    }
    if record.source:
        meta["annotations"][ANN_SOURCE] = record.source
    if record.status is not None:
        meta["annotations"][ANN_STATUS] = record.status.annotation()
    if record.suspended:
        meta["annotations"][ANN_SUSPENDED] = record.suspended
    if record.resource_version:
        meta["resourceVersion"] = record.resource_version
    data = {DATA_HISTORY: base64.b64encode(history.encode()).decode()}
    sources = encode_sources(record.sources)
    if sources is not None:
        data[DATA_SOURCES] = sources
    return {"apiVersion": PARENT_API_VERSION, "kind": PARENT_KIND, "metadata": meta, "type": "Opaque",
            "data": data}


# --- cluster -----------------------------------------------------------------------------------------------

def _parent_type(cluster: Cluster) -> Any:
    rt = cluster.discovery.lookup(PARENT_API_VERSION, PARENT_KIND)
    if rt is None:  # pragma: no cover - every API server serves v1 Secrets
        from kubectl_gitops.cluster.client import ResourceType

        rt = ResourceType("", "v1", "Secret", "secrets", True)
    return rt


def read_record(cluster: Cluster, app: AppRef) -> Record:
    """The app's record (one GET); an empty, not-yet-existing record before the first sync."""
    obj = cluster.get(_parent_type(cluster), app.namespace, app.parent_name)
    if obj is None:
        return Record(app=app)
    return parse_parent(obj, app)


def delete_record(cluster: Cluster, record: Record) -> bool:
    """Delete the parent (``kubectl gitops delete``, once every member is gone), only the one that was read:
    a record re-created since (another run) is a 409 ``ApiError``. False when it was already gone."""
    return cluster.delete(_parent_type(cluster), record.app.namespace, record.app.parent_name,
                          propagation="Background", uid=record.uid)


def write_record(cluster: Cluster, record: Record) -> Record:
    """Server-side apply the parent; returns the record with its new resourceVersion. A 409 means someone
    else wrote it since we read it (the caller re-reads and retries, see ``update_record``)."""
    from kubectl_gitops.cluster.client import ApiError

    rt = _parent_type(cluster)
    try:
        live = cluster.apply(parent_object(record), rt, force=True, field_manager=FIELD_MANAGER)
    except ApiError as e:
        if e.not_found and "namespace" in e.message.lower():
            raise RefusedError(
                f"cannot write the record of app {record.app.name}: namespace {record.app.namespace} does not exist",
                hint="create it, or choose an existing one with --record-namespace (default: the context's "
                     "namespace)") from e
        raise
    meta = live.get("metadata") or {}
    return replace(record, exists=True, resource_version=meta.get("resourceVersion"),
                   uid=meta.get("uid") or record.uid)


def update_record(cluster: Cluster, app: AppRef, change: Callable[[Record], Record], *, current: Record | None = None,
                  attempts: int = 5) -> Record:
    """Read-modify-write the parent with optimistic locking: ``change`` is re-applied to a fresh read when
    another writer got in between (or when our own write landed but its answer was lost, and the re-sent
    apply met our new resourceVersion). ``change`` merges with the record it is given (record_merge.py).
    A change that leaves the record as it is writes nothing."""
    from kubectl_gitops.cluster.client import ApiError

    record = current if current is not None else read_record(cluster, app)
    for attempt in range(attempts):
        new = change(record)
        if record.exists and parent_object(new) == parent_object(record):
            return record  # e.g. a write re-done after a reset had already landed: nothing to add
        try:
            return write_record(cluster, new)
        except ApiError as e:
            if not e.conflict or attempt == attempts - 1:
                raise
            record = read_record(cluster, app)
    raise AssertionError("unreachable")  # pragma: no cover
