"""Which requests are sent again, after what, and how long we wait: client-go's rules, per method
(cluster.py's docstring). A scripted loopback server counts what actually reached it; waits are recorded through
the injectable ``Cluster.sleep``, never measured."""

from __future__ import annotations

import json
import socket
import struct
import threading
from typing import Any

import pytest
from unit.test_transport import LoopbackServer

from kubectl_gitops.cluster.client import ApiError, Cluster, ResourceType, StaleObjectError
from kubectl_gitops.cluster.kubeconfig import Endpoint
from kubectl_gitops.cluster.transport import HttpTransport
from kubectl_gitops.errors import AmbiguousWriteError, ClusterError, ExitCode

CM = ResourceType("", "v1", "ConfigMap", "configmaps", True)
OBJ = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "d"}}


def status_body(code: int, reason: str, message: str, causes: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
                       "message": message, "details": {"causes": causes or []}}).encode()


class ScriptedServer(LoopbackServer):
    """The loopback server, answering each request with the next action of a script (then 200 ``{"ok": n}``):
    ``("reset",)`` reads the request and resets the connection; ``("status", code, headers, body)``; ``("cut",)``
    announces a body and sends half of it; ``("hang",)`` never answers."""

    def __init__(self, script: list[tuple[Any, ...]]) -> None:
        self.script = list(script)
        self.methods: list[str] = []
        super().__init__(keep_alive=True)

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
                    self.methods.append(head.split(b" ")[0].decode())
                    action = self.script.pop(0) if self.script else ("ok",)
                    n = len(self.paths)
                if action[0] == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if action[0] == "hang":
                    threading.Event().wait(30)
                    return
                if action[0] == "status":
                    _, code, headers, body = action
                    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                    conn.sendall(f"HTTP/1.1 {code} X\r\nContent-Type: application/json\r\n{extra}"
                                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                    continue
                body = json.dumps({"ok": n, "items": []}).encode()
                if action[0] == "cut":
                    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body) + 50}\r\n\r\n".encode() + body)
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.fixture
def make() -> Any:
    servers: list[ScriptedServer] = []

    def build(*script: tuple[Any, ...], timeout: float = 5) -> tuple[Cluster, ScriptedServer, list[float]]:
        server = ScriptedServer(list(script))
        servers.append(server)
        t = HttpTransport(Endpoint(server=f"http://127.0.0.1:{server.port}", context="x", namespace="d"),
                          user_agent="test")
        c = Cluster(t, namespace="d", context="x", timeout=timeout, host="h")
        sleeps: list[float] = []
        c.sleep = sleeps.append  # type: ignore[method-assign]
        return c, server, sleeps

    yield build
    for s in servers:
        s.sock.close()


def test_a_post_is_not_sent_again_after_a_reset_once_sent(make: Any) -> None:
    c, server, sleeps = make(("reset",))
    with pytest.raises(AmbiguousWriteError) as err:
        c.create(OBJ, CM)
    assert server.methods == ["POST"] and sleeps == []  # the server saw it once; no second create
    assert err.value.exit_code == ExitCode.CLUSTER_ERROR
    assert "POST /api/v1/namespaces/d/configmaps" in str(err.value) and "not sent again" in str(err.value)
    assert err.value.method == "POST" and "look the object up" in (err.value.hint or "")


def test_server_side_apply_is_sent_again_after_a_reset(make: Any) -> None:
    c, server, sleeps = make(("reset",), ("reset",))
    assert c.apply(OBJ, CM)["ok"] == 3
    assert server.methods == ["PATCH"] * 3 and len(sleeps) == 2
    assert 0.05 <= sleeps[0] <= 0.1 and 0.1 <= sleeps[1] <= 0.2  # jittered: half to all of 0.1 s, 0.2 s
    assert c.retries == 2 and c.writes == 1


def test_delete_is_sent_again_and_a_404_then_means_gone(make: Any) -> None:
    c, server, _ = make(("reset",), ("status", 404, {}, status_body(404, "NotFound", 'configmaps "a" not found')))
    assert c.delete(CM, "d", "a", uid="u-1") is False
    assert server.methods == ["DELETE", "DELETE"]


def test_reads_are_sent_again_after_a_cut_body_or_garbage(make: Any) -> None:
    c, server, sleeps = make(("cut",), ("status", 200, {}, b"{not json"))
    assert list(c.list(CM, "d")) == []
    assert server.methods == ["GET"] * 3 and len(sleeps) == 2


@pytest.mark.parametrize("header, waited", [("3", 3.0), ("120", 10.0)])
def test_retry_after_is_honoured_and_capped(make: Any, header: str, waited: float) -> None:
    c, server, sleeps = make(("status", 429, {"Retry-After": header}, status_body(429, "TooManyRequests", "slow")))
    assert c.request("GET", "/api/v1/namespaces/d/configmaps/a")["ok"] == 2
    assert server.methods == ["GET", "GET"]
    assert sleeps == [waited]


def test_a_post_is_sent_again_when_the_server_says_it_did_not_act(make: Any) -> None:
    """429 (any), and 5xx with Retry-After: the server did not take it. A create is safe to send again."""
    c, server, sleeps = make(("status", 429, {}, status_body(429, "TooManyRequests", "slow")),
                             ("status", 503, {"Retry-After": "1"}, status_body(503, "ServiceUnavailable", "down")))
    assert c.create(OBJ, CM)["ok"] == 3
    assert server.methods == ["POST"] * 3 and sleeps[1] == 1.0 and 0.05 <= sleeps[0] <= 0.1


def test_a_post_answered_5xx_without_retry_after_is_ambiguous(make: Any) -> None:
    c, server, _ = make(("status", 504, {}, status_body(504, "Timeout", "may still be processing")))
    with pytest.raises(AmbiguousWriteError) as err:
        c.create(OBJ, CM)
    assert server.methods == ["POST"] and "504" in str(err.value)
    assert isinstance(err.value.__cause__, ApiError)


def test_a_read_answered_5xx_is_sent_again_and_gives_up_naming_the_attempts(make: Any) -> None:
    busy = ("status", 500, {}, status_body(500, "InternalError", "etcd is sad"))
    c, server, sleeps = make(*[busy] * 20)
    c.max_attempts = 4
    with pytest.raises(ApiError) as err:
        c.request("GET", "/api")
    assert server.methods == ["GET"] * 4 and len(sleeps) == 3
    assert "etcd is sad" in str(err.value) and "after 4 attempts" in str(err.value)


def test_a_timed_out_read_is_tried_once_more_and_named(make: Any) -> None:
    c, server, sleeps = make(("hang",), ("hang",), timeout=0.3)
    with pytest.raises(ClusterError) as err:
        c.request("GET", "/api/v1/namespaces/d/configmaps")
    assert server.methods == ["GET", "GET"] and len(sleeps) == 1
    msg = str(err.value)
    assert "GET /api/v1/namespaces/d/configmaps timed out after 0.3s" in msg and "cannot reach" not in msg


def test_a_timed_out_create_is_ambiguous(make: Any) -> None:
    c, server, _ = make(("hang",), timeout=0.3)
    with pytest.raises(AmbiguousWriteError) as err:
        c.create(OBJ, CM)
    assert server.methods == ["POST"] and "timed out after 0.3s" in str(err.value)


def test_nothing_listening_fails_after_a_few_tries(make: Any) -> None:
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = Cluster(HttpTransport(Endpoint(server=f"http://127.0.0.1:{port}", context="x", namespace="d"),
                              user_agent="t"), namespace="d", context="x", timeout=5, host="h")
    sleeps: list[float] = []
    c.sleep = sleeps.append  # type: ignore[method-assign]
    with pytest.raises(ClusterError) as err:
        c.create(OBJ, CM)  # refused: nothing was sent, so even a POST may be tried again
    assert not isinstance(err.value, AmbiguousWriteError)
    assert len(sleeps) == 2 and "cannot reach the API server" in str(err.value)


def test_conflicts_are_classified(make: Any) -> None:
    fm = status_body(409, "Conflict", 'Apply failed with 1 conflict: conflict with "kubectl-edit": .data.a',
                     [{"reason": "FieldManagerConflict", "message": 'conflict with "kubectl-edit"',
                       "field": ".data.a"}])
    stale = status_body(409, "Conflict", 'Operation cannot be fulfilled on configmaps "a": the object has been '
                        "modified; please apply your changes to the latest version and try again")
    exists = status_body(409, "AlreadyExists", 'configmaps "a" already exists')
    c, server, sleeps = make(("status", 409, {}, fm), ("status", 409, {}, stale), ("status", 409, {}, exists))
    with pytest.raises(ApiError) as e1:
        c.apply(OBJ, CM)
    with pytest.raises(StaleObjectError) as e2:
        c.apply(OBJ, CM)
    with pytest.raises(ApiError) as e3:
        c.create(OBJ, CM)
    assert e1.value.field_manager_conflict and not e1.value.stale and not isinstance(e1.value, StaleObjectError)
    assert e2.value.stale and not e2.value.field_manager_conflict and e2.value.conflict
    assert "force-conflicts" not in (e2.value.hint or "") and "run again" in (e2.value.hint or "")
    assert e3.value.already_exists and not e3.value.stale and not e3.value.field_manager_conflict
    assert sleeps == [] and len(server.methods) == 3  # a 409 is an answer: nothing is sent again by itself
