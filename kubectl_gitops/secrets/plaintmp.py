"""Private temporary folders for plaintext (``secrets edit``, the git merge driver), removed on every exit.

``private_tempdir()`` is a ``mkdtemp`` folder (mode 0700) removed when the block ends: normally, on an
error, on Ctrl-C (SIGINT, Python's KeyboardInterrupt) and also on SIGTERM and SIGHUP, which by default
kill a Python process without running ``finally`` blocks (a CI runner's timeout, ``kill``, a closed
terminal). While the block runs those two signals raise ``Terminated`` instead; a child process waited for
with ``subprocess.run`` (the editor, ``git merge-file``) is killed by ``subprocess.run`` on the way out.
The signals are blocked while the folder is created and while it is removed, so no signal can land
between ``mkdtemp`` and the ``try`` that removes it, or interrupt the removal. The CLI turns ``Terminated``
into exit code 128 + the signal's number (143 for SIGTERM, 129 for SIGHUP), as a shell reports it.

SIGKILL cannot be caught: a folder left by ``kill -9`` is in ``$TMPDIR``, mode 0700, named
``kubectl-gitops-*``. Handlers can only be installed in the main thread; elsewhere only the
normal, error and Ctrl-C paths remove the folder. Hand-written: the standard library's ``tempfile``
cleans up on exceptions only, and no maintained library converts these signals for a block.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived inside ``terminating_raises()``. A BaseException, like KeyboardInterrupt, so
    that ``except Exception`` does not swallow it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


def _raise(signum: int, frame: Any) -> None:
    raise Terminated(signum)


@contextmanager
def _blocked() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP held back (delivered when the block ends)."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, *SIGNALS})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def terminating_raises() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise ``Terminated``; the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def private_tempdir(prefix: str) -> Iterator[Path]:
    """A fresh 0700 folder in ``$TMPDIR`` for plaintext, removed when the block ends, however it ends."""
    with terminating_raises():
        folder: str | None = None
        try:
            with _blocked():
                folder = tempfile.mkdtemp(prefix=prefix)
            yield Path(folder)
        finally:
            if folder is not None:
                with _blocked():
                    shutil.rmtree(folder, ignore_errors=True)
