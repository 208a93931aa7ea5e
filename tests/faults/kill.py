"""Run a command and SIGKILL it at a chosen moment, for tests of recovery from kills (issue 12, item 5).

    r = run_and_kill(["kubectl", "gitops", "sync"], cwd=repo, after=1.5)              # at 1.5 s
    r = run_and_kill(argv, cwd=repo, seed=3, window=(0.2, 4.0))                        # a seeded moment in a window
    r = run_and_kill(argv, cwd=repo, when_stderr="wave PostSync")                      # when a line appears
    assert r.killed or r.returncode == 0

The command runs in its own process group (kubectl runs the plugin, the plugin may run helm or git), and the
whole group is killed, so nothing it started survives. If the command ends first, ``killed`` is False and
``returncode`` is its own exit code.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class KillResult:
    returncode: int
    killed: bool
    delay: float | None  # seconds after start when the kill was sent (None: not sent)
    stdout: str
    stderr: str


def run_and_kill(argv: list[str], *, cwd: Path | str | None = None, env: dict[str, str] | None = None,
                 after: float | None = None, seed: int | None = None, window: tuple[float, float] = (0.0, 5.0),
                 when_stderr: str | None = None, timeout: float = 120) -> KillResult:
    """Exactly one of ``after``, ``seed`` (a moment drawn from ``window``) or ``when_stderr`` chooses when."""
    if sum(x is not None for x in (after, seed, when_stderr)) != 1:
        raise ValueError("give exactly one of after, seed, when_stderr")
    delay = after if after is not None else (random.Random(seed).uniform(*window) if seed is not None else None)
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    start = time.monotonic()
    out: list[str] = []
    err: list[str] = []
    sent: list[float] = []
    lock = threading.Lock()

    def kill() -> None:
        with lock:
            if sent or proc.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group this call created (pgid == the child's pid)
            sent.append(time.monotonic() - start)

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line)
            if when_stderr is not None and when_stderr in line:
                kill()

    def read_out() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)

    readers = [threading.Thread(target=read_err, daemon=True), threading.Thread(target=read_out, daemon=True)]
    for t in readers:
        t.start()
    timer = threading.Timer(delay, kill) if delay is not None else None
    if timer is not None:
        timer.start()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill()
        code = proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
    for t in readers:
        t.join(timeout=10)
    return KillResult(code, bool(sent) and code == -signal.SIGKILL, sent[0] if sent else None,
                      "".join(out), "".join(err))
