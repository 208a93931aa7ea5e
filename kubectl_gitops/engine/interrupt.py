"""SIGINT and SIGTERM during a sync or prune: finish what is in flight, start no new write, stop cleanly.

The first signal only sets a flag (``request``). The sync and prune loops call ``check()`` before each write
(and between health polls); it raises ``Interrupted`` once the flag is set, so requests already sent finish,
nothing new starts, and the exception unwinds through the code that records the run and releases the app's
lease. The CLI turns it into exit 130 (SIGINT) or 143 (SIGTERM), as a shell reports a process stopped by
that signal.

A second signal stops at once (``os._exit`` with the same code): nothing is cleaned up, which is still safe
— the record always covers what may have been written and the next run repairs, as after ``kill -9``.

**Wave boundaries** (``sync --watch``, ``handling(waves=True)``): the first SIGTERM lets the current wave finish
— applies, hooks and its health wait — and stops before the next wave (or the prune after the last one): only
the checks marked ``boundary=True`` raise. SIGHUP, or a second signal, still stops at once.

The core never installs handlers: only the CLI does (``handling()``), and only in the main thread. Without
them (the library used from other code) ``check()`` is a cheap no-op.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubectl_gitops.errors import ExitCode, GitopsError

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_flag = threading.Event()
_received: list[int] = []
_boundaries_only = threading.Event()  # set: only boundary checks raise (finish the current wave first)


class Interrupted(GitopsError):
    """A SIGINT/SIGTERM arrived: the run stopped before its next write. ``signum`` names the signal."""

    def __init__(self, signum: int, where: str = ""):
        name = signal_name(signum)
        super().__init__(
            f"interrupted by {name}" + (f" {where}" if where else "") + ": no new writes were started, "
            "what was applied stays applied",
            hint="run the same command again: it reads the cluster afresh and converges")
        self.signum = signum
        self.exit_code = exit_code_for(signum)  # type: ignore[assignment]


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code_for(signum: int) -> int:
    """130 for SIGINT (``ExitCode.INTERRUPTED``), else 128 + the signal's number (143 for SIGTERM)."""
    return int(ExitCode.INTERRUPTED) if signum == signal.SIGINT else 128 + signum


def request(signum: int = signal.SIGINT) -> None:
    """Ask the running operation to stop before its next write (what the first signal does)."""
    _received.append(signum)
    _flag.set()


def requested() -> int | None:
    """The signal that asked to stop, or None."""
    return _received[0] if _flag.is_set() and _received else None


def check(where: str = "", *, boundary: bool = False) -> None:
    """Raise ``Interrupted`` if a stop was requested. Called before each write; ``boundary``: at the start of a
    wave or of the prune (the only checks that raise in wave-boundary mode)."""
    if _flag.is_set() and (boundary or not _boundaries_only.is_set()):
        raise Interrupted(_received[0] if _received else signal.SIGINT, where)


def wait(seconds: float) -> bool:
    """Sleep up to ``seconds``, waking at once when a stop is requested; True if one was (the watch loop's
    pause between polls)."""
    return _flag.wait(max(0.0, seconds))


def reset() -> None:
    _flag.clear()
    _boundaries_only.clear()
    _received.clear()


@contextmanager
def handling(notice: Callable[[str], None] | None = None, *, waves: bool = False) -> Iterator[None]:
    """Inside the block, SIGINT/SIGTERM set the flag (the first one) or exit at once (the second one).
    ``notice`` is told what happens (the CLI prints it). The previous handlers come back after. ``waves``: the
    first signal lets the current wave finish, and SIGHUP stops at once (``sync --watch``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def at_once(signum: int, frame: Any) -> None:
        if notice:
            notice(f"{signal_name(signum)}: stopping at once (the Lease expires by itself; the next run repairs)")
        sys.stderr.flush()
        os._exit(exit_code_for(signum))

    def handler(signum: int, frame: Any) -> None:
        if _flag.is_set():
            if notice:
                notice(f"{signal_name(signum)} again: stopping at once (the next run repairs)")
            sys.stderr.flush()
            os._exit(exit_code_for(signum))
        request(signum)
        if notice:
            notice(f"{signal_name(signum)}: finishing the current wave, then stopping (send it again to stop at "
                   "once)" if waves else f"{signal_name(signum)}: finishing the requests in flight, starting no "
                   "new writes (send it again to stop at once)")

    reset()
    if waves:
        _boundaries_only.set()
    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    if waves:
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, at_once)
    try:
        yield
    finally:
        _boundaries_only.clear()
        for sig, old in previous.items():
            signal.signal(sig, old)
