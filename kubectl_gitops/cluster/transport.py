"""HTTPS to the API server on the standard library, over a shared pool of keep-alive connections.

Why not the official client's HTTP stack: importing it (urllib3, requests, oauthlib, dateutil and the client's
own modules) and loading a kubeconfig through it cost ~0.13 s before the first request — a sixth of a no-op diff
of 1,000 objects, paid again by every runbook alias. ``http.client`` and ``ssl`` cost 0.03 s. What a request
needs is small: TLS with the kubeconfig's CA and client certificate, a bearer token (static, from a file, or
from an exec plugin), a timeout, and a fresh connection when the server closed an idle one.

Tokens and keys are registered with ``redact`` and never written to disk (client keys go through an anonymous
in-memory file where the platform has one, else a private temporary file removed at once). Exec credential
plugins run in ``cluster/execcred.py``.

The transport never re-sends a request the server may have received: a failure is a ``TransportError`` whose
``sent`` says whether the whole request went out (then the server may have acted on it), and ``cluster.py``
decides, by method, whether to try again (client-go's rules). The one re-send here is Go's ``net/http`` rule: a
kept-alive connection that turns out dead while the request is being *written* (nothing was delivered) is
replaced once.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import shutil
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from kubectl_gitops import redact
from kubectl_gitops.cluster.execcred import ExecCredentials
from kubectl_gitops.cluster.kubeconfig import Endpoint
from kubectl_gitops.errors import ClusterError, InvalidInputError, TransportError

_REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS"})  # safe to send again on a fresh connection

TOKEN_FILE_TTL = 60.0  # seconds a tokenFile's content is reused (kubectl re-reads it about once a minute)


@dataclass
class Response:
    status: int
    reason: str
    data: bytes
    retry_after: str | None = None  # the Retry-After header, when the server sent one


class HttpTransport:
    """Thread-safe: a request takes an idle connection (or opens one) and gives it back; ``close`` closes all."""

    def __init__(self, endpoint: Endpoint, *, user_agent: str):
        self.endpoint = endpoint
        self.user_agent = user_agent
        url = urlsplit(endpoint.server)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise InvalidInputError(f"cannot use server {endpoint.server!r} of context {endpoint.context!r}",
                                    hint="the kubeconfig's cluster server must be an https:// URL")
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._https else 80)
        self._prefix = url.path.rstrip("/")
        self._exec = ExecCredentials(endpoint) if endpoint.exec else None
        self._token_cache: tuple[float, str] | None = None
        self._all: list[Any] = []  # every open connection (http.client connections)
        self._idle: list[Any] = []  # those no request is using
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._context_key: tuple[bytes | None, bytes | None] | None = None
        if endpoint.token:
            redact.register(endpoint.token)

    # -- credentials ------------------------------------------------------------------------------
    def _credentials(self, refresh: bool = False) -> tuple[str | None, bytes | None, bytes | None]:
        """(bearer token, client cert PEM, client key PEM) for the next request."""
        ep = self.endpoint
        if self._exec is not None:
            cred = self._exec.get(refresh=refresh)
            if cred.token or cred.cert_pem:
                return cred.token, cred.cert_pem or ep.cert_pem, cred.key_pem or ep.key_pem
        token = ep.token
        if not token and ep.token_file:
            token = self._read_token_file(ep.token_file, refresh)
        return token, ep.cert_pem, ep.key_pem

    def _read_token_file(self, path: str, refresh: bool) -> str:
        now = time.monotonic()
        cached = self._token_cache
        if cached and not refresh and now - cached[0] < TOKEN_FILE_TTL:
            return cached[1]
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as e:
            raise ClusterError(f"cannot read the token file {path}: {e.strerror}",
                               hint="check tokenFile in the kubeconfig (or the mounted service account)") from e
        redact.register(token)
        self._token_cache = (now, token)
        return token

    def _ssl_context(self, cert: bytes | None, key: bytes | None) -> ssl.SSLContext:
        with self._lock:
            if self._context is not None and self._context_key == (cert, key):
                return self._context
            ep = self.endpoint
            if ep.insecure:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            else:
                try:
                    ctx = ssl.create_default_context(cadata=ep.ca_pem.decode("ascii") if ep.ca_pem else None)
                except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
                    raise InvalidInputError(f"the certificate authority of context {ep.context!r} is not valid PEM",
                                            hint="fix certificate-authority(-data) in the kubeconfig") from err
            if cert and key:
                _load_cert_chain(ctx, cert, key, ep.context)
            if self._context is not None:  # new credentials: idle connections made with the old ones go; those
                self._close_idle()  # in use finish their request (closing them would make a sent write ambiguous)
            self._context, self._context_key = ctx, (cert, key)
            return ctx

    # -- connections --------------------------------------------------------------------------------
    def _acquire(self, timeout: float, cert: bytes | None, key: bytes | None) -> tuple[Any, bool]:
        """(connection, reused): an idle keep-alive connection made with the current credentials, else a new one.
        Idle connections are shared by all threads, so a sync's waves (new worker threads each) reuse them."""
        ctx = self._ssl_context(cert, key) if self._https else None
        while True:
            with self._lock:
                idle = self._idle.pop() if self._idle else None
            if idle is None:
                break
            if getattr(idle, "_gitops_ctx", None) is ctx and idle.sock is not None and not _dropped(idle.sock):
                idle.sock.settimeout(timeout)
                return idle, True
            self._discard(idle)
        conn: Any
        if ctx is not None:
            conn = _HTTPSConnection(self._host, self._port, timeout=timeout, context=ctx,
                                    server_name=self.endpoint.tls_server_name)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        conn._gitops_ctx = ctx
        with self._lock:
            self._all.append(conn)
        return conn, False

    def _release(self, conn: Any) -> None:
        with self._lock:
            self._idle.append(conn)

    def _discard(self, conn: Any) -> None:
        conn.close()
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)

    def _close_idle(self) -> None:
        """Close the idle connections (the caller holds ``_lock``)."""
        for conn in self._idle:
            with contextlib.suppress(Exception):
                conn.close()
            if conn in self._all:
                self._all.remove(conn)
        self._idle.clear()

    def _close_connections(self) -> None:
        for conn in self._all:
            with contextlib.suppress(Exception):
                conn.close()
        self._all.clear()
        self._idle.clear()

    def close(self) -> None:
        with self._lock:
            self._close_connections()

    # -- requests -----------------------------------------------------------------------------------
    def send(self, method: str, path: str, *, query: list[tuple[str, Any]], headers: dict[str, str],
             body: Any, timeout: float) -> Response:
        """One request (``body``: JSON-able, or None). A 401 with an exec plugin or a token file fetches the
        credential again and retries once."""
        payload = None if body is None else json.dumps(body).encode()
        resp = self._send_once(method, path, query, headers, payload, timeout, refresh=False)
        if resp.status == 401 and (self._exec is not None or self.endpoint.token_file):
            resp = self._send_once(method, path, query, headers, payload, timeout, refresh=True)
        return resp

    def _send_once(self, method: str, path: str, query: list[tuple[str, Any]], headers: dict[str, str],
                   body: bytes | None, timeout: float, *, refresh: bool) -> Response:
        token, cert, key = self._credentials(refresh=refresh)
        target = self._prefix + path + ("?" + urlencode(query) if query else "")
        hdrs = [("User-Agent", self.user_agent), *headers.items(), *self.endpoint.impersonate]
        if token:
            hdrs.append(("Authorization", f"Bearer {token}"))
        if body is not None or method in ("POST", "PUT", "PATCH"):
            hdrs.append(("Content-Length", str(len(body or b""))))
        for attempt in (1, 2):
            conn, reused = self._acquire(timeout, cert, key)
            sent = False
            try:
                if conn.sock is None:
                    conn.connect()  # explicitly, so that a failure here is known to have sent nothing
                # putheader, not request(headers=dict): impersonation may repeat a header (one group a line)
                conn.putrequest(method, target, skip_accept_encoding=True)
                for name, value in hdrs:
                    conn.putheader(name, value)
                conn.endheaders(body)
                sent = True  # every byte is with the kernel: from here on the server may act on it
                r = conn.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self._discard(conn)
                # A keep-alive connection the server had closed (Go's net/http rule): replace it once when
                # nothing was delivered, or, for a replayable read, when no byte of an answer came back.
                if reused and attempt == 1 and (not sent or method in _REPLAYABLE):
                    continue
                raise self._error(e, method, path, timeout, sent=sent) from e
            except (OSError, http.client.HTTPException) as e:
                self._discard(conn)
                raise self._error(e, method, path, timeout, sent=sent) from e
            if r.will_close:
                self._discard(conn)
            else:
                self._release(conn)
            return Response(r.status, r.reason or "", data, r.getheader("Retry-After"))
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, e: BaseException, method: str, path: str, timeout_s: float, *, sent: bool) -> TransportError:
        timeout = isinstance(e, (socket.timeout, TimeoutError)) or "timed out" in str(e).lower()
        server = self.endpoint.server
        if isinstance(e, ssl.SSLCertVerificationError):
            return TransportError(
                f"cannot reach the API server at {server}: its certificate is not trusted "
                f"({e.verify_message})", reason="tls", sent=False,
                hint="check certificate-authority(-data) and tls-server-name of the kubeconfig's cluster")
        if timeout and sent:
            return TransportError(
                f"{method} {path} timed out after {timeout_s:g}s waiting for the API server at {server}",
                reason="timeout", sent=True,
                hint="the server may still act on it; raise --request-timeout if the server is slow")
        if sent:
            what = "its answer was cut short" if isinstance(e, http.client.IncompleteRead) else (
                f"the connection was lost ({type(e).__name__})")
            return TransportError(
                f"{method} {path} to the API server at {server}: {what} after the request was sent",
                reason="connection", sent=True,
                hint="the server may have acted on it; check the connection to the cluster and run again")
        return TransportError(
            f"cannot reach the API server at {server} ({'timed out' if timeout else type(e).__name__})",
            reason="timeout" if timeout else "connection", sent=False,
            hint="is the cluster running? check --context/--kubeconfig, or raise --request-timeout")


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS with an SNI/verification name other than the host when the kubeconfig sets tls-server-name."""

    _gitops_ctx: ssl.SSLContext | None = None

    def __init__(self, host: str, port: int, *, timeout: float, context: ssl.SSLContext, server_name: str | None):
        super().__init__(host, port, timeout=timeout, context=context)
        self._server_name = server_name
        self._ctx = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._ctx.wrap_socket(self.sock, server_hostname=self._server_name or self.host)


def _dropped(sock: socket.socket) -> bool:
    """An idle keep-alive socket that is readable was closed by the server (or sent junk): do not reuse it."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _load_cert_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes, context: str) -> None:
    """``load_cert_chain`` takes paths only: an anonymous in-memory file (Linux), else a private temporary
    folder removed before returning. The key never stays on disk."""
    try:
        if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
            fds = [os.memfd_create("kubectl-gitops-cert"), os.memfd_create("kubectl-gitops-key")]
            try:
                for fd, pem in zip(fds, (cert, key), strict=True):
                    os.write(fd, pem)
                ctx.load_cert_chain(f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}")
            finally:
                for fd in fds:
                    os.close(fd)
            return
        folder = tempfile.mkdtemp(prefix="kubectl-gitops-tls-")
        try:
            paths = [os.path.join(folder, n) for n in ("cert.pem", "key.pem")]
            for path, pem in zip(paths, (cert, key), strict=True):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
            ctx.load_cert_chain(paths[0], paths[1])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    except (ssl.SSLError, OSError) as err:
        raise InvalidInputError(f"the client certificate or key of context {context!r} cannot be used",
                                hint="fix client-certificate(-data)/client-key(-data) in the kubeconfig, "
                                     "or the credential your exec plugin returns") from err
