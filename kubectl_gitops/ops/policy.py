"""The cluster's policy in a run: load it, act as its ServiceAccount, and enforce it before the first write.

Every driver calls the same two functions: ``guard`` once the app is known (after rendering, before any
live read, Lease or write: it reads the policy as the person running the command, then switches the connection to
the rule's ServiceAccount), and ``enforce`` once the run knows what it would write and delete (it raises one
``RefusedError`` listing every violation and unconfirmed protected change: exit 6, nothing written). The watch
loop calls them through ``run_sync``; a watch iteration passes no ``review``, so a protected change is refused
and reported as waiting for a person's confirmation.

Where the policy comes from: ``--policy FILE`` (CI, and the only source offline); else the ConfigMap
``kubectl-gitops-policy`` (key ``policy.yaml``) in ``--policy-namespace``/``KUBECTL_GITOPS_POLICY_NAMESPACE``;
else there is no policy and everything works as before. Once a namespace is configured the policy fails closed:
a missing ConfigMap is refused (exit 6) and an unreadable one is the cluster error it is (exit 5), never treated
as "no policy" — a guard that turns itself off when RBAC or the network misbehaves guards nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.cluster.discovery import ResourceType
from kubectl_gitops.engine.diff import Change
from kubectl_gitops.engine.policy import CONFIGMAP, DATA_KEY, Policy, PolicyError, Rule, parse_policy
from kubectl_gitops.engine.policy_check import ProtectedChange, Verdict, evaluate
from kubectl_gitops.errors import ClusterError, InvalidInputError, RefusedError, UsageError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.settings import PolicyOptions
from kubectl_gitops.source.repo import Checkout

_CONFIGMAPS = ResourceType("", "v1", "ConfigMap", "configmaps", True)

# The CLI shows the protected changes (with their diffs) and returns the tokens a person approved on a terminal;
# arguments: every protected change of the run, the run's changes by key, the ones not confirmed by flags.
Review = Callable[[list[ProtectedChange], Mapping[ResourceKey, Change], list[ProtectedChange]], list[str]]


def read_policy_file(path: str) -> Policy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"cannot read the policy file {path}: {getattr(e, 'strerror', None) or e}",
                                hint="pass --policy with a readable YAML file (docs/policy.md)") from None
    return parse_policy(text, f"file {path}")


def load_policy(opts: PolicyOptions, cluster: Cluster | None) -> Policy | None:
    """The policy of this run, or None when none is configured (see the module docstring)."""
    if opts.file:
        return read_policy_file(opts.file)
    if not opts.namespace:
        return None
    if cluster is None:
        raise InvalidInputError("--policy-namespace needs the cluster; offline, pass the policy with --policy FILE")
    where = f"ConfigMap {opts.namespace}/{CONFIGMAP}"
    try:
        obj = cluster.get(_CONFIGMAPS, opts.namespace, CONFIGMAP)
    except ClusterError as e:
        raise ClusterError(f"cannot read the policy {where}: {e.message}; nothing was changed (the policy fails "
                           "closed)", status=e.status, reason=e.reason,
                           hint="the person running the command must be able to get this ConfigMap "
                                "(kubectl auth can-i get configmap/" + CONFIGMAP + " -n " + opts.namespace + ")"
                           ) from e
    if obj is None:
        raise RefusedError(f"the policy {where} does not exist; nothing was changed (a configured policy fails "
                           "closed)", hint="create it (docs/policy.md), or unset --policy-namespace / "
                                           "KUBECTL_GITOPS_POLICY_NAMESPACE to run without a policy")
    text = (obj.get("data") or {}).get(DATA_KEY)
    if not isinstance(text, str):
        raise PolicyError(f"policy {where} has no data key {DATA_KEY!r}", hint="see docs/policy.md")
    return parse_policy(text, where)


@dataclass
class Guard:
    """The policy as it applies to one app in one run."""

    app: str
    policy: Policy | None = None
    rule: Rule | None = None
    confirmed: tuple[str, ...] = ()
    identity: str | None = None  # who the run acts as when the rule names a ServiceAccount
    verdict: Verdict | None = field(default=None)

    @property
    def active(self) -> bool:
        return self.policy is not None


def guard(opts: PolicyOptions, app: str, cluster: Cluster | None, *, on_event: EventSink = discard,
          policy: Policy | None = None) -> Guard:
    """Load the policy (unless given), pick the app's rule and, when the rule names a ServiceAccount, make every
    later request of ``cluster`` act as it. Call before any live read, Lease or write."""
    policy = policy if policy is not None else load_policy(opts, cluster)
    g = Guard(app, policy, policy.rule_for(app) if policy else None, tuple(opts.confirm_protected))
    if policy is None:
        return g
    rule_text = g.rule.where if g.rule else "no rule"
    on_event(Event("policy", f"policy {policy.source}: app {app} → {rule_text}",
                   {"policy": policy.source, "rule": g.rule.name if g.rule else None}))
    if g.rule is not None and g.rule.identity and cluster is not None:
        if cluster.identity and cluster.identity != g.rule.identity:
            on_event(Event("warning", f"acting as {g.rule.identity} ({g.rule.where}) instead of {cluster.identity}"))
        cluster.impersonate((("Impersonate-User", g.rule.identity),))
        g.identity = g.rule.identity
        on_event(Event("identity", f"acting as {g.rule.identity} ({g.rule.where})", {"user": g.rule.identity}))
    return g


def require_signed(opts: PolicyOptions, g: Guard, checkout: Checkout, *, on_event: EventSink = discard) -> None:
    """``--require-signed`` and a rule's ``requireSigned``: the commit to sync must be signed by an allowed signer
    (the policy's ``allowedSigners`` for the rule; ``--allowed-signers``/``--gpg-keyring`` for the flag). Both, when
    both ask. ``RefusedError`` (exit 6) names the commit and its signer."""
    from kubectl_gitops.source.signature import Trust, verify_commit

    trusts = []
    if g.rule is not None and g.rule.require_signed and g.policy is not None:
        trusts.append(Trust(g.policy.allowed_signers, where=f"allowedSigners of policy {g.policy.source}"))
    if opts.require_signed:
        if not opts.allowed_signers and not opts.gpg_home:
            raise UsageError("--require-signed needs --allowed-signers FILE (ssh) or --gpg-keyring DIR (OpenPGP)")
        text = None
        if opts.allowed_signers:
            try:
                text = Path(opts.allowed_signers).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise InvalidInputError(f"cannot read --allowed-signers {opts.allowed_signers}: "
                                        f"{getattr(e, 'strerror', None) or e}") from None
        trusts.append(Trust(text, opts.gpg_home, where="--allowed-signers/--gpg-keyring"))
    if not trusts:
        return
    if checkout.dirty or checkout.commit is None or checkout.git_dir is None:
        raise RefusedError(f"signed commits are required, but {checkout.describe()} is not a commit of a git "
                           "repository; nothing was changed", hint="sync a signed commit (without --allow-dirty)")
    for trust in trusts:
        signed = verify_commit(checkout.git_dir, checkout.commit, trust)
        on_event(Event("signature", f"commit {checkout.short_commit} is signed by {signed.signer} ({trust.where})",
                       {"commit": checkout.commit, "signer": signed.signer, "key": signed.key}))


def check(g: Guard, apply: Mapping[ResourceKey, str], delete: Iterable[ResourceKey] = ()) -> Verdict:
    """What the policy says about a run, without refusing (diff, waves)."""
    g.verdict = evaluate(g.policy, g.app, apply, delete)
    return g.verdict


def enforce(g: Guard, apply: Mapping[ResourceKey, str], delete: Iterable[ResourceKey] = (), *,
            changes: Mapping[ResourceKey, Change] | None = None, review: Review | None = None) -> Verdict:
    """Refuse (``RefusedError``, exit 6) a run that violates the policy or changes a protected object nobody
    confirmed; ``review`` (the CLI) shows the protected changes and may approve some on a terminal."""
    verdict = check(g, apply, delete)
    confirmed = list(g.confirmed)
    if verdict.protected and review is not None:
        confirmed += review(verdict.protected, changes or {}, verdict.unconfirmed(confirmed))
    error = verdict.refusal(confirmed)
    if error is not None:
        raise error
    return verdict


def change_ops(changes: Iterable[Change]) -> dict[ResourceKey, str]:
    """key → create/update/unchanged of a run's comparisons (deletions are passed separately)."""
    return {c.key: c.op.value for c in changes if c.op.value != "delete"}


__all__ = ["Guard", "Review", "change_ops", "check", "enforce", "guard", "load_policy", "read_policy_file",
           "require_signed"]
