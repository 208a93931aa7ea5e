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

The annotations are read and checked in ``engine.annotations`` (hook types, delete policies, waves, sync
options); this module orders the objects by them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

# The annotation readers live in engine.annotations; they are re-exported here (``__all__``) for callers that
# import the plan's vocabulary from the plan.
from kubectl_gitops.engine.annotations import (
    DELETE_POLICIES,
    HELM_DELETE_POLICIES,
    HELM_HOOK_PHASES,
    HELM_HOOK_VALUES,
    HELM_HOOKS_NOT_RUN,
    HOOK_SKIP,
    HOOK_TYPES,
    HookDeletePolicy,
    ParsedSyncOptions,
    StrValueEnum,
    SyncOptions,
    annotation_problems,
    argo_hook_types,
    delete_policies,
    helm_hook_values,
    hook_types,
    parse_sync_options,
    plan_annotation_checks,
    runs_as_hook,
    skip_reason,
    sync_options,
    wave,
)
from kubectl_gitops.errors import ValidationError
from kubectl_gitops.model import Manifest, ResourceKey, crd_spec

__all__ = [
    "APPLIED_ACTIONS", "DELETE_POLICIES", "HELM_DELETE_POLICIES", "HELM_HOOKS_NOT_RUN", "HELM_HOOK_PHASES",
    "HELM_HOOK_VALUES", "HOOK_SKIP", "HOOK_TYPES", "KIND_ORDER", "NOTE_SYNC_FAIL", "UNKNOWN_KIND_ORDER",
    "HookDeletePolicy", "ParsedSyncOptions", "Phase", "Plan", "Step", "StepAction", "SyncOptions",
    "annotation_problems", "build_plan", "delete_policies", "display_kind", "display_name", "hook_types",
    "kind_rank", "parse_sync_options", "plan_annotation_checks", "runs_as_hook", "skip_reason", "sync_options",
    "wave",
]


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


class StepAction(StrValueEnum):
    """What a sync did with one step (``StepResult.action``)."""

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    HOOK = "hook"  # a hook created (or recovered) and run
    SKIPPED = "skipped"
    FAILED = "failed"


APPLIED_ACTIONS = frozenset({StepAction.CREATED, StepAction.CONFIGURED, StepAction.HOOK})  # the object was written

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
        if not self.hook or argo_hook_types(self.manifest):
            return ()
        return tuple(h for h in helm_hook_values(self.manifest) if h in HELM_HOOK_PHASES)

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

