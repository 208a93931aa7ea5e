"""Remote repository addresses: telling a remote from a local path, and one normal form per remote.

The one place that parses them: ``source.repo`` decides whether ``--repo`` is a remote, the inventory derives
the default app name from the normal form, so both agree on every spelling (https, ssh, scp-like).

Git's scp-like syntax is ``[user@]host:path`` (``git@github.com:org/repo.git``, ``github.com:org/repo``):
a colon with no ``/`` before it and no ``//`` after it. A single letter before the colon is a Windows drive
(``C:\\repo``), not a host.
"""

from __future__ import annotations

import re

# [user@]host:path, host of at least two characters (one letter is a drive), the path not starting with //
_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?([\w.-]{2,}):(?!//)(.*)$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_URL_PARTS = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/]*@)?([^/:]*)(?::\d+)?(/.*)?$")


def has_scheme(url: str) -> bool:
    """``https://…``, ``ssh://…``, ``file://…``: a URL with a scheme."""
    return bool(_SCHEME.match(url))


def scp_like(url: str) -> tuple[str, str] | None:
    """``(host, path)`` of an scp-like address (``git@github.com:org/repo.git`` -> ``("github.com",
    "org/repo.git")``), or ``None`` when ``url`` is not one (a URL with a scheme, a local path)."""
    if has_scheme(url):
        return None
    m = _SCP_LIKE.match(url)
    return (m.group(1), m.group(2)) if m else None


def looks_remote(url: str) -> bool:
    """A URL with a scheme or an scp-like address (the caller rules out existing local paths first)."""
    return has_scheme(url) or scp_like(url) is not None


def normalize_remote(url: str) -> str:
    """``host/org/repo`` for any spelling of a remote: https, ssh, scp-like, with or without ``.git``,
    user info or port, so clones made different ways give the same app name. A local path stays a path."""
    url = url.strip()
    m = _URL_PARTS.match(url)
    if m:
        host, path = m.group(1), m.group(2) or ""
    else:
        scp = scp_like(url)
        if scp:
            host, path = scp[0], "/" + scp[1]
        else:  # a local path used as a remote
            host, path = "", url
    path = path.rstrip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")]
    return f"{host}{path}".strip("/")
