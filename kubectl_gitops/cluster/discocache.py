"""A disk cache of the server's discovery, as kubectl keeps ~/.kube/cache/discovery: no round trips at start-up.

Every command needs discovery (which kinds the server serves, their plural and scope) before it can validate a
manifest; fetching it costs a connection and two requests (aggregated discovery of ``/api`` and ``/apis``), the
largest part of a command's fixed cost against a server 20-100 ms away. kubectl caches it per server for six
hours; so do we, with the same safety net and two more:

* **Where**: ``$KUBECTL_GITOPS_CACHE/discovery/<host_port>-<hash>.json`` (default ``~/.cache/kubectl-gitops``),
  folder 0700, file 0600, written atomically (a temp file renamed over the old one). The hash covers the
  server URL *and* its CA certificate, so a cluster re-created behind the same address (a local kind cluster
  on 127.0.0.1:6443 gets a new CA) starts with a cache of its own; kubectl keys by host only.
* **How long**: ``KUBECTL_GITOPS_DISCOVERY_TTL`` seconds (default 21600, kubectl's six hours; ``0`` turns the
  cache off). Older entries, entries of another format and unreadable files are ignored and replaced.
* **A kind not found refreshes once** (kubectl's rule): a lookup that misses in a cached discovery fetches
  it afresh, once per run, before it answers "not served". A CRD created since the cache was written is
  found; a kind that really is not served costs the two requests a run without the cache pays anyway.
* **A type gone from the server refreshes once**: a 404 for a resource *type* (a Status without
  ``details.kind``, "the server could not find the requested resource"), while discovery came from the
  cache, refreshes it and sends the request again (the server did not act on it); an object's 404 does not.
  ``sync`` refreshes it after creating CRDs, as before.

Discovery holds no secrets (the kinds a server serves are the same for every user), but the cache is written
private all the same. A cache that cannot be written (read-only home) is skipped silently: it only saves time.
Written by hand: a JSON file of (group, version, kind, plural, scope, verbs) tuples needs no library.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubectl_gitops.cluster.discovery import Discovery, ResourceType
from kubectl_gitops.settings import environment

FORMAT = 1


class DiscoveryCache:
    """The cache file of one server; ``load`` gives a fresh enough ``Discovery`` or None, ``save`` stores one."""

    def __init__(self, path: Path, ttl: float, *, clock: Any = time.time):
        self.path = path
        self.ttl = ttl
        self._clock = clock

    @classmethod
    def for_server(cls, server: str, ca_pem: bytes | None) -> DiscoveryCache | None:
        """The cache for ``server`` (None when turned off with ``KUBECTL_GITOPS_DISCOVERY_TTL=0``)."""
        env = environment()
        if env.discovery_ttl <= 0:
            return None
        base = Path(env.cache or os.path.join("~", ".cache", "kubectl-gitops")).expanduser()
        return cls(base / "discovery" / cache_name(server, ca_pem), env.discovery_ttl)

    def load(self) -> Discovery | None:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT or not 0 <= self._clock() - float(doc["written"]) < self.ttl:
                return None
            d = Discovery()
            for group, version, kind, plural, namespaced, verbs, preferred in doc["types"]:
                d.add(ResourceType(str(group), str(version), str(kind), str(plural), bool(namespaced),
                                   frozenset(str(v) for v in verbs)), bool(preferred))
            return d
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def save(self, d: Discovery) -> None:
        types = [[rt.group, rt.version, rt.kind, rt.plural, rt.namespaced, sorted(rt.verbs),
                  d.preferred.get(rt.group) == rt.version] for rt in d.types.values()]
        text = json.dumps({"format": FORMAT, "written": self._clock(), "types": types}, separators=(",", ":"))
        folder = self.path.parent
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if stat.S_IMODE(folder.stat().st_mode) & 0o077:
                folder.chmod(0o700)
            fd, tmp = tempfile.mkstemp(prefix=".discovery-", dir=folder)  # 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            return  # a cache that cannot be written only costs time

    def drop(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def cache_name(server: str, ca_pem: bytes | None) -> str:
    """``<host_port>-<hash>.json``: readable like kubectl's folder names, unique per server URL and CA."""
    parts = urlsplit(server)
    host = re.sub(r"[^A-Za-z0-9.]", "_", parts.netloc or server)[:80]
    digest = hashlib.sha256(server.encode() + b"\0" + (ca_pem or b"")).hexdigest()[:16]
    return f"{host}-{digest}.json"
