"""The sync plan: in which order desired objects are applied, exactly as Argo CD orders them.

Pure: no I/O, no cluster. ``kubectl gitops waves`` prints this plan; ``sync`` executes it.

Phases
    Every object runs in one of four phases, in this order::

        PreSync (-1)  ->  Sync (0)  ->  PostSync (1)      and, only if the sync fails: SyncFail (2)

    Ordinary objects are in ``Sync``. An object becomes a *hook* of a phase with the annotation
    ``argocd.argoproj.io/hook: PreSync`` (a comma list: ``PreSync,PostSync`` puts the same object in
    both phases, so it appears twice in the plan). ``Skip`` alone means "never apply this object";
    next to other types it is ignored, as Argo CD does. Hooks are created fresh at their point in
    the plan, waited for until they complete (a Job finishes, a Pod succeeds), and deleted by their
    ``argocd.argoproj.io/hook-delete-policy``: ``BeforeHookCreation`` (the default: delete the old
    one just before creating the new one), ``HookSucceeded``, ``HookFailed``. A hook with
    ``metadata.generateName`` and no name gets a new name on every sync.

    Helm charts work unchanged: when there is no Argo hook annotation, ``helm.sh/hook`` is mapped
    as Argo CD maps it (``pre-install``/``pre-upgrade`` -> PreSync, ``post-install``/``post-upgrade``
    -> PostSync; ``crd-install`` is not a hook at all; ``test``, ``pre-delete``, ``post-delete``,
    ``pre-rollback``, ``post-rollback`` are never run by a sync, so such objects are skipped) and
    ``helm.sh/hook-delete-policy`` values (``before-hook-creation``, ``hook-succeeded``,
    ``hook-failed``) add to the Argo delete policies.

Waves
    Inside a phase, objects are grouped in waves: ``argocd.argoproj.io/sync-wave: "5"`` (negative
    numbers allowed), falling back to ``helm.sh/hook-weight``, else 0. A wave starts only when
    every object of the previous wave is healthy (hooks: completed).

Order
    One sort key, in this precedence: 1. phase, 2. wave, 3. kind (``KIND_ORDER``: Namespace first,
    APIService last; kinds not in the table, custom resources included, come after all of them and
    are ordered among themselves by name only, as in Argo CD), 4. name (``generateName`` for
    generated hooks). Ties are broken by namespace, group and file position so the plan is stable.

    After sorting, two dependency fixes move objects *earlier*, never later:

    * a ``Namespace`` sorted after an object that lives in it moves right before the first such
      object, taking that object's phase and wave;
    * a ``CustomResourceDefinition`` sorted after a custom resource of its group/kind moves right
      before the first one, taking its phase and wave.

    ``Step.moved_by`` says why (``Namespace demo is needed by Deployment.apps demo/web``).

Example::

    >>> plan = build_plan(manifests)
    >>> for phase, wave, steps in plan.groups():
    ...     print(phase, wave, [str(s.key) for s in steps])
    PreSync 0 ['Job.batch demo/migrate']
    Sync 0 ['Namespace demo', 'Service demo/web']
    Sync 1 ['Deployment.apps demo/web']

Per-object ``argocd.argoproj.io/sync-options`` (``Prune=false``, ``ServerSideApply=true``, ...)
are parsed into ``SyncOptions``. Invalid annotation values are never silently ignored (Argo CD
ignores most of them, which means a typo in ``Prune=flase`` prunes): ``annotation_problems`` names
the file, the object, the bad value and the valid ones, and ``build_plan`` refuses to plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

from kubectl_gitops.errors import ValidationError
from kubectl_gitops.model import (
    ANN_HELM_HOOK,
    ANN_HELM_HOOK_DELETE_POLICY,
    ANN_HELM_HOOK_WEIGHT,
    ANN_HOOK,
    ANN_HOOK_DELETE_POLICY,
    ANN_SYNC_OPTIONS,
    ANN_SYNC_WAVE,
    Manifest,
    ResourceKey,
    crd_spec,
)


class Phase(IntEnum):
    """Sync phases; the value is the sort rank."""

    PRE_SYNC = -1
    SYNC = 0
    POST_SYNC = 1
    SYNC_FAIL = 2

    def __str__(self) -> str:
        return _PHASE_NAMES[self]

    @classmethod
    def parse(cls, name: str) -> Phase:
        """``"PreSync"`` -> ``Phase.PRE_SYNC``; raises ``ValueError`` for anything else."""
        for phase, text in _PHASE_NAMES.items():
            if text == name:
                return phase
        raise ValueError(f"unknown phase {name!r}")


_PHASE_NAMES = {Phase.PRE_SYNC: "PreSync", Phase.SYNC: "Sync", Phase.POST_SYNC: "PostSync",
                Phase.SYNC_FAIL: "SyncFail"}

HOOK_SKIP = "Skip"
HOOK_TYPES = ("PreSync", "Sync", "PostSync", "SyncFail", HOOK_SKIP)



class _StrEnum(str, Enum):
    """Members are their strings: equal, hashed alike (``"hook" in {StepAction.HOOK}``), printed as the value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    def __hash__(self) -> int:
        return str.__hash__(self)


class HookDeletePolicy(_StrEnum):
    """``argocd.argoproj.io/hook-delete-policy`` values."""

    BEFORE_HOOK_CREATION = "BeforeHookCreation"
    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"


DELETE_POLICIES: tuple[HookDeletePolicy, ...] = tuple(HookDeletePolicy)


class StepAction(_StrEnum):
    """What a sync did with one step (``StepResult.action``)."""

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    HOOK = "hook"  # a hook created (or recovered) and run
    SKIPPED = "skipped"
    FAILED = "failed"


APPLIED_ACTIONS = frozenset({StepAction.CREATED, StepAction.CONFIGURED, StepAction.HOOK})  # the object was written

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

# Kind order, earliest first (gitops-engine, after Helm's kind sorter). Kinds not listed sort last.
_KINDS = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
    "CronJob", "IngressClass", "Ingress", "APIService",
)
KIND_ORDER: dict[str, int] = {kind: i for i, kind in enumerate(_KINDS)}
UNKNOWN_KIND_ORDER = len(KIND_ORDER)  # after every listed kind


def kind_rank(kind: str) -> int:
    """The kind's place in ``KIND_ORDER``; ``UNKNOWN_KIND_ORDER`` (last) for kinds not listed, CRs included."""
    return KIND_ORDER.get(kind, UNKNOWN_KIND_ORDER)

NOTE_SYNC_FAIL = "runs only if the sync fails"

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


def _argo_hook_types(m: Manifest) -> list[str] | None:
    """Valid Argo hook types in annotation order, or ``None`` without the annotation."""
    raw = _annotation(m, ANN_HOOK)
    if raw is None:
        return None
    return _dedupe(t for t in _csv(raw) if t in HOOK_TYPES)


def _helm_hook_values(m: Manifest) -> list[str]:
    raw = _annotation(m, ANN_HELM_HOOK)
    return [] if raw is None else _csv(raw)


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def hook_types(m: Manifest) -> tuple[str, ...]:
    """The Argo hook types of an object (``Skip`` excluded), Helm hooks mapped; ``()`` if not a hook."""
    argo = _argo_hook_types(m)
    if argo is not None:
        types = [t for t in argo if t != HOOK_SKIP]
        if types:
            return tuple(types)
        # Argo falls back to Helm types only when no valid Argo type is given.
        if argo:
            return ()
    return tuple(_dedupe(HELM_HOOK_PHASES[h] for h in _helm_hook_values(m) if h in HELM_HOOK_PHASES))


def skip_reason(m: Manifest) -> str | None:
    """Why a sync never applies this object, or ``None`` when it does."""
    argo = _argo_hook_types(m)
    if argo is not None and argo == [HOOK_SKIP]:
        return "hook Skip: never applied"
    if argo:
        return None
    helm = _helm_hook_values(m)
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


# --- the plan ------------------------------------------------------------------------------------

_CORE_GROUPS = frozenset({
    "", "apps", "batch", "policy", "autoscaling", "extensions", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "admissionregistration.k8s.io", "discovery.k8s.io", "node.k8s.io",
    "certificates.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
})


def display_kind(m: Manifest) -> str:
    """``Deployment`` for built-in API groups, ``Widget.example.com`` for custom resources."""
    return m.kind if m.group in _CORE_GROUPS else f"{m.kind}.{m.group}"


def display_name(m: Manifest) -> str:
    """``ns/name``, ``name`` when cluster-scoped, ``ns/prefix-*`` for a generateName object."""
    name = m.name or (m.generate_name + "*")
    return f"{m.namespace}/{name}" if m.namespace else name


@dataclass(frozen=True)
class Step:
    """One object at its place in the plan. A multi-phase hook gives one step per phase."""

    manifest: Manifest = field(compare=False)
    phase: Phase
    wave: int
    hook: bool
    hook_types: tuple[str, ...]
    delete_policies: frozenset[HookDeletePolicy]
    options: SyncOptions
    moved_by: str | None  # e.g. "Namespace demo is needed by Deployment.apps demo/web"
    order: int  # position in the plan, from 0

    @property
    def key(self) -> ResourceKey:
        return self.manifest.key

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def group(self) -> str:
        return self.manifest.group

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def namespace(self) -> str:
        return self.manifest.namespace

    @property
    def generate_name(self) -> str:
        return self.manifest.generate_name

    @property
    def generated(self) -> bool:
        """A hook named fresh on each sync from ``metadata.generateName``."""
        return self.hook and not self.name and bool(self.generate_name)

    @property
    def runs_only_on_failure(self) -> bool:
        return self.phase is Phase.SYNC_FAIL

    @property
    def display_kind(self) -> str:
        return display_kind(self.manifest)

    @property
    def display_name(self) -> str:
        return display_name(self.manifest)

    @property
    def helm_hooks(self) -> tuple[str, ...]:
        """The original ``helm.sh/hook`` types when the hook comes from Helm, else ``()``."""
        if not self.hook or _argo_hook_types(self.manifest):
            return ()
        return tuple(h for h in _helm_hook_values(self.manifest) if h in HELM_HOOK_PHASES)

    def to_json(self) -> dict[str, Any]:
        origin = self.manifest.origin
        return {
            "order": self.order,
            "phase": str(self.phase),
            "wave": self.wave,
            "apiVersion": self.manifest.api_version,
            "group": self.group,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "generateName": self.generate_name if self.generated else "",
            "hook": self.hook,
            "hookTypes": list(self.hook_types),
            "helmHooks": list(self.helm_hooks),
            "deletePolicies": [str(p) for p in sorted(self.delete_policies, key=DELETE_POLICIES.index)],
            "syncOptions": self.options.to_strings(),
            "movedBy": self.moved_by,
            "runsOnlyOnFailure": self.runs_only_on_failure,
            "origin": {"path": origin.path, "line": origin.line, "renderer": origin.renderer,
                       "detail": origin.detail},
        }


@dataclass
class Plan:
    steps: list[Step]  # in execution order, SyncFail steps last; Skip hooks excluded
    skipped: list[Manifest] = field(default_factory=list)  # never applied (Skip, Helm hooks a sync doesn't run)

    def groups(self, phase: Phase | None = None) -> list[tuple[Phase, int, list[Step]]]:
        """``(phase, wave, steps)`` in execution order, optionally for one phase only."""
        out: list[tuple[Phase, int, list[Step]]] = []
        for step in self.steps:
            if phase is not None and step.phase is not phase:
                continue
            if out and out[-1][0] is step.phase and out[-1][1] == step.wave:
                out[-1][2].append(step)
            else:
                out.append((step.phase, step.wave, [step]))
        return out

    def main_groups(self) -> list[tuple[Phase, int, list[Step]]]:
        """The groups a successful sync runs: everything but SyncFail."""
        return [g for g in self.groups() if g[0] is not Phase.SYNC_FAIL]

    def to_json(self) -> list[dict[str, Any]]:
        """The stable step list printed by ``kubectl gitops waves -o json`` (see docs/waves.md)."""
        return [s.to_json() for s in self.steps]


@dataclass
class _Entry:
    manifest: Manifest
    phase: Phase
    wave: int
    index: int
    moved_by: str | None = None


def _sort_key(e: _Entry) -> tuple[Any, ...]:
    m = e.manifest
    return (int(e.phase), e.wave, kind_rank(m.kind), m.name or m.generate_name,
            m.namespace, m.group, m.kind, e.index)


def _is_namespace(m: Manifest) -> bool:
    return m.kind == "Namespace" and m.group == ""


def _crd_target(m: Manifest) -> str | None:
    """``group/Kind`` served by a CRD, or ``None`` when ``m`` is not a (complete) CRD."""
    crd = crd_spec(m)
    return None if crd is None else f"{crd.group}/{crd.kind}"


def _move_dependencies(entries: list[_Entry], dep_key: Any, user_key: Any, what: str) -> None:
    """Move each dependency right before the first entry that needs it, if that entry sorts earlier
    (gitops-engine's adjustDeps): the dependency takes that entry's phase and wave."""
    first_user: dict[str, int] = {}
    for i in range(len(entries)):
        entry = entries[i]
        dep = dep_key(entry.manifest)
        if dep is not None:
            at = first_user.get(dep)
            if at is None:
                continue
            user = entries[at]
            entry.phase, entry.wave = user.phase, user.wave
            entry.moved_by = f"{what} {entry.manifest.name} is needed by {user.manifest.key}"
            entries.insert(at, entries.pop(i))
            for k, index in first_user.items():
                if index >= at:
                    first_user[k] = index + 1
        else:
            ref = user_key(entry.manifest)
            if ref is not None:
                first_user.setdefault(ref, i)


def build_plan(manifests: list[Manifest], *, checked: bool = False) -> Plan:
    """Order desired objects for a sync. Raises ``ValidationError`` listing every annotation problem, unless
    ``checked``: loading already ran ``plan_annotation_checks`` on exactly these manifests."""
    problems = [] if checked else plan_annotation_checks(manifests)
    if problems:
        raise ValidationError(problems, hint="fix the annotations named above; see `kubectl gitops waves --help`")

    entries: list[_Entry] = []
    skipped: list[Manifest] = []
    for index, m in enumerate(manifests):
        if skip_reason(m) is not None:
            skipped.append(m)
            continue
        types = hook_types(m)
        phases = [Phase.parse(t) for t in types] if types else [Phase.SYNC]
        for phase in sorted(set(phases)):
            entries.append(_Entry(m, phase, wave(m), index))
    entries.sort(key=_sort_key)

    _move_dependencies(
        entries,
        dep_key=lambda m: m.name if _is_namespace(m) else None,
        user_key=lambda m: m.namespace or None,
        what="Namespace",
    )
    _move_dependencies(
        entries,
        dep_key=_crd_target,
        user_key=lambda m: f"{m.group}/{m.kind}",
        what="CustomResourceDefinition",
    )

    steps = []
    for order, e in enumerate(entries):
        m = e.manifest
        types = hook_types(m)
        steps.append(Step(manifest=m, phase=e.phase, wave=e.wave, hook=bool(types), hook_types=types,
                          delete_policies=delete_policies(m), options=sync_options(m), moved_by=e.moved_by,
                          order=order))
    return Plan(steps=steps, skipped=skipped)

