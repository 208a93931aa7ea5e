"""The watch loop's HTTP endpoint (``--metrics-addr``): ``/`` (the status page the CLI renders, cli/watch_page.py),
``/metrics`` (Prometheus text), ``/healthz``, ``/readyz``.

Read-only, GET and HEAD only, on the standard library's ``ThreadingHTTPServer`` in a daemon thread (a few
requests a minute from a scraper and a kubelet need no framework). ``PORT`` or ``:PORT`` binds 127.0.0.1 — a
laptop's loop is not published to the network by accident; in a pod the manifests pass ``0.0.0.0:PORT``.

* ``/healthz``: 200 while the loop has run an iteration recently (within 3 intervals plus the longest sync it may
  be in: ``stale_after``), else 503 — a stuck loop gets restarted by the kubelet.
* ``/readyz``: 200 once a poll of the source succeeded (a standby replica is ready too: it can take over), else 503.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubectl_gitops.engine.metrics import Metrics
from kubectl_gitops.errors import UsageError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def parse_addr(text: str) -> tuple[str, int]:
    """``9090`` or ``:9090`` -> (127.0.0.1, 9090); ``0.0.0.0:9090``, ``[::1]:9090`` as given."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = "", text.strip()
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise UsageError(f"invalid --metrics-addr {text!r}: use PORT, :PORT or HOST:PORT (e.g. 9090, 0.0.0.0:9090)")
    return host, number


class Endpoint:
    """A running server; ``port`` is the bound port (``:0`` picks a free one), ``close()`` stops it."""

    def __init__(self, addr: str, metrics: Metrics, *, healthy: Callable[[], bool], ready: Callable[[], bool],
                 page: Callable[[], str] | None = None):
        host, port = parse_addr(addr)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "kubectl-gitops"
            sys_version = ""

            def do_GET(self) -> None:
                endpoint._answer(self, head=False)

            def do_HEAD(self) -> None:
                endpoint._answer(self, head=True)

            def log_message(self, format: str, *args: Any) -> None:  # the core never prints
                return

        self.metrics, self.healthy, self.ready, self.page = metrics, healthy, ready, page
        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as e:
            raise UsageError(f"cannot listen on --metrics-addr {addr} ({host}:{port}): {e.strerror or e}") from e
        self.server.daemon_threads = True
        self.host = host
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)
        self.thread.start()

    def _answer(self, h: BaseHTTPRequestHandler, *, head: bool) -> None:
        path = h.path.split("?", 1)[0]
        if path == "/metrics":
            code, ctype, body = 200, CONTENT_TYPE, self.metrics.render()
        elif path == "/healthz":
            ok = self.healthy()
            code, ctype, body = (200 if ok else 503), "text/plain; charset=utf-8", "ok\n" if ok else "stale\n"
        elif path == "/readyz":
            ok = self.ready()
            code, ctype, body = (200 if ok else 503), "text/plain; charset=utf-8", "ok\n" if ok else "not ready\n"
        elif path == "/" and self.page is not None:
            code, ctype, body = 200, "text/html; charset=utf-8", self.page()
        else:
            code, ctype, body = 404, "text/plain; charset=utf-8", "not found\n"
        data = body.encode()
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Cache-Control", "no-store")
        h.send_header("X-Content-Type-Options", "nosniff")
        h.end_headers()
        if not head:
            h.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


__all__ = ["CONTENT_TYPE", "Endpoint", "parse_addr"]
