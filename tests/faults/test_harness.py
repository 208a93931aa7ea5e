"""The fault-injection harness itself: each fault does what it says, decisions are reproducible, kills happen."""

from __future__ import annotations

import http.client
import json
import signal
import sys
from pathlib import Path

import pytest
from faults.kill import run_and_kill
from faults.proxy import FaultProxy, Faults
from unit.test_transport import LoopbackServer

from kubectl_gitops.cluster.kubeconfig import Endpoint
from kubectl_gitops.cluster.transport import HttpTransport
from kubectl_gitops.errors import ClusterError


def _kubeconfig(tmp_path: Path, port: int) -> str:
    path = tmp_path / "upstream.yaml"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "up",
        "clusters": [{"name": "up", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "up", "user": {"token": "t0k3n-harness"}}],
        "contexts": [{"name": "up", "context": {"cluster": "up", "user": "up"}}]}))
    return str(path)


def _client(proxy: FaultProxy) -> HttpTransport:
    return HttpTransport(Endpoint(server=proxy.server, context="faults", namespace="d", ca_pem=proxy.ca_pem),
                         user_agent="harness")


def _get(t: HttpTransport, path: str = "/api") -> int:
    return t.send("GET", path, query=[], headers={}, body=None, timeout=5).status


@pytest.fixture
def upstream() -> LoopbackServer:
    server = LoopbackServer(keep_alive=True)
    yield server
    server.sock.close()


def test_clean_requests_pass_through_with_tls_and_the_kubeconfig(tmp_path: Path, upstream: LoopbackServer) -> None:
    with FaultProxy.start(_kubeconfig(tmp_path, upstream.port), Faults(), tmp_path / "p") as proxy:
        t = _client(proxy)
        assert [_get(t) for _ in range(3)] == [200, 200, 200]
        t.close()
        assert proxy.injected == [] and len(proxy.requests) == 3 and upstream.paths == ["/api"] * 3
        written = proxy.kubeconfig.read_text()
        assert proxy.server in written and "t0k3n-harness" in written  # the original user, the proxy's server


def test_a_delay_is_waited_once_per_request_and_once_per_connection(tmp_path: Path,
                                                                   upstream: LoopbackServer) -> None:
    """The latency of bench/latency.py: every request (and each new connection's handshake) waits the delay."""
    with FaultProxy.start(_kubeconfig(tmp_path, upstream.port), Faults(delay=0.02), tmp_path / "p") as proxy:
        waited: list[float] = []
        proxy.sleep = waited.append
        t = _client(proxy)
        assert [_get(t) for _ in range(3)] == [200, 200, 200]
        t.close()
        assert waited == [0.02] * 4 and proxy.injected == [] and upstream.paths == ["/api"] * 3


@pytest.mark.parametrize("fault, status, reaches_server", [("429", 429, False), ("503", 503, False),
                                                           ("500", 500, False), ("504", 504, True)])
def test_status_faults(tmp_path: Path, upstream: LoopbackServer, fault: str, status: int,
                       reaches_server: bool) -> None:
    with FaultProxy.start(_kubeconfig(tmp_path, upstream.port), Faults(rates={fault: 1.0}, retry_after=3),
                          tmp_path / "p") as proxy:
        t = _client(proxy)
        resp = t.send("POST", "/api/v1/namespaces/d/configmaps", query=[], headers={}, body={}, timeout=5)
        t.close()
        assert resp.status == status and json.loads(resp.data)["kind"] == "Status"
        assert (len(upstream.paths) == 1) is reaches_server
        assert proxy.count(fault, "POST") == 1


def test_reset_after_the_server_answered(tmp_path: Path, upstream: LoopbackServer) -> None:
    with FaultProxy.start(_kubeconfig(tmp_path, upstream.port), Faults(rates={"reset-after": 1.0}),
                          tmp_path / "p") as proxy:
        t = _client(proxy)
        with pytest.raises(ClusterError):
            t.send("POST", "/api/v1/namespaces/d/configmaps", query=[], headers={}, body={}, timeout=5)
        t.close()
        assert upstream.paths == ["/api/v1/namespaces/d/configmaps"]  # the server acted
        assert proxy.count("reset-after") == 1


def test_reset_before_never_reaches_the_server(tmp_path: Path, upstream: LoopbackServer) -> None:
    with FaultProxy.start(_kubeconfig(tmp_path, upstream.port), Faults(rates={"reset-before": 1.0}),
                          tmp_path / "p") as proxy:
        t = _client(proxy)
        with pytest.raises(ClusterError):
            t.send("POST", "/api/v1/namespaces/d/configmaps", query=[], headers={}, body={}, timeout=5)
        t.close()
        assert upstream.paths == [] and proxy.count("reset-before") == 1


def test_cut_list_bodies(tmp_path: Path) -> None:
    """A LIST answer is cut mid-body: the client sees an incomplete read, whichever framing was chosen."""
    import socket
    import threading

    items = json.dumps({"kind": "ConfigMapList", "items": [{"metadata": {"name": f"c{i}"}} for i in range(50)]})
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                while b"\r\n\r\n" not in c.recv(65536):
                    pass
                c.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(items)}\r\n\r\n{items}".encode())

    threading.Thread(target=serve, daemon=True).start()
    with FaultProxy.start(_kubeconfig(tmp_path, srv.getsockname()[1]), Faults(rates={"cut": 1.0}, seed=1),
                          tmp_path / "p") as proxy:
        for _ in range(4):
            conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, timeout=5,
                                               context=__import__("ssl").create_default_context(
                                                   cadata=proxy.ca_pem.decode()))
            conn.request("GET", "/api/v1/configmaps")
            with pytest.raises((http.client.IncompleteRead, ConnectionError)):
                conn.getresponse().read()
            conn.close()
        assert proxy.count("cut") == 4
    srv.close()


def test_decisions_are_seeded_and_reproducible(tmp_path: Path, upstream: LoopbackServer) -> None:
    def run(seed: int) -> list[str]:
        with FaultProxy.start(_kubeconfig(tmp_path, upstream.port),
                              Faults(seed=seed, rates={"429": 0.3, "503": 0.3}), tmp_path / f"p{seed}") as proxy:
            t = _client(proxy)
            codes = [str(_get(t, f"/api/v1/namespaces/n{i}")) for i in range(30)]
            t.close()
            return codes

    first, again, other = run(5), run(5), run(6)
    assert first == again and first != other
    assert {"200", "429", "503"} <= set(first)


def test_outage(tmp_path: Path, upstream: LoopbackServer) -> None:
    with FaultProxy.start(_kubeconfig(tmp_path, upstream.port), Faults(), tmp_path / "p") as proxy:
        t = _client(proxy)
        proxy.outage(30)
        assert [_get(t) for _ in range(3)] == [503] * 3
        proxy.outage(0)
        assert _get(t) == 200
        t.close()
        assert proxy.count("outage") == 3 and upstream.paths == ["/api"]


def test_kill_at_a_line_on_stderr() -> None:
    r = run_and_kill([sys.executable, "-c", "import sys, time; print('ready', file=sys.stderr, flush=True); "
                      "time.sleep(60)"], when_stderr="ready", timeout=30)
    assert r.killed and r.returncode == -signal.SIGKILL and "ready" in r.stderr


def test_kill_at_a_seeded_moment_and_a_command_that_ends_first() -> None:
    r = run_and_kill([sys.executable, "-c", "import time; time.sleep(60)"], seed=4, window=(0.1, 0.3), timeout=30)
    assert r.killed and r.delay is not None
    quick = run_and_kill([sys.executable, "-c", "print('done')"], after=30, timeout=30)
    assert not quick.killed and quick.returncode == 0 and quick.stdout == "done\n"
