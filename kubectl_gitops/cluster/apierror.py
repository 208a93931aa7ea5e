"""The API server's error answers: ``ApiError`` with its status, reason and causes, and the 409 kinds."""

from __future__ import annotations

from typing import Any

from kubectl_gitops.errors import ClusterError


class ApiError(ClusterError):
    """The API server answered with an error status. ``causes`` are the Status details (field, message)."""

    def __init__(self, message: str, *, status: int, reason: str | None, causes: list[dict[str, Any]] | None = None,
                 retry_after: float | None = None):
        super().__init__(message, status=status, reason=reason)
        self.causes = causes or []
        self.request = ""
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After), if it did
        self.unknown_type = False  # a 404 for the resource type itself, not for an object of it

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """Any 409: see ``field_manager_conflict``, ``stale`` and ``already_exists`` for which one."""
        return self.status == 409

    @property
    def field_manager_conflict(self) -> bool:
        """Server-side apply: fields owned by another field manager (``--force-conflicts`` takes them). The
        Status cause's type is serialised as ``reason`` (metav1.StatusCause), as the real server sends it."""
        return self.status == 409 and any((c or {}).get("reason") == "FieldManagerConflict" for c in self.causes)

    @property
    def stale(self) -> bool:
        """Optimistic concurrency: the object changed since the resourceVersion we sent. Forcing cannot help;
        re-read the object and try again."""
        return (self.status == 409 and self.reason == "Conflict" and not self.field_manager_conflict
                and "has been modified" in self.message)

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"


class StaleObjectError(ApiError):
    """A 409 "the object has been modified": someone wrote the object between our read and our write.
    The caller re-reads and retries (bounded); if it reaches the user, running again is the remedy."""

