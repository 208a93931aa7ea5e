"""One exception tree for everything a user can act on, and the exit codes it maps to.

Exit codes (the same for every command, following kubectl and `diff`):

====  ==================================================================
code  meaning
====  ==================================================================
0     success; for ``diff``: no differences
1     ``diff`` only: differences found (never used for errors)
2     usage error: unknown flag, bad flag value, missing argument
3     invalid input: manifests, repository, ref, config or keys (nothing was changed)
4     operation failed: an apply, hook, health check or timeout failed during sync/prune
5     cluster error: unreachable, unauthorized, or the API server refused a request
6     refused by a safety guard: dirty work tree, prune without --yes, ownership conflict
70    internal error (a bug: please report it with the output of ``-v``)
130   interrupted (Ctrl-C)
====  ==================================================================
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    DIFFERENCES = 1
    USAGE = 2
    INVALID_INPUT = 3
    OPERATION_FAILED = 4
    CLUSTER_ERROR = 5
    REFUSED = 6
    INTERNAL = 70
    INTERRUPTED = 130


class GitopsError(Exception):
    """Base of every error a user can act on. ``str(err)`` is the one-line message:
    what went wrong, where (file:line or object), and what to do."""

    exit_code: ExitCode = ExitCode.OPERATION_FAILED

    def __init__(self, message: str, *, hint: str | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = list(details or [])

    def __str__(self) -> str:
        return self.message


class UsageError(GitopsError):
    exit_code = ExitCode.USAGE


class InvalidInputError(GitopsError):
    """Bad manifests, repository, ref or configuration. Raised before any write."""

    exit_code = ExitCode.INVALID_INPUT


class ValidationError(InvalidInputError):
    """Several problems found at once; ``details`` holds one line per problem."""

    def __init__(self, problems: list[str], *, hint: str | None = None):
        n = len(problems)
        super().__init__(
            f"{n} problem{'s' if n != 1 else ''} found, nothing was changed in the cluster",
            hint=hint,
            details=problems,
        )


class SourceError(InvalidInputError):
    """The repository, path or ref cannot be read."""


class RenderError(InvalidInputError):
    """kustomize/helm failed or is missing."""


class SecretsError(InvalidInputError):
    """A secret cannot be decrypted or resolved. Messages never contain secret values."""


class OperationFailed(GitopsError):
    exit_code = ExitCode.OPERATION_FAILED


class ClusterError(GitopsError):
    """The API server could not be reached or refused a request."""

    exit_code = ExitCode.CLUSTER_ERROR

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None, **kw):
        super().__init__(message, **kw)
        self.status = status
        self.reason = reason


class TransportError(ClusterError):
    """No (complete) HTTP response: refused, reset, timed out, TLS failed, body cut short. ``reason`` is
    ``connection``, ``timeout``, ``tls`` or ``garbled``; ``sent`` is True when the whole request was written,
    so the server may have acted on it (False: it cannot have, and sending again is safe for every method)."""

    def __init__(self, message: str, *, sent: bool = True, **kw):
        super().__init__(message, **kw)
        self.sent = sent


class RefusedError(GitopsError):
    exit_code = ExitCode.REFUSED


class AmbiguousWriteError(ClusterError):
    """A write whose outcome is unknown: the request may have reached the API server (the connection was reset
    after it was sent, it timed out, or the server answered 5xx) and it is not safe to send again (a POST
    could create a second object). The caller can look the object up before deciding what to do.
    ``method`` and ``path`` name the request."""

    def __init__(self, message: str, *, method: str, path: str, **kw):
        kw.setdefault("reason", "ambiguous")
        super().__init__(message, **kw)
        self.method = method
        self.path = path
