"""The app's name: derived from the repository and path when ``--app`` is not given, and validated."""

from __future__ import annotations

import hashlib
import re

from kubectl_gitops.errors import UsageError
from kubectl_gitops.source.remote import normalize_remote

MAX_APP_NAME = 63

_APP_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")


def slugify(text: str) -> str:
    """Lower case, runs of anything but ``[a-z0-9]`` become one ``-``, no ``-`` at either end."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def shorten(slug: str, limit: int = MAX_APP_NAME) -> str:
    """``slug`` if it fits, else its head plus ``-`` and 8 hex digits of its sha256 (stable, unique)."""
    if len(slug) <= limit:
        return slug
    digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
    return f"{slug[: limit - 9].rstrip('-')}-{digest}"


def default_app_name(remote_url: str | None, repo_dir: str | None, path: str) -> str:
    """The app name when ``--app`` is not given: the remote (normalised) or the repository folder's
    name, then the manifests path. ``github.com/acme/deploy`` + ``apps/web`` -> ``github-com-acme-deploy-apps-web``.
    """
    base = normalize_remote(remote_url) if remote_url else (repo_dir or "")
    parts = [base]
    if path and path not in (".", "./"):
        parts.append(path)
    slug = slugify("-".join(parts)) or "app"
    return shorten(slug)


def validate_app_name(name: str) -> str:
    if len(name) > MAX_APP_NAME or not _APP_NAME.match(name):
        raise UsageError(
            f"invalid app name {name!r}",
            hint=f"use at most {MAX_APP_NAME} lower-case letters, digits, '-' and '.', starting and ending "
                 "with a letter or digit (it names the record Secret kubectl-gitops.<app>)")
    return name
