#!/usr/bin/env python3
"""Network latency for the benchmarks: every request to the API server waits a fixed delay.

    python bench/latency.py --ms 20 -- kubectl gitops diff      # one command, 20 ms per request
    python bench/latency.py --ms 50 --serve                     # prints a kubeconfig path; Ctrl-C stops

The local control plane answers on loopback in a few milliseconds; a cloud API server is 20-100 ms away. The
delay comes from the seeded TLS proxy of the fault tests (``tests/faults/proxy.py``, ``Faults(delay=...)``):
it terminates TLS on 127.0.0.1 with its own certificate, writes a kubeconfig that trusts it (same user), and
forwards each request to the real server after ``--ms`` milliseconds; a new connection waits once more (its
TCP and TLS handshakes, as one round trip). Requests on different connections wait in parallel, as on a real
network: a client with 8 requests in flight pays the delay once per 8, a client that sends one request after
another pays it every time. The proxy speaks HTTP/1.1 only (no ALPN ``h2``), so Go clients (kubectl, kapp)
open a connection per concurrent request instead of multiplexing them over one; the delay per request is the
same either way.

Benchmarks use ``through(kubeconfig, ms, workdir)``; 0 ms still goes through the proxy, so the proxy's own
cost (Python, a TLS hop each way, ~1 ms per request) is in every column alike and requests are counted the
same way for every tool (``Proxy.count()``, ``Proxy.reset()``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _load_proxy() -> types.ModuleType:
    """tests/faults/proxy.py by its path: ``faults`` on sys.path would be bench/faults.py from here."""
    spec = importlib.util.spec_from_file_location("_bench_fault_proxy", ROOT / "tests" / "faults" / "proxy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


_proxy = _load_proxy()
FaultProxy, Faults = _proxy.FaultProxy, _proxy.Faults


class Proxy:
    """A running latency proxy: its kubeconfig, and the requests it forwarded since the last ``reset``."""

    def __init__(self, inner: Any, ms: float):
        self._inner = inner
        self.ms = ms
        self.kubeconfig = str(inner.kubeconfig)
        self.server = inner.server
        self._start = 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        self._start = len(self._inner.requests)

    def count(self) -> int:
        return len(self._inner.requests) - self._start

    def requests(self) -> list[tuple[str, str]]:
        """(method, target) of each request since ``reset``."""
        return list(self._inner.requests[self._start:])

    def by_verb(self) -> dict[str, int]:
        """Requests since ``reset`` by HTTP method (GET ?watch counted as WATCH)."""
        out: dict[str, int] = {}
        for method, target in self._inner.requests[self._start:]:
            verb = "WATCH" if method == "GET" and "watch=" in target else method
            out[verb] = out.get(verb, 0) + 1
        return out


@contextlib.contextmanager
def through(kubeconfig: str, ms: float, workdir: Path, *, port: int = 0) -> Iterator[Proxy]:
    """A proxy in front of ``kubeconfig``'s current context adding ``ms`` per request, for the block."""
    with FaultProxy.start(kubeconfig, Faults(delay=ms / 1000.0), workdir, port=port) as inner:
        yield Proxy(inner, ms)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ms", type=float, default=20.0, help="delay per request, in milliseconds")
    ap.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="the real API server's kubeconfig")
    ap.add_argument("--serve", action="store_true", help="run until interrupted, printing the kubeconfig path")
    ap.add_argument("command", nargs="*", help="a command to run with KUBECONFIG pointing at the proxy")
    args = ap.parse_args()
    if not args.kubeconfig:
        ap.error("no kubeconfig: set KUBECONFIG or pass --kubeconfig")
    if not args.serve and not args.command:
        ap.error("give a command (after --) or --serve")
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp, \
            through(args.kubeconfig, args.ms, Path(tmp)) as proxy:
        if args.serve:
            print(proxy.kubeconfig, flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
            return 0
        code = subprocess.call(args.command, env={**os.environ, "KUBECONFIG": proxy.kubeconfig})
        print(f"[latency] {proxy.count()} requests at {args.ms:g} ms each: {proxy.by_verb()}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
