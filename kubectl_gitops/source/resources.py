"""Argo CD's ``--resource GROUP:KIND:[NAMESPACE/]NAME`` (partial sync): parsing and matching object keys.

The group is empty for the core API (``:Service:web``, as Argo CD writes it); the kind matches regardless of
case (``apps:deployment:web``); without a namespace the name matches in every namespace; ``*`` (and other
shell globs) may stand in the namespace and the name, as in Argo CD 2.x. Hand-written: a dozen lines, no
library spells Argo CD's format.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from kubectl_gitops.errors import UsageError
from kubectl_gitops.model import ResourceKey


@dataclass(frozen=True)
class ResourceSpec:
    group: str
    kind: str
    namespace: str | None  # None: any namespace
    name: str
    text: str

    def matches(self, key: ResourceKey) -> bool:
        if key.group != self.group or key.kind.lower() != self.kind.lower():
            return False
        if self.namespace is not None and not fnmatchcase(key.namespace, self.namespace):
            return False
        return fnmatchcase(key.name, self.name)


def parse_resource(text: str) -> ResourceSpec:
    """``GROUP:KIND:[NAMESPACE/]NAME``; a ``UsageError`` (exit 2) says what is wrong."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise UsageError(f"invalid --resource {text!r}: use GROUP:KIND:[NAMESPACE/]NAME, e.g. apps:Deployment:web, "
                         ":ConfigMap:demo/settings (an empty GROUP is the core API)")
    group, kind, rest = (p.strip() for p in parts)
    namespace, _, name = rest.rpartition("/")
    if not name or "/" in namespace:
        raise UsageError(f"invalid --resource {text!r}: the last part is NAME or NAMESPACE/NAME")
    return ResourceSpec(group, kind, namespace or None, name, text)


def parse_resources(texts: Iterable[str]) -> tuple[ResourceSpec, ...]:
    return tuple(parse_resource(t) for t in texts)


def matches_any(specs: Iterable[ResourceSpec], key: ResourceKey) -> bool:
    return any(s.matches(key) for s in specs)
