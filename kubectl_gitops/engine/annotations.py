"""Object annotations that steer a sync, parsed and checked: hook types and delete policies (Argo's and Helm's),
sync waves, and the per-object ``argocd.argoproj.io/sync-options``.

Pure: no I/O. ``engine.plan`` orders objects by what these functions read (its docstring describes the rules);
``sync``, ``hooks`` and ``prune`` read the same functions, so every reader agrees. Invalid values are never
silently ignored: ``annotation_problems`` names the file, the object, the bad value and the valid ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from kubectl_gitops.model import (
    ANN_HELM_HOOK,
    ANN_HELM_HOOK_DELETE_POLICY,
    ANN_HELM_HOOK_WEIGHT,
    ANN_HOOK,
    ANN_HOOK_DELETE_POLICY,
    ANN_SYNC_OPTIONS,
    ANN_SYNC_WAVE,
    Manifest,
)

HOOK_SKIP = "Skip"
HOOK_TYPES = ("PreSync", "Sync", "PostSync", "SyncFail", HOOK_SKIP)


class StrValueEnum(str, Enum):
    """Members are their strings: equal, hashed alike (``"hook" in {StepAction.HOOK}``), printed as the value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    def __hash__(self) -> int:
        return str.__hash__(self)


class HookDeletePolicy(StrValueEnum):
    """``argocd.argoproj.io/hook-delete-policy`` values."""

    BEFORE_HOOK_CREATION = "BeforeHookCreation"
    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"


DELETE_POLICIES: tuple[HookDeletePolicy, ...] = tuple(HookDeletePolicy)

# Helm hook types Argo CD runs, and what it maps them to.
HELM_HOOK_PHASES = {"pre-install": "PreSync", "pre-upgrade": "PreSync",
                    "post-install": "PostSync", "post-upgrade": "PostSync"}
# Valid Helm hook types a sync never runs (Argo CD leaves such objects out), and crd-install,
# which Helm 2 called a hook but is an ordinary object.
HELM_HOOKS_NOT_RUN = ("pre-delete", "post-delete", "pre-rollback", "post-rollback", "test",
                      "test-success", "test-failure")
HELM_NOT_A_HOOK = "crd-install"
HELM_HOOK_VALUES = (*HELM_HOOK_PHASES, *HELM_HOOKS_NOT_RUN, HELM_NOT_A_HOOK)
HELM_DELETE_POLICIES = {"before-hook-creation": HookDeletePolicy.BEFORE_HOOK_CREATION,
                        "hook-succeeded": HookDeletePolicy.HOOK_SUCCEEDED,
                        "hook-failed": HookDeletePolicy.HOOK_FAILED}

_INT = re.compile(r"^[+-]?\d+$")  # what Go's strconv.Atoi accepts (no spaces, no underscores)


# --- sync options --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncOptions:
    """Per-object ``argocd.argoproj.io/sync-options``. ``None`` means "not set: the command decides"."""

    prune: bool = True  # Prune=false: never prune this object
    prune_confirm: bool = False  # Prune=confirm: prune only with explicit confirmation
    delete: bool = True  # Delete=false: keep the object when the app is deleted
    replace: bool = False  # Replace=true: replace instead of apply
    force: bool = False  # Force=true (with Replace=true): delete and re-create
    server_side_apply: bool | None = None
    validate: bool = True  # Validate=false: skip schema validation
    skip_dry_run_on_missing_resource: bool = False  # the CRD comes in the same sync
    prune_last: bool = False  # prune after the last wave
    create_namespace: bool = False
    apply_out_of_sync_only: bool | None = None
    delete_confirm: bool = False  # Delete=confirm (Argo CD 2.10+)

    def to_strings(self) -> list[str]:
        """The options that differ from the defaults, as canonical Argo strings (``Prune=false``)."""
        out: list[str] = []
        if self.prune_confirm:
            out.append("Prune=confirm")
        elif not self.prune:
            out.append("Prune=false")
        if self.delete_confirm:
            out.append("Delete=confirm")
        elif not self.delete:
            out.append("Delete=false")
        if self.replace:
            out.append("Replace=true")
        if self.force:
            out.append("Force=true")
        if self.server_side_apply is not None:
            out.append(f"ServerSideApply={str(self.server_side_apply).lower()}")
        if not self.validate:
            out.append("Validate=false")
        if self.skip_dry_run_on_missing_resource:
            out.append("SkipDryRunOnMissingResource=true")
        if self.prune_last:
            out.append("PruneLast=true")
        if self.create_namespace:
            out.append("CreateNamespace=true")
        if self.apply_out_of_sync_only is not None:
            out.append(f"ApplyOutOfSyncOnly={str(self.apply_out_of_sync_only).lower()}")
        return out


_BOOL = ("true", "false")
# option -> valid values. The field it sets is handled in sync_options().
_SYNC_OPTION_VALUES: dict[str, tuple[str, ...]] = {
    "Prune": ("true", "false", "confirm"),
    "Delete": ("true", "false", "confirm"),
    "Replace": _BOOL,
    "Force": _BOOL,
    "ServerSideApply": _BOOL,
    "Validate": _BOOL,
    "SkipDryRunOnMissingResource": _BOOL,
    "PruneLast": _BOOL,
    "CreateNamespace": _BOOL,
    "ApplyOutOfSyncOnly": _BOOL,
    # Valid in Argo CD but about the whole Application: accepted so Argo repos work, no effect per object.
    "RespectIgnoreDifferences": _BOOL,
    "FailOnSharedResource": _BOOL,
    "ClientSideApplyMigration": _BOOL,
    "PrunePropagationPolicy": ("foreground", "background", "orphan"),
}
_BOOL_FIELDS = {
    "Replace": "replace", "Force": "force", "ServerSideApply": "server_side_apply", "Validate": "validate",
    "SkipDryRunOnMissingResource": "skip_dry_run_on_missing_resource", "PruneLast": "prune_last",
    "CreateNamespace": "create_namespace", "ApplyOutOfSyncOnly": "apply_out_of_sync_only",
}


def _csv(value: Any) -> list[str]:
    """Argo's comma lists: split, trim, drop empty entries."""
    if value is None:
        return []
    return [part.strip() for part in str(value).split(",") if part.strip()]


@dataclass(frozen=True)
class ParsedSyncOptions:
    """The sync-options annotation parsed once: what it sets, and what is wrong with it."""

    options: SyncOptions
    problems: tuple[str, ...]  # one line per invalid entry, without the object's location


def parse_sync_options(raw: Any) -> ParsedSyncOptions:
    """Parse an ``argocd.argoproj.io/sync-options`` value (``None``: not set). Invalid entries set nothing
    and are named in ``problems``."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for entry in _csv(raw):
        key, sep, value = (s.strip() for s in entry.partition("="))
        if key not in _SYNC_OPTION_VALUES:
            hint = next((k for k in _SYNC_OPTION_VALUES if k.lower() == key.lower()), None)
            known = ", ".join(f"{k}={'|'.join(v)}" for k, v in _SYNC_OPTION_VALUES.items())
            problems.append(f"{ANN_SYNC_OPTIONS} has unknown option {entry!r}"
                            + (f" (did you mean {hint}?)" if hint else "") + f"; valid options are {known}")
            continue
        if not sep or value not in _SYNC_OPTION_VALUES[key]:
            problems.append(f"{ANN_SYNC_OPTIONS} {entry!r} has an invalid value; valid values are "
                            + ", ".join(f"{key}={v}" for v in _SYNC_OPTION_VALUES[key]))
            continue
        if key == "Prune":
            values["prune"] = value != "false"
            values["prune_confirm"] = value == "confirm"
        elif key == "Delete":
            values["delete"] = value != "false"
            values["delete_confirm"] = value == "confirm"
        elif key in _BOOL_FIELDS:
            values[_BOOL_FIELDS[key]] = value == "true"
    return ParsedSyncOptions(SyncOptions(**values), tuple(problems))


def sync_options(m: Manifest) -> SyncOptions:
    """The object's ``argocd.argoproj.io/sync-options``. Never raises: invalid entries are ignored here
    and reported by ``annotation_problems`` (both read ``parse_sync_options``)."""
    return parse_sync_options(m.annotations.get(ANN_SYNC_OPTIONS)).options


# --- hooks and waves -----------------------------------------------------------------------------

def _annotation(m: Manifest, key: str) -> str | None:
    value = m.annotations.get(key)
    return None if value is None else str(value)


def argo_hook_types(m: Manifest) -> list[str] | None:
    """Valid Argo hook types in annotation order, or ``None`` without the annotation."""
    raw = _annotation(m, ANN_HOOK)
    if raw is None:
        return None
    return _dedupe(t for t in _csv(raw) if t in HOOK_TYPES)


def helm_hook_values(m: Manifest) -> list[str]:
    raw = _annotation(m, ANN_HELM_HOOK)
    return [] if raw is None else _csv(raw)


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def hook_types(m: Manifest) -> tuple[str, ...]:
    """The Argo hook types of an object (``Skip`` excluded), Helm hooks mapped; ``()`` if not a hook."""
    argo = argo_hook_types(m)
    if argo is not None:
        types = [t for t in argo if t != HOOK_SKIP]
        if types:
            return tuple(types)
        # Argo falls back to Helm types only when no valid Argo type is given.
        if argo:
            return ()
    return tuple(_dedupe(HELM_HOOK_PHASES[h] for h in helm_hook_values(m) if h in HELM_HOOK_PHASES))


def skip_reason(m: Manifest) -> str | None:
    """Why a sync never applies this object, or ``None`` when it does."""
    argo = argo_hook_types(m)
    if argo is not None and argo == [HOOK_SKIP]:
        return "hook Skip: never applied"
    if argo:
        return None
    helm = helm_hook_values(m)
    if helm and not hook_types(m) and any(h in HELM_HOOKS_NOT_RUN for h in helm):
        not_run = ",".join(h for h in helm if h in HELM_HOOKS_NOT_RUN)
        return f"Helm hook {not_run}: not run by a sync (Argo CD ignores it too)"
    return None


def runs_as_hook(m: Manifest) -> bool:
    """The object runs as a hook of some phase (valid Argo or Helm hook types, ``Skip`` aside). Merely
    carrying a hook annotation is ``source.validate.has_hook_annotation``."""
    return bool(hook_types(m))


def delete_policies(m: Manifest) -> frozenset[HookDeletePolicy]:
    """Hook delete policies (Argo's and Helm's together); ``BeforeHookCreation`` when none is given.
    Empty for objects that are not hooks."""
    if not runs_as_hook(m):
        return frozenset()
    argo = [HookDeletePolicy(p) for p in _csv(_annotation(m, ANN_HOOK_DELETE_POLICY) or "") if p in DELETE_POLICIES]
    helm = [HELM_DELETE_POLICIES[p] for p in _csv(_annotation(m, ANN_HELM_HOOK_DELETE_POLICY) or "")
            if p in HELM_DELETE_POLICIES]
    return frozenset(argo + helm) or frozenset({HookDeletePolicy.BEFORE_HOOK_CREATION})


def wave(m: Manifest) -> int:
    """``sync-wave``, else ``helm.sh/hook-weight``, else 0 (an unparsable value falls through, as in Argo)."""
    for key in (ANN_SYNC_WAVE, ANN_HELM_HOOK_WEIGHT):
        raw = m.annotations.get(key)
        if isinstance(raw, str) and _INT.match(raw):
            return int(raw)
    return 0


# --- validation ----------------------------------------------------------------------------------

def annotation_problems(m: Manifest) -> list[str]:
    """Every invalid plan annotation of one object, as ``file:line: Kind ns/name: ...`` lines."""
    where = f"{m.origin}: {m.key}"
    problems: list[str] = []

    def bad(text: str) -> None:
        problems.append(f"{where}: {text}")

    ann = m.annotations
    for key in (ANN_SYNC_WAVE, ANN_HELM_HOOK_WEIGHT):
        if key not in ann:
            continue
        raw = ann[key]
        if isinstance(raw, int) and not isinstance(raw, bool):
            bad(f"{key} is the number {raw}, but annotation values are strings; quote it: \"{raw}\"")
        elif not isinstance(raw, str):
            bad(f"{key} is {raw!r}, not a string; valid values are whole numbers in quotes, e.g. \"-1\", \"5\"")
        elif not _INT.match(raw):
            bad(f"{key} {raw!r} is not an integer; valid values are whole numbers such as \"-1\", \"0\", \"5\"")

    if ANN_HOOK in ann:
        values = _csv(ann[ANN_HOOK])
        unknown = [v for v in values if v not in HOOK_TYPES]
        if not values:
            bad(f"{ANN_HOOK} is empty; valid values are {', '.join(HOOK_TYPES)} (a comma list)")
        for v in unknown:
            bad(f"{ANN_HOOK} {v!r} is not a hook type; valid values are {', '.join(HOOK_TYPES)}")
    if ANN_HELM_HOOK in ann:
        values = _csv(ann[ANN_HELM_HOOK])
        if not values:
            bad(f"{ANN_HELM_HOOK} is empty; valid values are {', '.join(HELM_HOOK_VALUES)} (a comma list)")
        for v in values:
            if v not in HELM_HOOK_VALUES:
                bad(f"{ANN_HELM_HOOK} {v!r} is not a Helm hook; valid values are {', '.join(HELM_HOOK_VALUES)}")

    if ANN_HOOK_DELETE_POLICY in ann:
        for v in _csv(ann[ANN_HOOK_DELETE_POLICY]) or [""]:
            if v not in DELETE_POLICIES:
                bad(f"{ANN_HOOK_DELETE_POLICY} {v!r} is not a delete policy; "
                    f"valid values are {', '.join(DELETE_POLICIES)}")
    if ANN_HELM_HOOK_DELETE_POLICY in ann:
        for v in _csv(ann[ANN_HELM_HOOK_DELETE_POLICY]) or [""]:
            if v not in HELM_DELETE_POLICIES:
                bad(f"{ANN_HELM_HOOK_DELETE_POLICY} {v!r} is not a Helm delete policy; "
                    f"valid values are {', '.join(HELM_DELETE_POLICIES)}")

    if ANN_SYNC_OPTIONS in ann:
        for text in parse_sync_options(ann[ANN_SYNC_OPTIONS]).problems:
            bad(text)

    if runs_as_hook(m) and not m.name and not m.generate_name:
        bad("a hook needs metadata.name or metadata.generateName")
    return problems


def plan_annotation_checks(manifests: Iterable[Manifest]) -> list[str]:
    """All annotation problems of a manifest list (the ``extra_checks`` hook of desired-state loading)."""
    return [p for m in manifests for p in annotation_problems(m)]
