"""A local HTTP server for tests (a fake remote, a recording listener), started and stopped safely."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from typing import Any


class LoopbackHTTPServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server on 127.0.0.1 (a free port) whose ``shutdown`` cannot hang.

    A client that connects and resets before the server's ``accept`` leaves the selector "ready" and ``accept()``
    blocking (the connection is gone from the queue): with a timeout on the listening socket, ``serve_forever``
    gets back to its shutdown check. Without it, a test's teardown waited forever.
    """

    daemon_threads = True

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.socket.settimeout(1.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def serving(server: LoopbackHTTPServer) -> Iterator[Any]:
    """Run ``server`` in a thread for the ``with`` block; shut it down and close it afterwards."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
