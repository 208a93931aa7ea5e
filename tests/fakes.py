"""A fake API server in memory, for fast unit tests of the engine (sync, hooks, prune, the record, the Lease).

``fake_cluster()`` returns a real ``kubectl_gitops.cluster.client.Cluster`` whose transport is a ``FakeApiServer``:
the engine runs the client's own code (discovery, get/list/apply/create/delete, retries and their rules,
409 classification, ``AmbiguousWriteError`` for a non-idempotent write whose answer was lost, ``writes``,
``write_guard``, ``sibling()``, ``close()``) and only the HTTP server is faked. What the server does:

* serves the types it is given (``serve``; the usual core/apps/batch/coordination ones by default) through
  aggregated discovery;
* stores objects by type, namespace and name with ``uid``, ``resourceVersion`` (one counter for all),
  ``creationTimestamp`` and ``generation``; GET (404 when absent), LIST (label selectors ``k=v``, ``k!=v``,
  ``k``, ``!k``, ``k in (a,b)``; pages; ``PartialObjectMetadataList`` when asked), server-side apply
  (create or merge: maps merge, lists are replaced, and map fields the same manager applied before and
  leaves out now are removed; each manager's Apply entry in ``managedFields``, lists owned whole; a
  ``resourceVersion`` in the body must match; fields ``claim``-ed by another manager give a
  FieldManagerConflict 409 unless forced), POST (``generateName``, 409 AlreadyExists), PUT (404, stale 409),
  DELETE (404, the uid precondition's 409; ``finalizers`` leave the object with a ``deletionTimestamp``),
  ``dryRun`` writes that store nothing;
* health you set: ``mark_ready``/``mark_failed``/``set_status``, or ``complete_jobs`` (Jobs finish on creation);
* faults (``fail``): per method and kind/name, an API status (``status=503``...), a connection reset or a
  timeout before the server acted (``reset="before"``) or after (``reset="after"``: the write happened, the
  answer was lost), any exception to raise as is, or a callback to run first (a rival's write). ``times``
  bounds how often a fault fires.

No clock, no threads of its own, no sleeping: the client's back-off sleep is a no-op.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

from kubectl_gitops.cluster.client import Cluster, ResourceType
from kubectl_gitops.errors import TransportError
from kubectl_gitops.model import Obj, ResourceKey

T = ResourceType
CONFIGMAP = T("", "v1", "ConfigMap", "configmaps", True, frozenset({"get", "list", "create", "patch", "delete"}))
SECRET = T("", "v1", "Secret", "secrets", True, frozenset({"get", "list", "create", "patch", "delete"}))
SERVICE = T("", "v1", "Service", "services", True, frozenset({"get", "list", "create", "patch", "delete"}))
NAMESPACE = T("", "v1", "Namespace", "namespaces", False, frozenset({"get", "list", "create", "patch", "delete"}))
POD = T("", "v1", "Pod", "pods", True, frozenset({"get", "list", "create", "delete"}))
DEPLOYMENT = T("apps", "v1", "Deployment", "deployments", True, frozenset({"get", "list", "create", "patch", "delete"}))
JOB = T("batch", "v1", "Job", "jobs", True, frozenset({"get", "list", "create", "patch", "delete"}))
LEASE = T("coordination.k8s.io", "v1", "Lease", "leases", True, frozenset({"get", "list", "create", "update"}))
CRD = T("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
        frozenset({"get", "list", "create", "patch", "delete"}))
WIDGET = T("example.com", "v1", "Widget", "widgets", True, frozenset({"get", "list", "create", "patch", "delete"}))
DEFAULT_TYPES = (CONFIGMAP, SECRET, SERVICE, NAMESPACE, POD, DEPLOYMENT, JOB, LEASE, CRD, WIDGET)

METHODS = ("GET", "LIST", "PATCH", "POST", "PUT", "DELETE")


@dataclass
class Response:
    status: int
    reason: str
    data: bytes
    retry_after: str | None = None


@dataclass
class Fault:
    """One scripted failure. ``method`` is GET, LIST, PATCH, POST, PUT or DELETE (LIST: a GET of a collection);
    ``kind``/``name``/``namespace`` None match any. ``times`` None: for ever."""

    method: str
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    status: int | None = None  # answer this status (a Status body with message/reason/causes)
    message: str = ""
    reason: str | None = None
    causes: list[dict[str, Any]] = field(default_factory=list)
    retry_after: float | None = None
    reset: str | None = None  # "before": nothing sent (sent=False); "after": acted, then the answer lost
    timeout: bool = False  # with reset: a timeout instead of a connection reset
    error: BaseException | None = None  # raised as is (before the server acts)
    before: Callable[[], None] | None = None  # run before the server acts (e.g. another writer's request)
    times: int | None = 1
    fired: int = 0

    def matches(self, method: str, kind: str, namespace: str, name: str) -> bool:
        return (self.method == method and (self.times is None or self.fired < self.times)
                and self.kind in (None, kind) and self.name in (None, name) and self.namespace in (None, namespace))


def _status(code: int, message: str, reason: str | None, causes: list[dict[str, Any]] | None = None,
            retry_after: float | None = None) -> Response:
    details: dict[str, Any] = {"causes": causes} if causes else {}
    if retry_after is not None:
        details["retryAfterSeconds"] = int(retry_after)
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
            "code": code, "details": details}
    return Response(code, reason or "Error", json.dumps(body).encode())


def _ok(obj: Any, code: int = 200) -> Response:
    return Response(code, "OK", json.dumps(obj).encode() if obj is not None else b"")


class _Answer(Exception):
    def __init__(self, response: Response):
        self.response = response


def _fail(code: int, message: str, reason: str | None, causes: list[dict[str, Any]] | None = None) -> _Answer:
    return _Answer(_status(code, message, reason, causes))


def parse_selector(text: str | None) -> Callable[[dict[str, str]], bool]:
    """A label selector's test: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``, ``k notin (a,b)``."""
    tests: list[tuple[str, str, set[str]]] = []  # (op, key, values)
    for part in re.findall(r"[^,(]+(?:\([^)]*\))?", text or ""):
        part = part.strip()
        if not part:
            continue
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", part):
            tests.append((m.group(2), m.group(1), {v.strip() for v in m.group(3).split(",")}))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            tests.append(("notin", key.strip(), {value.strip()}))
        elif "=" in part:
            key, value = part.replace("==", "=").split("=", 1)
            tests.append(("in", key.strip(), {value.strip()}))
        elif part.startswith("!"):
            tests.append(("absent", part[1:].strip(), set()))
        else:
            tests.append(("exists", part, set()))

    def one(op: str, key: str, values: set[str], labels: dict[str, str]) -> bool:
        if op == "exists":
            return key in labels
        if op == "absent":
            return key not in labels
        return (labels.get(key) in values) == (op == "in")

    return lambda labels: all(one(op, k, vs, labels) for op, k, vs in tests)


def prune_fields(live: Any, before: Any, now: Any) -> Any:
    """``live`` without the map fields a manager applied ``before`` and no longer applies ``now``."""
    if not (isinstance(live, dict) and isinstance(before, dict)):
        return live
    now = now if isinstance(now, dict) else {}
    out = {}
    for k, v in live.items():
        if k in before and k not in now:
            continue
        out[k] = prune_fields(v, before[k], now[k]) if k in before and k in now else v
    return out


def fields_v1(obj: Any, top: bool = True) -> dict[str, Any]:
    """The managedFields ``fieldsV1`` of an applied body, simplified: maps key by key, lists and scalars whole
    (the server's element keys ``k:``/``v:`` are not modelled); apiVersion, kind, name and namespace left out."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if top and k in ("apiVersion", "kind"):
            continue
        if top and k == "metadata":
            v = {mk: mv for mk, mv in (v or {}).items() if mk not in ("name", "namespace", "resourceVersion")}
            if not v:
                continue
        out[f"f:{k}"] = fields_v1(v, top=False) if isinstance(v, dict) else {}
    return out


def merge(live: Any, patch: Any) -> Any:
    """Server-side apply's effect, simplified: maps merge recursively, everything else is replaced (fields the
    same manager applied last time and leaves out now are removed first: ``prune_fields``)."""
    if isinstance(live, dict) and isinstance(patch, dict):
        out = dict(live)
        for k, v in patch.items():
            out[k] = merge(live.get(k), v) if k in live else copy.deepcopy(v)
        return out
    return copy.deepcopy(patch)


class FakeApiServer:
    """The transport of a fake ``Cluster``: ``send`` answers like a kube-apiserver, from memory."""

    def __init__(self, types: Iterable[ResourceType] = DEFAULT_TYPES):
        self.types: dict[tuple[str, str], ResourceType] = {}  # (group, plural) -> type
        for rt in types:
            self.serve(rt)
        self.objects: dict[tuple[str, str, str, str], Obj] = {}  # (group, plural, namespace, name) -> object
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, str, str]] = []  # (method, kind, namespace, name) of every request
        self.effects: list[tuple[str, str, str, str]] = []  # the writes that took effect (not dry runs)
        self.claims: dict[tuple[str, str, str, str], str] = {}  # object -> another field manager owning fields
        self.applied: dict[tuple[tuple[str, str, str, str], str], Obj] = {}  # (object, manager) -> last applied
        self.complete_jobs = False  # Jobs get a Complete condition when created
        self.require_namespaces = False  # creating in a namespace that does not exist: 404, as the real server
        self.rv = itertools.count(1)
        self.uids = itertools.count(1)
        self.suffixes = itertools.count(1)
        self.lock = threading.RLock()
        self.closed = False

    # -- set-up and inspection --------------------------------------------------------------------------
    def serve(self, rt: ResourceType) -> None:
        self.types[(rt.group, rt.plural)] = rt

    def unserve(self, group: str, kind: str) -> None:
        self.types = {k: rt for k, rt in self.types.items() if not (rt.group == group and rt.kind == kind)}

    def type_of(self, kind: str, group: str | None = None) -> ResourceType:
        for rt in self.types.values():
            if rt.kind == kind and (group is None or rt.group == group):
                return rt
        raise KeyError(kind)

    def fail(self, method: str, kind: str | None = None, name: str | None = None, **kw: Any) -> Fault:
        f = Fault(method, kind, name, **kw)
        self.faults.append(f)
        return f

    def put(self, obj: Obj) -> Obj:
        """Store ``obj`` as if created by someone else (uid, resourceVersion, timestamps filled in)."""
        rt = self.type_for_obj(obj)
        meta = obj.setdefault("metadata", {})
        with self.lock:
            return copy.deepcopy(self._store(rt, str(meta.get("namespace") or "") if rt.namespaced else "",
                                             copy.deepcopy(obj), new=True))

    def obj(self, kind: str, name: str, namespace: str = "", group: str | None = None) -> Obj | None:
        """The stored object (the live reference: edit it to simulate someone else's change)."""
        rt = self.type_of(kind, group)
        return self.objects.get((rt.group, rt.plural, namespace if rt.namespaced else "", name))

    def names(self, kind: str, namespace: str | None = None) -> list[str]:
        rt = self.type_of(kind)
        return sorted(n for (g, p, ns, n) in self.objects if (g, p) == (rt.group, rt.plural)
                      and (namespace is None or ns == namespace))

    def written(self, kind: str | None = None) -> list[str]:
        """The methods of the writes that took effect, in order (of one kind, or all)."""
        return [m for m, k, _, _ in self.effects if kind in (None, k)]

    def edit(self, kind: str, name: str, namespace: str = "", change: Callable[[Obj], None] = lambda o: None) -> Obj:
        """Someone else's write: ``change`` the stored object in place and give it a new resourceVersion."""
        obj = self.obj(kind, name, namespace)
        assert obj is not None, f"no {kind} {namespace}/{name}"
        with self.lock:
            change(obj)
            obj["metadata"]["resourceVersion"] = str(next(self.rv))
        return obj

    def set_status(self, kind: str, name: str, namespace: str, status: dict[str, Any]) -> None:
        obj = self.obj(kind, name, namespace)
        assert obj is not None, f"no {kind} {namespace}/{name}"
        obj["status"] = copy.deepcopy(status)

    def mark_ready(self, kind: str, name: str, namespace: str = "") -> None:
        cond = "Complete" if kind == "Job" else "Ready"
        self.set_status(kind, name, namespace, {"conditions": [{"type": cond, "status": "True"}]})

    def mark_failed(self, kind: str, name: str, namespace: str = "", message: str = "it broke") -> None:
        self.set_status(kind, name, namespace, {"conditions": [{"type": "Failed", "status": "True",
                                                                "reason": "Broken", "message": message}]})

    def mark_progressing(self, kind: str, name: str, namespace: str = "") -> None:
        self.set_status(kind, name, namespace, {"conditions": [{"type": "Ready", "status": "False"}]})

    def claim(self, kind: str, name: str, namespace: str = "", manager: str = "kubectl-edit") -> None:
        """Another field manager owns this object's fields: a server-side apply that is not forced gets 409."""
        rt = self.type_of(kind)
        self.claims[(rt.group, rt.plural, namespace, name)] = manager

    def type_for_obj(self, obj: Obj) -> ResourceType:
        api = str(obj.get("apiVersion", ""))
        group = api.rpartition("/")[0]
        return self.type_of(str(obj.get("kind")), group)

    # -- the transport --------------------------------------------------------------------------------
    def close(self) -> None:
        self.closed = True

    def send(self, method: str, path: str, *, query: list[tuple[str, Any]], headers: dict[str, str], body: Any,
             timeout: float) -> Response:
        params = dict(query)
        if path in ("/api", "/apis"):
            return _ok(self._discovery(core=path == "/api"))
        try:
            rt, ns, name = self._route(path)
        except _Answer as a:
            return a.response
        verb = "LIST" if method == "GET" and not name else method
        if name is None and method in ("POST", "PATCH", "PUT") and isinstance(body, dict):
            name = str((body.get("metadata") or {}).get("name") or (body.get("metadata") or {}).get("generateName")
                       or "")
        self.log.append((verb, rt.kind, ns, name or ""))
        fault = None
        with self.lock:
            for f in self.faults:
                if f.matches(verb, rt.kind, ns, name or ""):
                    f.fired += 1
                    fault = f
                    break
        if fault is not None:
            if fault.before is not None:
                fault.before()
            if fault.error is not None:
                raise fault.error
            if fault.status is not None:
                return _status(fault.status, fault.message or f"injected {fault.status}", fault.reason,
                               fault.causes, fault.retry_after)
            if fault.reset == "before":
                raise self._lost(method, path, sent=False, timeout=fault.timeout)
        try:
            with self.lock:
                resp = self._handle(verb, rt, ns, name, params, headers, body)
                if verb not in ("GET", "LIST") and "dryRun" not in params:
                    self.effects.append((verb, rt.kind, ns, name or ""))
        except _Answer as a:
            resp = a.response
        if fault is not None and fault.reset == "after":
            raise self._lost(method, path, sent=True, timeout=fault.timeout)
        return resp

    @staticmethod
    def _lost(method: str, path: str, *, sent: bool, timeout: bool) -> TransportError:
        what = "timed out" if timeout else ("connection reset after the request was sent" if sent
                                            else "connection refused")
        return TransportError(f"{method} {path}: {what}", reason="timeout" if timeout else "connection", sent=sent)

    def _discovery(self, core: bool) -> Obj:
        groups: dict[str, dict[str, list[Obj]]] = {}
        for rt in self.types.values():
            if (rt.group == "") != core:
                continue
            groups.setdefault(rt.group, {}).setdefault(rt.version, []).append(
                {"resource": rt.plural, "responseKind": {"kind": rt.kind},
                 "scope": "Namespaced" if rt.namespaced else "Cluster", "verbs": sorted(rt.verbs)})
        return {"kind": "APIGroupDiscoveryList", "items": [
            {"metadata": {"name": g}, "versions": [{"version": v, "resources": rs} for v, rs in vs.items()]}
            for g, vs in sorted(groups.items())]}

    def _route(self, path: str) -> tuple[ResourceType, str, str | None]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api":
            group, rest = "", parts[2:]
        else:
            group, rest = parts[1], parts[3:]
        ns = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        plural, name = rest[0], (rest[1] if len(rest) > 1 else None)
        rt = self.types.get((group, plural))
        if rt is None:
            raise _Unserved(path)
        return rt, ns, name

    # -- the API ----------------------------------------------------------------------------------------
    def _handle(self, verb: str, rt: ResourceType, ns: str, name: str | None, params: dict[str, Any],
                headers: dict[str, str], body: Any) -> Response:
        dry = "dryRun" in params
        if verb == "LIST":
            return _ok(self._list(rt, ns, params, headers.get("Accept", "")))
        assert name is not None
        key = (rt.group, rt.plural, ns, name)
        live = self.objects.get(key)
        if verb == "GET":
            if live is None:
                raise self._not_found(rt, name)
            return _ok(live)
        if verb == "DELETE":
            return self._delete(rt, key, live, body or {}, dry)
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if ns and rt.namespaced:
            meta["namespace"] = ns
        if verb == "POST":
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = f"{meta['generateName']}{next(self.suffixes):05d}"
                key = (rt.group, rt.plural, ns, meta["name"])
            if key in self.objects:
                raise _fail(409, f'{rt.plural} "{meta["name"]}" already exists', "AlreadyExists")
            return _ok(self._create(rt, ns, obj, dry), 201)
        if verb == "PUT":
            if live is None:
                raise self._not_found(rt, name)
            self._check_rv(rt, name, meta, live)
            return _ok(self._update(rt, key, obj, live, dry))
        if verb == "PATCH":  # server-side apply
            manager = params.get("fieldManager", "")
            if live is None:
                obj["metadata"]["managedFields"] = self._managed(None, manager, obj)
                created = self._create(rt, ns, obj, dry)
                if not dry:
                    self.applied[(key, manager)] = copy.deepcopy(obj)
                return _ok(created, 201)
            self._check_rv(rt, name, meta, live)
            owner = self.claims.get(key)
            if owner and owner != manager and params.get("force") != "true":
                raise _fail(409, f'Apply failed with 1 conflict: conflict with "{owner}": .data', "Conflict",
                            [{"reason": "FieldManagerConflict", "message": f'conflict with "{owner}"',
                              "field": ".data"}])
            if params.get("force") == "true" and not dry:
                self.claims.pop(key, None)
            previous = self.applied.get((key, manager), {})
            if not dry:
                self.applied[(key, manager)] = copy.deepcopy(obj)
            merged = merge(prune_fields(live, previous, obj), obj)
            merged["metadata"]["managedFields"] = self._managed(live, manager, obj)
            return _ok(self._update(rt, key, merged, live, dry))
        raise _fail(405, f"method {verb} not allowed", "MethodNotAllowed")

    @staticmethod
    def _managed(live: Obj | None, manager: str, applied: Obj) -> list[Obj]:
        """managedFields after ``manager`` applied ``applied``: its Apply entry replaced, the others kept."""
        others = [e for e in ((live or {}).get("metadata") or {}).get("managedFields") or []
                  if not (e.get("manager") == manager and e.get("operation") == "Apply")]
        body = {k: v for k, v in applied.items() if k != "metadata"}
        body["metadata"] = {k: v for k, v in (applied.get("metadata") or {}).items() if k != "managedFields"}
        return [*others, {"manager": manager, "operation": "Apply", "apiVersion": applied.get("apiVersion"),
                          "fieldsType": "FieldsV1", "fieldsV1": fields_v1(body)}]

    @staticmethod
    def _not_found(rt: ResourceType, name: str) -> _Answer:
        """An object's 404 names it in ``details`` (a type's 404, ``_Unserved``, does not), as the real server's."""
        group = f".{rt.group}" if rt.group else ""
        answer = _fail(404, f'{rt.plural}{group} "{name}" not found', "NotFound")
        body = json.loads(answer.response.data)
        body["details"] = {"name": name, "group": rt.group, "kind": rt.plural}
        answer.response.data = json.dumps(body).encode()
        return answer

    @staticmethod
    def _check_rv(rt: ResourceType, name: str, meta: Obj, live: Obj) -> None:
        rv = meta.get("resourceVersion")
        if rv and rv != live["metadata"]["resourceVersion"]:
            raise _fail(409, f'Operation cannot be fulfilled on {rt.plural} "{name}": the object has been modified; '
                             "please apply your changes to the latest version and try again", "Conflict")

    def _list(self, rt: ResourceType, ns: str, params: dict[str, Any], accept: str) -> Obj:
        wanted = parse_selector(params.get("labelSelector"))
        items = [o for (g, p, n, _), o in sorted(self.objects.items())
                 if (g, p) == (rt.group, rt.plural) and (not ns or n == ns)
                 and wanted((o.get("metadata") or {}).get("labels") or {})]
        start = int(params.get("continue") or 0)
        limit = int(params.get("limit") or 0) or len(items) or 1
        page = items[start:start + limit]
        more = start + limit < len(items)
        if "PartialObjectMetadataList" in accept:
            page = [{"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                     "metadata": copy.deepcopy(o["metadata"])} for o in page]
            return {"kind": "PartialObjectMetadataList", "items": page,
                    "metadata": {"continue": str(start + limit)} if more else {}}
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "items": page,
                "metadata": {"continue": str(start + limit)} if more else {}}

    def _store(self, rt: ResourceType, ns: str, obj: Obj, *, new: bool) -> Obj:
        meta = obj.setdefault("metadata", {})
        obj.setdefault("apiVersion", rt.api_version)
        obj.setdefault("kind", rt.kind)
        if new:
            meta.setdefault("uid", f"uid-{next(self.uids)}")
            meta.setdefault("creationTimestamp", f"2024-01-01T00:{len(self.objects) // 60:02d}:"
                                                 f"{len(self.objects) % 60:02d}Z")
            meta.setdefault("generation", 1)
        if ns:
            meta["namespace"] = ns
        meta["resourceVersion"] = str(next(self.rv))
        self.objects[(rt.group, rt.plural, ns, meta["name"])] = obj
        return obj

    def _create(self, rt: ResourceType, ns: str, obj: Obj, dry: bool) -> Obj:
        meta = obj["metadata"]
        for k in ("resourceVersion", "uid"):
            meta.pop(k, None)
        if self.require_namespaces and ns and ("", "namespaces", "", ns) not in self.objects:
            raise self._not_found(NAMESPACE, ns)
        if dry:
            return obj
        if rt.kind == "Job" and self.complete_jobs:
            obj["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
        return copy.deepcopy(self._store(rt, ns, obj, new=True))

    def _update(self, rt: ResourceType, key: tuple[str, str, str, str], obj: Obj, live: Obj, dry: bool) -> Obj:
        meta = obj["metadata"]
        for k in ("uid", "creationTimestamp"):
            meta[k] = live["metadata"][k]
        if "status" in live and "status" not in obj:
            obj["status"] = copy.deepcopy(live["status"])
        if obj.get("spec") != live.get("spec"):
            meta["generation"] = int(live["metadata"].get("generation") or 1) + 1
        if dry:
            return obj
        return copy.deepcopy(self._store(rt, key[2], obj, new=False))

    def _delete(self, rt: ResourceType, key: tuple[str, str, str, str], live: Obj | None, body: Obj,
                dry: bool) -> Response:
        if live is None:
            raise self._not_found(rt, key[3])
        uid = (body.get("preconditions") or {}).get("uid")
        if uid and uid != live["metadata"]["uid"]:
            raise _fail(409, f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                             f"{live['metadata']['uid']}", "Conflict")
        if dry:
            return _ok(live)
        if live["metadata"].get("finalizers"):
            live["metadata"]["deletionTimestamp"] = "2024-01-01T01:00:00Z"
            return _ok(live)
        del self.objects[key]
        return _ok({"kind": "Status", "status": "Success"})

    def finish_deletion(self, kind: str, name: str, namespace: str = "") -> None:
        """The finalizers are done: an object pending deletion goes away."""
        rt = self.type_of(kind)
        self.objects.pop((rt.group, rt.plural, namespace, name), None)


class _Unserved(_Answer):
    def __init__(self, path: str):
        super().__init__(_status(404, f"the server could not find the requested resource ({path})", "NotFound"))


def fake_cluster(server: FakeApiServer | None = None, *, namespace: str = "default",
                 max_attempts: int = 3) -> tuple[Cluster, FakeApiServer]:
    """A real ``Cluster`` on a fake API server; no back-off sleeps. ``max_attempts``: per request (the client's
    default is 10; fewer keeps injected "for ever" faults cheap)."""
    server = server or FakeApiServer()
    cluster = Cluster(server, namespace=namespace, context="fake", timeout=1.0, host="https://fake.invalid")
    cluster.sleep = lambda s: None
    cluster.max_attempts = max_attempts
    return cluster, server


def key_of(obj: Obj) -> ResourceKey:
    api = str(obj.get("apiVersion", ""))
    meta = obj.get("metadata") or {}
    return ResourceKey(api.rpartition("/")[0], str(obj.get("kind")), str(meta.get("namespace") or ""),
                       str(meta.get("name") or ""))


class CountingConnection:
    """A stand-in connection for code that only needs the namespace, discovery's scope and ``close`` — and for
    tests that count how often it was closed."""

    namespace = "default"
    discovery = SimpleNamespace(scope=None)

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1
