"""The policy applied to one run of an app: every violation and every protected change, at once (pure).

``evaluate`` takes what a run would write (each key with its operation: ``create``, ``update``, ``unchanged``, or
``unknown`` offline) and what it would delete, and returns a ``Verdict``: the matching rule, the violations
(object, rule, why) and the protected objects the run would change. ``Verdict.refusal`` turns that into the
one error a run raises before its first write (exit 6). Every driver — ``sync``, ``prune``, the prune of
``delete`` and the watch loop — calls the same ``ops.policy.enforce``, which calls these.

Rules for an object (namespaced objects by their namespace; a Namespace object by its name; cluster-scoped ones
by ``clusterScoped``): its namespace must match ``namespaces`` (when given); it must not match ``denyKinds``;
it must match ``allowKinds`` (when given). A deletion is held to the same rules (the policy may have changed since
the object was created), and the number of deletions to ``maxDeletes``. An app that no rule matches is refused
altogether: a policy that exists is a whitelist, as Argo CD's AppProjects are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kubectl_gitops.engine.policy import Policy, Rule
from kubectl_gitops.errors import RefusedError
from kubectl_gitops.model import ResourceKey

CHANGES = ("create", "update", "delete")


class WaitingForConfirmation(RefusedError):
    """Refused only because protected changes need a person (no violation): the watch loop reports it as
    waiting for confirmation instead of as a failure. ``waiting`` holds the ``--confirm-protected`` tokens."""

    def __init__(self, message: str, *, waiting: list[str], **kw):  # type: ignore[no-untyped-def]
        super().__init__(message, **kw)
        self.waiting = waiting


@dataclass(frozen=True)
class Violation:
    rule: str  # where: "rules[0] (payments)" or "policy ..."
    why: str
    key: ResourceKey | None = None  # None: the app as a whole (no rule, a budget)
    action: str = "apply"  # apply | delete

    def __str__(self) -> str:
        what = f"{self.key} ({self.action})" if self.key is not None else "app"
        return f"{what}: {self.why} [{self.rule}]"

    def to_json(self) -> dict[str, str]:
        return {"object": str(self.key) if self.key else "", "action": self.action, "rule": self.rule,
                "why": self.why}


@dataclass(frozen=True)
class ProtectedChange:
    key: ResourceKey
    op: str  # create | update | delete | unknown (offline: may change)
    pattern: str  # the protected entry it matched

    @property
    def token(self) -> str:
        return confirm_token(self.key)

    def __str__(self) -> str:
        return f"{self.key} ({self.op}): protected by {self.pattern}; confirm with --confirm-protected {self.token}"


def confirm_token(key: ResourceKey) -> str:
    """What ``--confirm-protected`` takes: ``KIND/NAMESPACE/NAME`` (``KIND/NAME`` when cluster-scoped); KIND is
    kubectl's ``Kind.group`` (``ConfigMap``, ``Deployment.apps``)."""
    return f"{key.group_kind}/{key.namespace}/{key.name}" if key.namespace else f"{key.group_kind}/{key.name}"


def confirmed_by(key: ResourceKey, tokens: Iterable[str]) -> bool:
    """Does one of ``tokens`` name ``key``? The kind part is case-insensitive and may omit the group."""
    for token in tokens:
        parts = token.split("/")
        if len(parts) == 2:
            parts.insert(1, "")
        if len(parts) != 3:
            continue
        kind, ns, name = parts
        if kind.lower() in (key.kind.lower(), key.group_kind.lower()) and ns == key.namespace and name == key.name:
            return True
    return False


@dataclass
class Verdict:
    app: str
    policy: str | None = None  # where the policy came from; None: no policy
    rule: Rule | None = None
    violations: list[Violation] = field(default_factory=list)
    protected: list[ProtectedChange] = field(default_factory=list)

    def unconfirmed(self, tokens: Iterable[str]) -> list[ProtectedChange]:
        tokens = list(tokens)
        return [p for p in self.protected if p.op in CHANGES and not confirmed_by(p.key, tokens)]

    def refusal(self, confirmed: Iterable[str] = ()) -> RefusedError | None:
        """The error a run raises before its first write: every violation and unconfirmed protected change."""
        waiting = self.unconfirmed(confirmed)
        if not self.violations and not waiting:
            return None
        parts = []
        if self.violations:
            parts.append(f"{len(self.violations)} policy violation(s)")
        if waiting:
            parts.append(f"{len(waiting)} change(s) to protected objects not confirmed")
        hint = ("the policy is the cluster's (" + (self.policy or "?") + "): change the repository, or ask the "
                "policy's owners; `kubectl gitops policy check --app " + self.app + "` shows the rule")
        if waiting:
            hint = ("review the diff; to apply, confirm each protected change: "
                    + " ".join(f"--confirm-protected {p.token}" for p in waiting)
                    + ("; and " + hint if self.violations else ""))
        cls = RefusedError if self.violations else WaitingForConfirmation
        extra = {} if self.violations else {"waiting": [p.token for p in waiting]}
        return cls(f"refused by policy for app {self.app}: {' and '.join(parts)}; nothing was changed",
                   details=[str(v) for v in self.violations] + [str(p) for p in waiting], hint=hint, **extra)


def evaluate(policy: Policy | None, app: str, apply: Mapping[ResourceKey, str],
             delete: Iterable[ResourceKey] = ()) -> Verdict:
    """The policy for ``app`` on a run that writes ``apply`` (key → operation) and deletes ``delete``."""
    if policy is None:
        return Verdict(app)
    verdict = Verdict(app, policy.source, policy.rule_for(app))
    rule = verdict.rule
    deletes = list(delete)
    if rule is None:
        verdict.violations.append(Violation(f"policy {policy.source}", f"no rule matches app {app!r}: an app the "
                                            "policy does not name may not write"))
    else:
        for key in apply:
            verdict.violations += _object_violations(rule, key, "apply")
        for key in deletes:
            verdict.violations += _object_violations(rule, key, "delete")
        if rule.max_deletes is not None and len(deletes) > rule.max_deletes:
            verdict.violations.append(Violation(rule.where, f"{len(deletes)} deletions exceed maxDeletes "
                                                f"{rule.max_deletes} of one run", action="delete"))
    patterns = policy.protected + (rule.protected if rule is not None else ())
    ops = [(k, op) for k, op in apply.items() if op != "unchanged"] + [(k, "delete") for k in deletes]
    for key, op in ops:
        hit = next((p for p in patterns if p.matches(key)), None)
        if hit is not None:
            verdict.protected.append(ProtectedChange(key, op, str(hit)))
    return verdict


def _object_violations(rule: Rule, key: ResourceKey, action: str) -> list[Violation]:
    out = []
    ns = key.namespace or (key.name if key.group == "" and key.kind == "Namespace" else "")
    if rule.namespaces is not None and ns and not any(_glob(ns, p) for p in rule.namespaces):
        out.append(Violation(rule.where, f"namespace {ns!r} is not an allowed destination (namespaces: "
                             f"{', '.join(rule.namespaces) or 'none'})", key, action))
    if not key.namespace and not rule.cluster_scoped:
        out.append(Violation(rule.where, "cluster-scoped objects are not allowed (clusterScoped: false)", key, action))
    denied = next((p for p in rule.deny_kinds if p.matches(key.group, key.kind)), None)
    if denied is not None:
        out.append(Violation(rule.where, f"kind {key.group_kind} is denied (denyKinds: {denied})", key, action))
    elif rule.allow_kinds is not None and not any(p.matches(key.group, key.kind) for p in rule.allow_kinds):
        out.append(Violation(rule.where, f"kind {key.group_kind} is not in allowKinds", key, action))
    return out


def _glob(text: str, pattern: str) -> bool:
    from fnmatch import fnmatchcase

    return fnmatchcase(text, pattern)


__all__ = ["CHANGES", "ProtectedChange", "Verdict", "Violation", "WaitingForConfirmation", "confirm_token",
           "confirmed_by", "evaluate"]
