"""What every command shares: error handling and exit codes, and the printer for this invocation."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from kubectl_gitops.cli.options import get_settings
from kubectl_gitops.cli.output import Printer
from kubectl_gitops.errors import ExitCode, GitopsError

F = TypeVar("F", bound=Callable[..., Any])


def printer() -> Printer:
    return Printer(get_settings().output)


def handle_errors(f: F) -> F:
    """Turn the core's exceptions into one message and the documented exit code (see errors.py)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            rv = f(*args, **kwargs)
            return int(rv or 0)
        except GitopsError as e:
            return printer().error(e)
        except BrokenPipeError:
            raise
        except KeyboardInterrupt:
            printer().info("interrupted")
            return int(ExitCode.INTERRUPTED)
        except Exception as e:
            return printer().error(e)

    return wrapper  # type: ignore[return-value]


def interruptible(f: F) -> F:
    """For commands that write (sync, prune): the first SIGINT/SIGTERM stops them before their next write
    (``interrupt.Interrupted``, exit 130/143), a second one at once (see kubectl_gitops/interrupt.py)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import contextlib
        import os

        from kubectl_gitops.engine import interrupt

        def notice(text: str) -> None:  # from a signal handler: no buffered stream, no locks
            with contextlib.suppress(OSError):
                os.write(2, f"{text}\n".encode())

        with interrupt.handling(notice):
            return f(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
