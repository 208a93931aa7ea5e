"""Ignore rules (Argo CD's ``ignoreDifferences``): load and match them, and apply them to diff and sync."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_gitops.engine.diff.fields import entry_paths, managed_fields, remove, resolve
from kubectl_gitops.engine.diff.jq import compile_jq
from kubectl_gitops.engine.diff.pointer import pointer_location, pointer_tokens
from kubectl_gitops.engine.diff.tree import MISSING, Location, copy_tree, delete_locations, get_location, same
from kubectl_gitops.errors import InvalidInputError
from kubectl_gitops.model import Obj, ResourceKey


def _glob(pattern: str, value: str) -> bool:
    return pattern in ("", "*") or fnmatch.fnmatchcase(value, pattern)


_IGNORE_EXAMPLES = {"jsonPointers": "/spec/replicas", "managedFieldsManagers": "kube-controller-manager",
                    "jqPathExpressions": "'.spec.template.spec.containers[].image'"}


@dataclass(frozen=True)
class IgnoreRule:
    """One Argo CD ``ignoreDifferences`` entry. ``group``, ``kind``, ``name`` and ``namespace`` are
    globs; ``*`` (the default) matches anything, ``""`` as group is the core API group."""

    group: str = "*"
    kind: str = "*"
    name: str = "*"
    namespace: str = "*"
    json_pointers: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()

    KEYS = {"group": "group", "kind": "kind", "name": "name", "namespace": "namespace",
            "jsonPointers": "json_pointers", "managedFieldsManagers": "managed_fields_managers",
            "jqPathExpressions": "jq_path_expressions"}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "ignore rule") -> IgnoreRule:
        """Validate and convert one entry with Argo CD's keys. Errors name ``where``."""
        if not isinstance(d, dict):
            raise InvalidInputError(f"{where}: expected a mapping with kind and jsonPointers, "
                                    f"got {type(d).__name__}",
                                    hint="see Argo CD's ignoreDifferences: - {group: apps, kind: Deployment, "
                                         "jsonPointers: [/spec/replicas]}")
        unknown = sorted(set(d) - set(cls.KEYS))
        if unknown:
            raise InvalidInputError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
                                    hint=f"allowed keys: {', '.join(cls.KEYS)}")
        values: dict[str, Any] = {}
        for key in ("group", "kind", "name", "namespace"):
            if key in d:
                if not isinstance(d[key], str):
                    raise InvalidInputError(f"{where}: {key} must be a string, got {d[key]!r}",
                                            hint=f'quote it: {key}: "{d[key]}"')
                values[key] = d[key]
        if "kind" not in values:
            raise InvalidInputError(f"{where}: kind is required",
                                    hint='use kind: "*" to match every kind (Argo CD requires kind too)')
        for key in ("jsonPointers", "managedFieldsManagers", "jqPathExpressions"):
            items = d.get(key)
            if items is None:
                continue
            if not isinstance(items, list) or not all(isinstance(x, str) and x for x in items):
                raise InvalidInputError(f"{where}: {key} must be a list of non-empty strings",
                                        hint=f"write it as a YAML list, e.g. {key}: [{_IGNORE_EXAMPLES[key]}]")
            values[cls.KEYS[key]] = tuple(items)
        for p in values.get("json_pointers", ()):
            try:
                pointer_tokens(p)
            except ValueError as e:
                raise InvalidInputError(f"{where}: jsonPointers entry {p!r}: {e}",
                                        hint="a JSON pointer starts with '/', e.g. /spec/replicas") from e
        for expr in values.get("jq_path_expressions", ()):
            try:
                compile_jq(expr)
            except ValueError as e:
                raise InvalidInputError(
                    f"{where}: jqPathExpressions entry {expr!r} is not supported: {e}",
                    hint="kubectl-gitops evaluates a safe subset of jq (paths, [], select(.f == \"v\")); "
                         "use jsonPointers for anything else") from e
        rule = cls(**values)
        if not rule.json_pointers and not rule.managed_fields_managers and not rule.jq_path_expressions:
            raise InvalidInputError(f"{where}: the rule ignores nothing",
                                    hint="add jsonPointers, managedFieldsManagers or jqPathExpressions")
        return rule

    def matches(self, key: ResourceKey) -> bool:
        group_ok = self.group == key.group if self.group == "" else _glob(self.group, key.group)
        return (group_ok and _glob(self.kind, key.kind) and _glob(self.name, key.name)
                and _glob(self.namespace, key.namespace))


def load_ignore_rules(data: Any, source: str) -> list[IgnoreRule]:
    """Rules from a parsed YAML document: a list of entries, a mapping with ``ignoreDifferences``, or a
    whole Argo CD ``Application`` (its ``spec.ignoreDifferences``). Errors name ``source`` and the entry."""
    if data is None:
        return []
    if isinstance(data, dict):
        if data.get("kind") == "Application" and isinstance(data.get("spec"), dict):
            data = data["spec"].get("ignoreDifferences") or []
        elif "ignoreDifferences" in data:
            data = data["ignoreDifferences"] or []
        else:
            raise InvalidInputError(f"{source}: expected a list of ignoreDifferences entries",
                                    hint="write '- {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}' "
                                         "or a mapping with an ignoreDifferences list")
    if not isinstance(data, list):
        raise InvalidInputError(f"{source}: expected a list of ignoreDifferences entries, got {type(data).__name__}",
                                hint="write '- {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}'")
    return [IgnoreRule.from_dict(entry, f"{source}: ignoreDifferences[{i}]") for i, entry in enumerate(data)]


def _key_of(obj: Obj) -> ResourceKey:
    return ResourceKey.of(obj)


def matching(rules: Sequence[IgnoreRule], obj: Obj | None) -> list[IgnoreRule]:
    if not rules or not obj:
        return []
    key = _key_of(obj)
    return [r for r in rules if r.matches(key)]


def ignored_locations(obj: Obj, rules: Sequence[IgnoreRule]) -> list[Location]:
    locs: list[Location] = []
    for rule in rules:
        for pointer in rule.json_pointers:
            loc = pointer_location(obj, pointer)
            if loc:
                locs.append(loc)
        for expr in rule.jq_path_expressions:
            locs.extend(compile_jq(expr).locations(obj))
    return locs


def strip_managed_by(before: Obj, after: Obj, live_managed_fields: list[dict[str, Any]],
                     managers: Sequence[str]) -> tuple[Obj, Obj]:
    """The ``managedFieldsManagers`` rule: a field owned in live by one of ``managers`` whose value
    differs between the sides is removed from both (a field owned by an HPA or an operator stops showing
    up). Fields those managers own with equal values stay, so the diff keeps its context."""
    b, a = copy_tree(before), copy_tree(after)
    if not managers:
        return b, a
    wanted = set(managers)
    for entry in live_managed_fields:
        if entry.get("manager") not in wanted:
            continue
        for path in entry_paths(entry):
            if not same(resolve(b, path), resolve(a, path)):
                remove(b, path)
                remove(a, path)
    return b, a


def respect_ignore_rules(desired: Obj, live: Obj | None, rules: Sequence[IgnoreRule]) -> Obj:
    """The object a sync should apply so that ignored fields are left as they are in the cluster:
    json pointer / jq fields take the live value (or are left out when live has none), and fields that a
    ``managedFieldsManagers`` manager owns in live are left out of the apply (server-side apply keeps the
    other manager's value). Returns a copy; ``desired`` is not changed."""
    out = copy_tree(desired)
    matched = matching(rules, desired)
    if not matched:
        return out
    missing: list[Location] = []
    for loc in ignored_locations(out, matched):  # only fields we send; list positions taken as aligned
        value = get_location(live, loc) if live is not None else MISSING
        if value is MISSING:
            missing.append(loc)
        else:
            parent = get_location(out, loc[:-1])
            parent[loc[-1]] = copy_tree(value)
    delete_locations(out, missing)
    if live is None:
        return out
    managers = {m for r in matched for m in r.managed_fields_managers}
    for entry in managed_fields(live):
        if entry.get("manager") in managers:
            for path in entry_paths(entry):
                remove(out, path)
    return out
