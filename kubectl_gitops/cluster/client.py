"""The cluster layer: discovery and raw REST calls. With ``live`` and ``sync`` the only code that talks to the
API server.

Why raw REST instead of the generated model classes: objects stay plain JSON dicts exactly as the server
sends them (no round trip through typed models that drop unknown fields of custom resources), and one
code path serves every kind. Requests go through ``transport.HttpTransport`` (the standard library, with
``kubeconfig`` resolving kubectl's choice of server and credentials); kubeconfigs that need the official
client's loader (auth-provider plugins, proxy-url, basic auth) go through ``officialclient`` instead.

Every request has a timeout. Retries follow client-go's rules (rest/request.go and with_retry.go), made
explicit per method:

- A request that never left (connection refused, reset while connecting or writing) is sent again, any method.
- 429, and 5xx with ``Retry-After``, mean the server did not act: sent again, any method, after the
  ``Retry-After`` seconds (capped at ``RETRY_AFTER_CAP``) or else a jittered exponential back-off.
- An *ambiguous* failure — the request was sent and then the connection was reset, the answer was cut, the
  request timed out, or a 5xx came without ``Retry-After`` — is retried only for idempotent requests: GET
  (reads, LISTs, discovery), server-side-apply PATCH, DELETE (a re-sent DELETE finds 404, or with a UID
  precondition, 409 when the name now holds another object). A POST, a PUT or another PATCH is never sent
  again: ``AmbiguousWriteError`` (exit 5) names it, so the caller can look the object up.
- A timed-out request is retried once at most (each try costs the whole --request-timeout) and reported as a
  timeout of that request. TLS failures and failing credential plugins are not retried.
- Until the first answer from this server, a refused connection is tried ``UNREACHED_ATTEMPTS`` times only:
  a cluster that is down or a wrong context is reported in well under a second.

409s are classified on ``ApiError``: ``field_manager_conflict`` (server-side apply: another manager owns the
fields; the caller may force), ``stale`` (optimistic concurrency, "the object has been modified": re-read and
retry; raised as ``StaleObjectError``), ``already_exists``. Errors become ``ClusterError``/``ApiError`` with the
server's own message. Every write is counted (``Cluster.writes``) so tests and ``--dry-run`` can prove what was
written.

``ApiError``/``StaleObjectError`` (``cluster.apierror``) and ``ResourceType``/``Discovery`` (``cluster.discovery``,
the types; fetching them is ``Cluster.discovery``) are imported from here by callers too: one import for the layer.

Longer than ~400 lines because the retry rules above, the request loop that follows them and the one connection
every caller shares (with its identity: ``--as``, a policy's ServiceAccount) are one piece of behaviour.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubectl_gitops import FIELD_MANAGER, __version__
from kubectl_gitops.cluster.apierror import ApiError, StaleObjectError
from kubectl_gitops.cluster.discocache import DiscoveryCache
from kubectl_gitops.cluster.discovery import AGGREGATED_DISCOVERY, Discovery, ResourceType
from kubectl_gitops.errors import AmbiguousWriteError, ClusterError, InvalidInputError, TransportError
from kubectl_gitops.model import Obj
from kubectl_gitops.settings import ClusterOptions, environment

USER_AGENT = f"kubectl-gitops/{__version__}"
DEFAULT_TIMEOUT = 30.0
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
SSA_CONTENT_TYPE = "application/apply-patch+yaml"
RETRY_AFTER_CAP = 10.0  # seconds: the longest Retry-After honoured as given
BACKOFF_BASE, BACKOFF_CAP = 0.1, 2.0  # seconds: attempt n waits between half and all of min(cap, base * 2**(n-1))
MAX_ATTEMPTS = 10  # per request: back-offs add up to 4-8 s, so a short outage of the server is ridden out
UNREACHED_ATTEMPTS = 3  # refused connections before any answer from this server


def idempotent(method: str, content_type: str = "application/json") -> bool:
    """May this request be sent again when we cannot tell whether the server acted on it?"""
    return method in ("GET", "HEAD", "OPTIONS", "DELETE") or (method == "PATCH" and content_type == SSA_CONTENT_TYPE)


def _retry_after(value: str | None, body_seconds: Any = None) -> float | None:
    """Retry-After as client-go reads it (whole seconds), else the Status' details.retryAfterSeconds."""
    for v in (value, body_seconds):
        try:
            if v is not None and int(str(v).strip()) >= 0:
                return float(int(str(v).strip()))
        except ValueError:
            continue
    return None



class Cluster:
    """A connection to one API server. Thread-safe: one instance serves a pool of workers."""

    def __init__(self, transport: Any, *, namespace: str, context: str, timeout: float, host: str):
        self._transport = transport
        self.namespace = namespace
        self.context = context
        self.timeout = timeout
        self.host = host
        self._discovery: Discovery | None = None
        # discovery's disk cache (set by ``connect``); _cached: the discovery in use came from it, not refreshed
        self.discovery_cache: DiscoveryCache | None = None
        self._cached = False
        self._discovery_lock = threading.RLock()
        self._lock = threading.Lock()
        self.writes = 0  # successful write requests sent (dry runs excluded)
        self.dry_runs = 0
        self.requests = 0
        self.max_attempts = MAX_ATTEMPTS
        self.sleep = time.sleep  # injectable: tests record the waits instead of waiting
        self.rng = random.Random()
        self.retries = 0  # requests sent again
        self._reached = False  # has this server answered once?
        # Called before every write that is not a dry run; raises to stop it (lease.Lease.check: a run that
        # lost its app's Lease issues no more writes).
        self.write_guard: Callable[[], None] | None = None
        # Who applies (--field-manager): the default of apply/create/PUT, and the owner the diff's fast path and
        # drift attribution look for in managedFields.
        self.field_manager = FIELD_MANAGER

    @classmethod
    def connect(cls, opts: ClusterOptions, *, pool_size: int = 16) -> Cluster:
        from kubectl_gitops.cluster.kubeconfig import flag_impersonation, resolve

        endpoint = resolve(opts.kubeconfig, opts.context, opts.namespace)
        flags = flag_impersonation(opts.as_user, opts.as_groups, opts.as_uid)
        official = bool(endpoint.unsupported) or environment().transport == "kubernetes-client"
        if flags is not None:
            if official:
                raise InvalidInputError(f"--as cannot be used with {endpoint.unsupported or 'the official client'}",
                                        hint="use a kubeconfig user the built-in transport supports")
            endpoint = dataclasses.replace(endpoint, impersonate=flags)
        transport: Any
        if official:
            from kubectl_gitops.cluster.officialclient import OfficialTransport

            transport = OfficialTransport(opts, user_agent=USER_AGENT, pool_size=pool_size)
        else:
            from kubectl_gitops.cluster.transport import HttpTransport

            transport = HttpTransport(endpoint, user_agent=USER_AGENT)
        cluster = cls(transport, namespace=endpoint.namespace, context=endpoint.context,
                      timeout=opts.request_timeout or DEFAULT_TIMEOUT, host=endpoint.server)
        cluster.field_manager = opts.field_manager or FIELD_MANAGER
        cluster.discovery_cache = DiscoveryCache.for_server(endpoint.server, endpoint.ca_pem)
        return cluster

    @property
    def identity(self) -> str | None:
        """The user this connection impersonates (``--as``, the kubeconfig's ``as``, a policy's
        ServiceAccount), or None: the kubeconfig user itself."""
        endpoint = getattr(self._transport, "endpoint", None)
        return next((v for k, v in getattr(endpoint, "impersonate", ()) if k == "Impersonate-User"), None)

    def impersonate(self, headers: tuple[tuple[str, str], ...]) -> None:
        """From now on, every request (of this connection and its siblings) acts as ``headers`` say."""
        endpoint = getattr(self._transport, "endpoint", None)
        if endpoint is None:
            raise InvalidInputError("impersonation (a policy's serviceAccount) cannot be used with the official "
                                    "client's transport", hint="use a kubeconfig user the built-in transport supports")
        self._transport.endpoint = dataclasses.replace(endpoint, impersonate=headers)

    def sibling(self) -> Cluster:
        """The same connection and discovery with counters of its own and no write guard (the Lease's
        requests are not the run's writes)."""
        twin = Cluster(self._transport, namespace=self.namespace, context=self.context, timeout=self.timeout,
                       host=self.host)
        twin._discovery, twin._reached, twin.sleep, twin.max_attempts = (self._discovery, self._reached, self.sleep,
                                                                         self.max_attempts)
        twin.field_manager = self.field_manager
        twin.discovery_cache, twin._cached = self.discovery_cache, self._cached
        return twin

    # -- raw requests -------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
                content_type: str = "application/json", accept: str = "application/json",
                retry_conflicts: bool = False) -> Any:
        """One API call, sent again by the rules in the module docstring; returns the decoded JSON (or None when
        empty). ``retry_conflicts``: also retry 409s (the caller re-sends a body that stays valid)."""
        headers = {"Accept": accept, "Content-Type": content_type}
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        write = method in ("POST", "PUT", "PATCH", "DELETE")
        dry = any(k == "dryRun" for k, _ in params)
        safe = idempotent(method, content_type)
        attempt = timeouts = 0
        while True:
            attempt += 1
            if write and not dry and self.write_guard is not None:
                self.write_guard()  # before every send: a retry after back-off may come after the Lease was lost
            try:
                data = self._send(method, path, params, headers, body)
            except ApiError as e:
                self._reached = True
                if e.unknown_type and self._cached and self._refresh_stale_discovery():
                    continue  # the server did not act on a request for a type it does not serve: send it again
                wait = self._retry_api_error(e, method, path, safe, retry_conflicts, attempt)
                self._pause(attempt, wait)
                continue
            except TransportError as e:
                if e.reason not in ("connection", "timeout", "garbled") or attempt >= self._attempts(e):
                    raise self._final(e, method, path, safe, attempt) from e
                if e.reason == "timeout" and getattr(e, "sent", True):
                    timeouts += 1
                    if timeouts > 1:
                        raise self._final(e, method, path, safe, attempt) from e
                if getattr(e, "sent", True) and not safe:
                    raise self._final(e, method, path, safe, attempt) from e
                self._pause(attempt, None)
                continue
            self._reached = True
            with self._lock:
                self.requests += 1
                if write and dry:
                    self.dry_runs += 1
                elif write:
                    self.writes += 1
            return data

    def _attempts(self, e: ClusterError) -> int:
        refused = not getattr(e, "sent", True) and e.reason == "connection"
        return min(self.max_attempts, UNREACHED_ATTEMPTS) if refused and not self._reached else self.max_attempts

    def _retry_api_error(self, e: ApiError, method: str, path: str, safe: bool, retry_conflicts: bool,
                         attempt: int) -> float | None:
        """The wait before sending again (None: the usual back-off), or raise."""
        if e.status == 409 and retry_conflicts and attempt < self.max_attempts:
            return None
        if e.status not in TRANSIENT_STATUS:
            raise e
        told = e.status == 429 or e.retry_after is not None  # the server says it did not act: any method
        if not told and not safe:
            raise AmbiguousWriteError(
                f"{method} {path}: the API server answered {e.status} ({e.message}); it may or may not have "
                "acted on it, and it is not safe to send again", method=method, path=path, status=e.status,
                hint="look the object up (kubectl get) before running again; a next run reads the cluster afresh"
            ) from e
        if attempt >= self.max_attempts:
            if attempt > 1:
                e.message = f"{e.message} (after {attempt} attempts)"
                e.args = (e.message,)
            raise e
        return None if e.retry_after is None else min(RETRY_AFTER_CAP, e.retry_after)

    def _final(self, e: ClusterError, method: str, path: str, safe: bool, attempt: int) -> ClusterError:
        """The error to raise when ``e`` is not tried again."""
        if getattr(e, "sent", False) and not safe and e.reason in ("connection", "timeout", "garbled"):
            return AmbiguousWriteError(
                f"{e.message}; it is not sent again, since the server may have acted on it",
                method=method, path=path,
                hint="look the object up (kubectl get) before running again; a next run reads the cluster afresh")
        if attempt > 1:
            e.message = f"{e.message} (after {attempt} attempts)"
            e.args = (e.message,)
        return e

    def _pause(self, attempt: int, retry_after: float | None) -> None:
        with self._lock:
            self.retries += 1
        if retry_after is not None and retry_after > 0:
            self.sleep(retry_after)
            return
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        self.sleep(delay / 2 + self.rng.uniform(0, delay / 2))

    def get_raw(self, path: str, *, accept: str = "*/*") -> bytes:
        """One GET of a non-JSON body (e.g. a PEM through a service proxy), with the usual errors."""
        data: bytes = self._send("GET", path, [], {"Accept": accept, "Content-Type": "application/json"}, None,
                                 decode=False)
        return data

    def _send(self, method: str, path: str, params: list[tuple[str, Any]], headers: dict[str, str],
              body: Any, *, decode: bool = True) -> Any:
        resp = self._transport.send(method, path, query=params, headers=headers, body=body, timeout=self.timeout)
        if not 200 <= resp.status < 300:
            raise self._api_error(resp.status, resp.reason, resp.data, method, path,
                                  getattr(resp, "retry_after", None))
        if not decode:
            return resp.data
        try:
            return json.loads(resp.data) if resp.data else None
        except ValueError as err:
            raise TransportError(f"{method} {path}: the API server's answer is not valid JSON",
                                     reason="garbled", hint="check what sits between you and the API server") from err

    @staticmethod
    def _api_error(status: int, reason_phrase: str, body: bytes, method: str, path: str,
                   retry_after: str | None = None) -> ApiError:
        msg, reason, kind = reason_phrase, None, None
        causes: list[dict[str, Any]] = []
        body_retry = None
        try:
            st = json.loads(body or b"{}")
            msg = st.get("message") or msg
            reason = st.get("reason")
            causes = (st.get("details") or {}).get("causes") or []
            kind = (st.get("details") or {}).get("kind")
            body_retry = (st.get("details") or {}).get("retryAfterSeconds")
        except (ValueError, TypeError, AttributeError):
            pass
        hint = None
        if status == 401:
            hint = "your credentials were rejected: refresh them or check the kubeconfig user"
        elif status == 403:
            hint = "you are not allowed to do this: check RBAC for your user (kubectl auth can-i)"
        cls = ApiError
        if status == 409 and reason == "Conflict" and "has been modified" in str(msg) and not any(
                isinstance(c, dict) and c.get("reason") == "FieldManagerConflict" for c in causes):
            cls = StaleObjectError
            hint = "the object changed while it was being written (another writer): run again; it is read afresh"
        err = cls(f"{msg} ({status})" if msg else f"{method} {path} failed ({status})", status=status,
                  reason=reason, causes=causes,
                  retry_after=_retry_after(retry_after, body_retry) if status in TRANSIENT_STATUS else None)
        err.request = f"{method} {path}"
        err.hint = hint
        # "the server could not find the requested resource": no such type (an object's 404 names its kind)
        err.unknown_type = status == 404 and not kind

        return err

    # -- discovery ----------------------------------------------------------------------------------
    @property
    def discovery(self) -> Discovery:
        """The server's discovery: from the disk cache when fresh (``cluster.discocache``), else fetched (and
        cached). A cached one refreshes itself once on the first kind it does not know."""
        with self._discovery_lock:
            if self._discovery is None:
                cached = self.discovery_cache.load() if self.discovery_cache is not None else None
                if cached is not None:
                    cached.on_miss = self._fetch_discovery
                    self._discovery, self._cached = cached, True
                else:
                    self._discovery = self._fetch_discovery()
            return self._discovery

    def refresh_discovery(self) -> Discovery:
        with self._discovery_lock:
            self._discovery = self._fetch_discovery()
            return self._discovery

    def _fetch_discovery(self) -> Discovery:
        """Discovery from the server, stored in the disk cache."""
        d = self._discover()
        self._cached = False
        if self.discovery_cache is not None:
            self.discovery_cache.save(d)
        return d

    def _refresh_stale_discovery(self) -> bool:
        """A request for a type the cached discovery named was answered "no such resource": refresh the
        discovery in place (once per run). True when it was refreshed."""
        with self._discovery_lock:
            d = self._discovery
            if not self._cached or d is None:
                return False
            if d.on_miss is None:
                d.on_miss = self._fetch_discovery
            return d.refresh()

    def _discover(self) -> Discovery:
        d = Discovery()
        for root in ("/api", "/apis"):
            doc = self.request("GET", root, accept=AGGREGATED_DISCOVERY)
            if doc and doc.get("kind") == "APIGroupDiscoveryList":
                d.add_aggregated(doc)
            else:
                self._add_legacy(d, root, doc or {})
        return d

    def _add_legacy(self, d: Discovery, root: str, doc: Obj) -> None:
        if root == "/api":
            gvs = [("", v, i == 0) for i, v in enumerate(doc.get("versions") or [])]
        else:
            gvs = []
            for g in doc.get("groups") or []:
                pref = (g.get("preferredVersion") or {}).get("version")
                gvs += [(g["name"], v["version"], v["version"] == pref) for v in g.get("versions") or []]
        for group, version, preferred in gvs:
            path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
            try:
                rl = self.request("GET", path)
            except ApiError:
                continue  # an unavailable aggregated API must not break discovery of the rest
            for res in rl.get("resources") or []:
                if "/" in res["name"]:
                    continue
                d.add(ResourceType(group, version, res["kind"], res["name"], bool(res.get("namespaced")),
                                   frozenset(res.get("verbs") or ())), preferred)

    # -- typed helpers ------------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        try:
            obj: Obj = self.request("GET", rt.path(namespace, name))
            return obj
        except ApiError as e:
            if e.not_found:
                return None
            raise

    def list(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str | None = None,
             page_size: int = 500) -> Iterator[Obj]:
        """All objects of a type (in one namespace, or all when None), paginated. Items get apiVersion/kind."""
        cont: str | None = None
        while True:
            doc = self.request("GET", rt.path(namespace),
                               query={"labelSelector": label_selector, "limit": page_size, "continue": cont})
            for item in doc.get("items") or []:
                item.setdefault("apiVersion", rt.api_version)
                item.setdefault("kind", rt.kind)
                yield item
            cont = (doc.get("metadata") or {}).get("continue")
            if not cont:
                return

    def apply(self, obj: Obj, rt: ResourceType, *, dry_run: bool = False, force: bool = False,
              field_manager: str | None = None) -> Obj:
        """Server-side apply (PATCH application/apply-patch+yaml)."""
        meta = obj.get("metadata") or {}
        result: Obj = self.request(
            "PATCH", rt.path(meta.get("namespace"), meta["name"]),
            query={"fieldManager": field_manager or self.field_manager, "force": "true" if force else None,
                   "dryRun": "All" if dry_run else None},
            body=obj, content_type=SSA_CONTENT_TYPE,
        )
        return result

    def create(self, obj: Obj, rt: ResourceType, *, dry_run: bool = False,
               field_manager: str | None = None) -> Obj:
        meta = obj.get("metadata") or {}
        result: Obj = self.request("POST", rt.path(meta.get("namespace")), body=obj,
                                   query={"fieldManager": field_manager or self.field_manager,
                                          "dryRun": "All" if dry_run else None})
        return result

    def delete(self, rt: ResourceType, namespace: str | None, name: str, *, propagation: str = "Foreground",
               dry_run: bool = False, uid: str | None = None) -> bool:
        """Delete; returns False when the object was already gone. With ``uid``, only that object (a 409
        ``ApiError`` when the name now holds another one)."""
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", rt.path(namespace, name), query={"dryRun": "All" if dry_run else None},
                         body=body)
            return True
        except ApiError as e:
            if e.not_found:
                return False
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._transport.close()
