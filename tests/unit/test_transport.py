"""The transport's own logic: keep-alive connections the server closed, exec credential parsing."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from kubectl_gitops.cluster.execcred import ExecCredentials
from kubectl_gitops.cluster.kubeconfig import Endpoint
from kubectl_gitops.cluster.transport import HttpTransport
from kubectl_gitops.errors import ClusterError

WHERE = "the exec plugin of context 'x'"


class LoopbackServer:
    """HTTP/1.1 on loopback answering ``{"ok": <request number>}``. With ``keep_alive=False`` it closes each
    connection after one answer without saying so (no ``Connection: close``): a client that keeps the connection
    finds it dead when it comes to reuse it."""

    def __init__(self, *, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.paths: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def read_request(conn: socket.socket, buf: bytes) -> tuple[bytes, bytes] | None:
        """(request head, what is left of ``buf``) of the next request on ``conn`` (its body read and dropped), or
        None when the client closed the connection."""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(buf) < length:
            buf += conn.recv(65536)
        return head, buf[length:]

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                got = self.read_request(conn, buf)
                if got is None:
                    return
                head, buf = got
                with self._lock:
                    self.paths.append(head.split(b" ")[1].decode())
                    body = json.dumps({"ok": len(self.paths)}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                if not self.keep_alive:
                    return


def test_a_keep_alive_connection_the_server_closed_is_replaced() -> None:
    server = LoopbackServer(keep_alive=False)
    t = HttpTransport(Endpoint(server=f"http://127.0.0.1:{server.port}", context="x", namespace="d"),
                      user_agent="test")
    bodies = [json.loads(t.send("GET", "/api", query=[("limit", 5)], headers={}, body=None, timeout=5).data)
              for _ in range(3)]
    t.close()
    assert bodies == [{"ok": 1}, {"ok": 2}, {"ok": 3}]
    assert server.connections == 3 and server.paths == ["/api?limit=5"] * 3
    server.sock.close()


def test_connections_are_shared_across_threads_and_pools() -> None:
    """A sync runs each wave on new worker threads: they must reuse the idle connections, not open more."""
    from kubectl_gitops.cluster.concurrency import map_bounded

    server = LoopbackServer(keep_alive=True)
    t = HttpTransport(Endpoint(server=f"http://127.0.0.1:{server.port}", context="x", namespace="d"),
                      user_agent="test")

    def get(_: int) -> int:
        return t.send("GET", "/api", query=[], headers={}, body=None, timeout=5).status

    for _ in range(5):  # five "waves", four workers each
        assert map_bounded(get, range(8), 4) == [200] * 8
    t.close()
    assert len(server.paths) == 40 and server.connections <= 4
    server.sock.close()


def test_nothing_listening_is_a_connection_error() -> None:
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t = HttpTransport(Endpoint(server=f"http://127.0.0.1:{port}", context="x", namespace="d"), user_agent="test")
    with pytest.raises(ClusterError) as err:
        t.send("GET", "/api", query=[], headers={}, body=None, timeout=5)
    assert err.value.reason == "connection" and f"127.0.0.1:{port}" in str(err.value)


@pytest.mark.parametrize("out, message", [
    (b"not json", "not JSON"),
    (json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential"}), "no ExecCredential"),
    (json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {}}),
     "neither a token nor a client certificate"),
    (json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                 "status": {"clientCertificateData": "c"}}), "without its key"),
    (json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                 "status": {"token": "tok-123456", "expirationTimestamp": "tomorrow"}}), "not RFC 3339"),
])
def test_bad_exec_plugin_output(out: bytes | str, message: str) -> None:
    raw = out if isinstance(out, bytes) else out.encode()
    with pytest.raises(ClusterError) as err:
        ExecCredentials._parse(raw, "client.authentication.k8s.io/v1", WHERE)
    assert message in str(err.value) and "tok-123456" not in str(err.value)


def test_exec_credential_expiry_is_read() -> None:
    out = json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                      "status": {"token": "tok-abcdef", "expirationTimestamp": "2030-01-02T03:04:05Z"}}).encode()
    cred = ExecCredentials._parse(out, "client.authentication.k8s.io/v1", WHERE)
    assert cred.token == "tok-abcdef" and cred.expires == 1893553445.0


def test_https_only_servers() -> None:
    from kubectl_gitops.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as err:
        HttpTransport(Endpoint(server="ftp://x", context="x", namespace="d"), user_agent="t")
    assert "https://" in (err.value.hint or "")


@pytest.mark.parametrize("spec, message", [
    ({"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}, "has apiVersion"),
    ({"apiVersion": "client.authentication.k8s.io/v1", "interactiveMode": "Never"}, "has no command"),
    ({"apiVersion": "client.authentication.k8s.io/v1", "command": "x", "args": "a b"}, "must be lists"),
    ({"apiVersion": "client.authentication.k8s.io/v1", "command": "x"}, "has interactiveMode ''"),  # v1: required
    ({"apiVersion": "client.authentication.k8s.io/v1", "command": "x", "interactiveMode": "Always"},
     "needs a terminal"),
])
def test_exec_plugin_stanza_errors_are_input_errors(spec, message, monkeypatch) -> None:
    from kubectl_gitops.errors import InvalidInputError

    monkeypatch.setattr("sys.stdin", None)  # no terminal
    creds = ExecCredentials(Endpoint(server="https://x", context="x", namespace="d", exec=spec))
    with pytest.raises(InvalidInputError) as err:
        creds.get()
    assert message in str(err.value)
