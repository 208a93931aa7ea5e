"""What the server serves: ``ResourceType`` (a kind's group, version, plural, scope, verbs) and ``Discovery``."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    """What the server serves: (group, version, kind) -> ResourceType, plus each group's preferred version."""

    types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    preferred: dict[str, str] = field(default_factory=dict)  # group -> version

    def add(self, rt: ResourceType, preferred: bool) -> None:
        self.types[(rt.group, rt.version, rt.kind)] = rt
        if preferred:
            self.preferred.setdefault(rt.group, rt.version)

    def lookup(self, api_version: str, kind: str) -> ResourceType | None:
        group, version = split_api_version(api_version)
        return self.types.get((group, version, kind))

    def for_group_kind(self, group: str, kind: str) -> ResourceType | None:
        """The preferred version of a group/kind, else any served version."""
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

