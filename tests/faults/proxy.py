"""A fault-injecting TLS proxy in front of an API server, for tests (issue 12, item 5).

    with FaultProxy.start(kubeconfig, Faults.uniform(0.05, seed=7), workdir=tmp_path) as proxy:
        run(["kubectl", "gitops", "sync"], env={"KUBECONFIG": str(proxy.kubeconfig)})
        assert proxy.injected  # [Injection(method, path, fault), ...]

The proxy terminates TLS on 127.0.0.1 with its own self-signed certificate (made with ``cryptography``), writes a
kubeconfig that trusts it and keeps the original user, and forwards each request to the real server with the
original kubeconfig's credentials (client certificate, token, CA: read with our own ``kubeconfig.resolve``).
Per request it may inject, with configurable rates:

- ``429``: Too Many Requests with ``Retry-After`` and a Kubernetes ``Status`` body; not forwarded.
- ``500`` / ``503``: a ``Status`` body, not forwarded (503 carries ``Retry-After``, as a shutting-down server does).
- ``504``: forwarded (the server acts), then answered with a Timeout ``Status`` instead of the real answer.
- ``reset-before``: the connection is reset before the request is forwarded (the server never sees it).
- ``reset-after``: forwarded, the server answered, then the client's connection is reset (the server acted).
- ``slow``: the request waits ``slow_seconds`` before it is forwarded.
- ``cut``: a LIST answer (a ``...List`` body) is cut in half: a short Content-Length body or an unterminated
  chunked body, then the connection closes.

``Faults(delay=0.02)`` adds a fixed delay to every request (before it is forwarded) and to every new connection
(before its TLS handshake): the round trip to an API server 20 ms away, for the benchmarks (bench/latency.py).

Decisions come from ``random.Random`` seeded with (seed, method, path, how many times this method+path was seen),
so a run's faults do not depend on how concurrent requests interleave. ``outage(seconds)`` answers every request
with 503 for that long. Every injected fault is recorded (``injected``), every request too (``requests``).

Written for the tests, on the standard library and ``cryptography``: no existing proxy injects Kubernetes-shaped
faults at this level (after the server acted, mid-body) with a seeded, per-request decision.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.client
import json
import random
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FAULTS = ("429", "500", "503", "504", "reset-before", "reset-after", "slow", "cut")


@dataclass
class Faults:
    """Per-request probabilities of each fault (their sum is the fault rate), and the seed."""

    seed: int = 0
    rates: dict[str, float] = field(default_factory=dict)
    retry_after: int = 1  # seconds, for 429 and 503
    slow_seconds: float = 2.0
    methods: frozenset[str] | None = None  # inject only into these methods (None: all)
    path_contains: str | None = None  # inject only into paths holding this (None: all)
    limit: int | None = None  # inject at most this many faults in all (None: no limit)
    delay: float = 0.0  # seconds added to every request and every new connection (network latency)

    @classmethod
    def uniform(cls, rate: float, seed: int, **kw: Any) -> Faults:
        """``rate`` spread evenly over every fault except ``slow`` (which only costs time)."""
        kinds = [f for f in FAULTS if f != "slow"]
        return cls(seed=seed, rates={f: rate / len(kinds) for f in kinds}, **kw)

    def choose(self, method: str, path: str, n: int) -> str | None:
        if self.methods is not None and method not in self.methods:
            return None
        if self.path_contains is not None and self.path_contains not in path:
            return None
        roll = random.Random(f"{self.seed}:{method}:{path}:{n}").random()
        for fault in FAULTS:
            rate = self.rates.get(fault, 0.0)
            if roll < rate:
                return fault
            roll -= rate
        return None


@dataclass(frozen=True)
class Injection:
    method: str
    path: str
    fault: str


def _status(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code}).encode()


_CANNED = {
    "429": (429, "Too Many Requests", "TooManyRequests", "too many requests, please try again later"),
    "500": (500, "Internal Server Error", "InternalError", "Internal error occurred: injected by the fault proxy"),
    "503": (503, "Service Unavailable", "ServiceUnavailable", "the server is currently unable to handle the request"),
    "504": (504, "Gateway Timeout", "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request"),
}


def _self_signed() -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for 127.0.0.1 and localhost, its own CA."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubectl-gitops fault proxy")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def _load_pem_pair(ctx: ssl.SSLContext, cert: bytes, key: bytes, folder: Path) -> None:
    paths = [folder / "tls.crt", folder / "tls.key"]
    for path, pem in zip(paths, (cert, key), strict=True):
        path.write_bytes(pem)
        path.chmod(0o600)
    ctx.load_cert_chain(str(paths[0]), str(paths[1]))


class FaultProxy:
    def __init__(self, kubeconfig: str, faults: Faults, workdir: Path, *, context: str | None = None,
                 port: int = 0):
        from kubectl_gitops.cluster.kubeconfig import resolve

        self.faults = faults
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.upstream = resolve(kubeconfig, context, None)
        self.injected: list[Injection] = []
        # called with (method, target) before each request is answered: a test can start an outage at a given
        # request (the first PATCH of wave 2, say) or change the faults
        self.on_request: Callable[[str, str], None] | None = None
        self.requests: list[tuple[str, str]] = []
        self._seen: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._outage_until = 0.0
        self._stopped = False
        self.sleep = time.sleep  # how ``Faults.delay`` is waited (a test records it instead)
        self._original_kubeconfig = kubeconfig
        self._context = context
        cert, key = _self_signed()
        self.ca_pem = cert
        self._server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _load_pem_pair(self._server_ctx, cert, key, self.workdir)
        self._sock = socket.create_server(("127.0.0.1", port))
        self.port = self._sock.getsockname()[1]
        self.server = f"https://127.0.0.1:{self.port}"
        self.kubeconfig = self.workdir / "kubeconfig"
        self._write_kubeconfig()
        self._upstream_ctx = self._client_context()

    @classmethod
    @contextlib.contextmanager
    def start(cls, kubeconfig: str, faults: Faults, workdir: Path, **kw: Any) -> Iterator[FaultProxy]:
        proxy = cls(kubeconfig, faults, workdir, **kw)
        threading.Thread(target=proxy._accept, daemon=True).start()
        try:
            yield proxy
        finally:
            proxy.stop()

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._sock.close()

    def outage(self, seconds: float) -> None:
        """Every request from now on gets 503 (with Retry-After) for ``seconds``."""
        self._outage_until = time.monotonic() + seconds

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults

    def count(self, fault: str | None = None, method: str | None = None) -> int:
        return sum(1 for i in self.injected if (fault is None or i.fault == fault)
                   and (method is None or i.method == method))

    # -- set-up ---------------------------------------------------------------------------------------
    def _write_kubeconfig(self) -> None:
        """The original kubeconfig's current user, with the proxy as the cluster (trusting the proxy's CA)."""
        paths = [p for p in self._original_kubeconfig.split(":") if p]
        doc = yaml.safe_load(Path(paths[0]).read_text())
        ctx_name = self._context or doc.get("current-context")
        ctx = next(c for c in doc["contexts"] if c["name"] == ctx_name)["context"]
        user = next(u for u in doc["users"] if u["name"] == ctx["user"])["user"]
        base = Path(paths[0]).parent
        user = {k: (str(base / v) if k in ("client-certificate", "client-key", "tokenFile")
                    and not str(v).startswith("/") else v) for k, v in user.items()}
        out = {
            "apiVersion": "v1", "kind": "Config", "current-context": "faults",
            "clusters": [{"name": "faults", "cluster": {
                "server": self.server, "certificate-authority-data": base64.b64encode(self.ca_pem).decode()}}],
            "users": [{"name": "faults", "user": user}],
            "contexts": [{"name": "faults", "context": {"cluster": "faults", "user": "faults",
                                                         **({"namespace": ctx["namespace"]}
                                                            if ctx.get("namespace") else {})}}],
        }
        self.kubeconfig.write_text(yaml.safe_dump(out))
        self.kubeconfig.chmod(0o600)

    def _client_context(self) -> ssl.SSLContext | None:
        ep = self.upstream
        if not ep.server.startswith("https://"):
            return None
        if ep.insecure:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cadata=ep.ca_pem.decode() if ep.ca_pem else None)
        if ep.cert_pem and ep.key_pem:
            folder = self.workdir / "upstream"
            folder.mkdir(exist_ok=True)
            _load_pem_pair(ctx, ep.cert_pem, ep.key_pem, folder)
        return ctx

    def _upstream_connection(self) -> http.client.HTTPConnection:
        from urllib.parse import urlsplit

        url = urlsplit(self.upstream.server)
        if self._upstream_ctx is not None:
            return http.client.HTTPSConnection(url.hostname or "127.0.0.1", url.port or 443,
                                               context=self._upstream_ctx, timeout=60)
        return http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=60)

    # -- serving --------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        # as the API server (Go) does: without it, a response of more than one TLS record waits for the client's
        # delayed ACK (Nagle), about 40 ms, which no real server adds
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.faults.delay:
            self.sleep(self.faults.delay)  # the TCP and TLS handshakes' round trips, as one
        try:
            conn = self._server_ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        upstream = self._upstream_connection()
        reader = conn.makefile("rb")
        try:
            while not self._stopped:
                request = _read_request(reader)
                if request is None:
                    return
                if not self._handle(conn, upstream, *request):
                    return
        except (OSError, http.client.HTTPException, ssl.SSLError, ValueError):
            return
        finally:
            with contextlib.suppress(OSError):
                reader.close()
            with contextlib.suppress(OSError):
                conn.close()
            upstream.close()

    def _handle(self, conn: ssl.SSLSocket, upstream: http.client.HTTPConnection, method: str, target: str,
                headers: list[tuple[str, str]], body: bytes) -> bool:
        """Answer one request; False when the connection is finished."""
        path = target.split("?", 1)[0]
        with self._lock:
            n = self._seen[(method, path)]
            self._seen[(method, path)] += 1
            self.requests.append((method, target))
        if self.on_request is not None:
            self.on_request(method, target)
        if self.faults.delay:
            self.sleep(self.faults.delay)
        if time.monotonic() < self._outage_until:
            self._record(method, path, "outage")
            return self._send_canned(conn, "503")
        fault = self.faults.choose(method, path, n)
        if fault is not None and self.faults.limit is not None and self.count() >= self.faults.limit:
            fault = None
        if fault in ("429", "500", "503"):
            self._record(method, path, fault)
            return self._send_canned(conn, fault)
        if fault == "reset-before":
            self._record(method, path, fault)
            _reset(conn)
            return False
        if fault == "slow":
            self._record(method, path, fault)
            time.sleep(self.faults.slow_seconds)
        status, reason, resp_headers, data = self._forward(upstream, method, target, headers, body)
        if fault == "504":
            self._record(method, path, fault)
            return self._send_canned(conn, "504")
        if fault == "reset-after":
            self._record(method, path, fault)
            _reset(conn)
            return False
        if fault == "cut" and method == "GET" and status == 200 and _is_list(data):
            self._record(method, path, fault)
            self._send_cut(conn, status, reason, resp_headers, data, chunked=random.Random(
                f"{self.faults.seed}:cut:{path}:{n}").random() < 0.5)
            return False
        _send(conn, status, reason, resp_headers, data)
        return True

    def _record(self, method: str, path: str, fault: str) -> None:
        with self._lock:
            self.injected.append(Injection(method, path, fault))

    def _forward(self, upstream: http.client.HTTPConnection, method: str, target: str,
                 headers: list[tuple[str, str]], body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        hop = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding"}
        for attempt in (1, 2):
            try:
                upstream.putrequest(method, target, skip_accept_encoding=True)
                for k, v in headers:
                    if k.lower() not in hop:
                        upstream.putheader(k, v)
                if body or method in ("POST", "PUT", "PATCH"):
                    upstream.putheader("Content-Length", str(len(body)))
                upstream.endheaders(body or None)
                r = upstream.getresponse()
                data = r.read()
                out = [(k, v) for k, v in r.getheaders() if k.lower() not in hop]
                return r.status, r.reason, out, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                upstream.close()  # the server closed our idle connection: once more on a fresh one
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _send_canned(self, conn: ssl.SSLSocket, fault: str) -> bool:
        code, reason, status_reason, message = _CANNED[fault]
        headers = [("Content-Type", "application/json")]
        if fault in ("429", "503"):
            headers.append(("Retry-After", str(self.faults.retry_after)))
        _send(conn, code, reason, headers, _status(code, status_reason, message))
        return True

    @staticmethod
    def _send_cut(conn: ssl.SSLSocket, status: int, reason: str, headers: list[tuple[str, str]], data: bytes,
                  *, chunked: bool) -> None:
        half = data[: max(1, len(data) // 2)]
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        if chunked:
            payload = (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + f"{len(half):x}\r\n".encode() + half
        else:
            payload = (head + f"Content-Length: {len(data)}\r\n\r\n").encode() + half
        conn.sendall(payload)
        with contextlib.suppress(OSError):
            conn.close()


def _send(conn: ssl.SSLSocket, status: int, reason: str, headers: list[tuple[str, str]], data: bytes) -> None:
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    conn.sendall((head + f"Content-Length: {len(data)}\r\n\r\n").encode() + data)


def _reset(conn: ssl.SSLSocket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed peer or a middlebox does."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.close()


def _is_list(data: bytes) -> bool:
    try:
        return str(json.loads(data).get("kind", "")).endswith("List")
    except (ValueError, AttributeError):
        return False


def _read_request(reader: Any) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    line = reader.readline(65537)
    if not line:
        return None
    method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while True:
        h = reader.readline(65537).decode("latin-1").rstrip("\r\n")
        if not h:
            break
        k, _, v = h.partition(":")
        headers.append((k.strip(), v.strip()))
    lower = {k.lower(): v for k, v in headers}
    if lower.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(reader.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while reader.readline().strip():
                    pass
                break
            body += reader.read(size)
            reader.readline()
    else:
        body = reader.read(int(lower.get("content-length") or 0))
    return method, target, headers, body
