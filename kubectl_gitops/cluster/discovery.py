"""What the server serves: ``ResourceType`` (a kind's group, version, plural, scope, verbs) and ``Discovery``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from kubectl_gitops.model import group_kind, split_api_version

AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> str:
        return group_kind(self.group, self.kind)

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        return base


@dataclass
class Discovery:
    """What the server serves: (group, version, kind) -> ResourceType, plus each group's preferred version.

    ``on_miss`` (set on a discovery read from the disk cache, ``cluster.discocache``) is called at most once,
    on the first lookup that finds nothing: it returns the server's discovery fetched afresh, which replaces
    this one's content in place (callers holding this object see it), and the lookup is answered from it."""

    types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    preferred: dict[str, str] = field(default_factory=dict)  # group -> version
    on_miss: Callable[[], Discovery] | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, rt: ResourceType, preferred: bool) -> None:
        self.types[(rt.group, rt.version, rt.kind)] = rt
        if preferred:
            self.preferred.setdefault(rt.group, rt.version)

    def add_aggregated(self, doc: dict[str, Any]) -> None:
        """Add the types of an aggregated discovery document (``APIGroupDiscoveryList``)."""
        for grp in doc.get("items") or []:
            group = (grp.get("metadata") or {}).get("name", "")
            for i, ver in enumerate(grp.get("versions") or []):
                for res in ver.get("resources") or []:
                    if "/" in res.get("resource", ""):
                        continue
                    self.add(ResourceType(group, ver["version"], res["responseKind"]["kind"], res["resource"],
                                          res.get("scope") == "Namespaced", frozenset(res.get("verbs") or ())),
                             preferred=(i == 0))

    def refresh(self) -> bool:
        """Replace the content with ``on_miss()``'s, once; False when there is nothing (more) to refresh from."""
        with self._lock:
            fetch, self.on_miss = self.on_miss, None
            if fetch is None:
                return False
            fresh = fetch()
            self.types, self.preferred = dict(fresh.types), dict(fresh.preferred)
            return True

    def lookup(self, api_version: str, kind: str) -> ResourceType | None:
        group, version = split_api_version(api_version)
        rt = self.types.get((group, version, kind))
        if rt is None and self.on_miss is not None:
            self.refresh()  # another thread may be refreshing: this waits for it, then looks again
            rt = self.types.get((group, version, kind))
        return rt

    def for_group_kind(self, group: str, kind: str) -> ResourceType | None:
        """The preferred version of a group/kind, else any served version."""
        rt = self._for_group_kind(group, kind)
        if rt is None and self.on_miss is not None:
            self.refresh()
            rt = self._for_group_kind(group, kind)
        return rt

    def _for_group_kind(self, group: str, kind: str) -> ResourceType | None:
        pref = self.preferred.get(group)
        if pref and (rt := self.types.get((group, pref, kind))):
            return rt
        for (g, _v, k), rt in self.types.items():
            if g == group and k == kind:
                return rt
        return None

    def scope(self, api_version: str, kind: str) -> bool | None:
        """A ``validate.ScopeResolver``: namespaced?, or None when the server does not serve it."""
        rt = self.lookup(api_version, kind)
        return None if rt is None else rt.namespaced
