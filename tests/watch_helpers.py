"""Helpers for the pull-mode e2e tests: `kubectl gitops sync --watch -o json` as a background process whose JSON
event lines are collected as they come, and the app's status/Lease/Events as the cluster has them.

    w = WatchProc.start(app, "--interval", "1s")
    w.wait_event(lambda e: e["type"] == "watch.synced", timeout=60)
    assert w.stop() == 0                                       # SIGTERM: finish the wave, release, exit 0
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from cli_helpers import ROOT
from cluster_helpers import kubectl
from sync_helpers import SyncApp, ok


class WatchProc:
    def __init__(self, proc: subprocess.Popen[str]):
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    @classmethod
    def start(cls, app: SyncApp, *args: str, env: dict[str, str] | None = None, once: bool = False) -> WatchProc:
        full = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECTL_GITOPS_", "KUBECTL_EXTERNAL_DIFF"))}
        full.update({"PATH": f"{ROOT / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1",
                     **(env or {})})
        argv = ["kubectl", "gitops", "sync", "--app", app.name, "--record-namespace", app.namespace,
                "--once" if once else "--watch", "-o", "json", *args]
        return cls(subprocess.Popen(argv, cwd=app.repo.path, env=full, text=True, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True))

    @classmethod
    def start_paths(cls, paths: list[str], namespace: str, *args: str, cwd: str, once: bool = False) -> WatchProc:
        """One process watching several apps: ``sync --watch PATH PATH...`` (each app's name derived)."""
        full = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECTL_GITOPS_", "KUBECTL_EXTERNAL_DIFF"))}
        full.update({"PATH": f"{ROOT / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"})
        argv = ["kubectl", "gitops", "sync", *paths, "--record-namespace", namespace,
                "--once" if once else "--watch", "-o", "json", *args]
        return cls(subprocess.Popen(argv, cwd=cwd, env=full, text=True, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True))

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                ev = json.loads(line)
                with self._lock:
                    self.events.append(ev)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.stderr.append(line)

    def of(self, type_: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("type") == type_]

    def wait_event(self, pred: Callable[[dict[str, Any]], bool], timeout: float, what: str = "an event",
                   after: int = 0) -> dict[str, Any]:
        """The first event (from index ``after``) matching ``pred``; fails naming ``what`` after ``timeout`` s or
        when the process ends first."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = next((e for e in self.events[after:] if pred(e)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline or self.proc.poll() is not None:
                time.sleep(0.2)  # let the readers drain
                with self._lock:
                    found = next((e for e in self.events[after:] if pred(e)), None)
                if found is not None:
                    return found
                raise AssertionError(f"no {what} within {timeout:.0f}s (exit {self.proc.poll()})\n{self.dump()}")
            time.sleep(0.1)

    def mark(self) -> int:
        with self._lock:
            return len(self.events)

    def dump(self) -> str:
        with self._lock:
            return "events:\n" + "\n".join(json.dumps(e)[:300] for e in self.events[-40:]) + \
                "\nstderr:\n" + "".join(self.stderr[-40:])

    def send(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 120) -> int:
        self.send(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)


def status(app: SyncApp) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(app.run("status", app.name, "-o", "json")).stdout)
    return doc


def record_events(app: SyncApp) -> list[dict[str, Any]]:
    """The Kubernetes Events on the app's record, oldest first."""
    items = json.loads(kubectl("get", "events", "-n", app.namespace, "-o", "json",
                               "--field-selector", f"involvedObject.name=kubectl-gitops.{app.name}").stdout)["items"]
    return sorted(items, key=lambda e: (e.get("firstTimestamp") or "", e["metadata"]["name"]))


def lease_holder(app: SyncApp) -> str:
    proc = kubectl("get", "lease", f"kubectl-gitops.{app.name}", "-n", app.namespace, "-o", "json", check=False)
    if proc.returncode != 0:
        return ""
    return str((json.loads(proc.stdout).get("spec") or {}).get("holderIdentity") or "")


def scrape(address: str) -> dict[str, float]:
    """GET /metrics from the loop's endpoint and parse every sample (``name{labels}`` -> value)."""
    import re
    import urllib.request

    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$", line)
        assert m, f"not a sample line: {line!r}"
        out[m.group(1)] = float(m.group(2))
    return out
