"""`kubectl gitops policy check`: validate the cluster's policy and show its rules (or the one an app gets)."""

from __future__ import annotations

import sys

import click

from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import cluster_options, common_options, get_settings, output_option, policy_options
from kubectl_gitops.cli.policy_view import RULE_HEADERS, rule_json, rule_rows
from kubectl_gitops.errors import UsageError

_CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group("policy", context_settings=_CTX)
def command() -> None:
    """The cluster's policy for apps: where they may write, what, as whom, protected objects.

    See docs/policy.md for the rules and a worked example of each.

    \b
    Examples:
      kubectl gitops policy check --policy policy.yaml
      kubectl gitops policy check --policy-namespace gitops-system --app payments
    """


@command.command("check", context_settings=_CTX)
@common_options
@cluster_options
@policy_options
@output_option("table", "json")
@click.option("--app", "app", metavar="NAME", help="Show the rule this app gets (the first whose apps match).")
@handle_errors
def check(app: str | None) -> int:
    """Validate the policy and show its rules.

    The policy is read from --policy FILE, else from the ConfigMap kubectl-gitops-policy
    in --policy-namespace (or KUBECTL_GITOPS_POLICY_NAMESPACE). An invalid policy exits 3
    naming each bad rule; with --app, an app no rule matches exits 6 (sync would refuse it).

    \b
    Examples:
      kubectl gitops policy check --policy policy.yaml
      kubectl gitops policy check --policy-namespace gitops-system --app payments
      kubectl gitops policy check --policy policy.yaml --app web -o json

    \b
    Exit codes: 0 valid (and the app has a rule), 2 usage, 3 invalid policy,
    5 cluster error (the ConfigMap cannot be read), 6 no such ConfigMap, or no rule for --app.
    """
    from kubectl_gitops.errors import ExitCode
    from kubectl_gitops.ops.policy import load_policy

    settings = get_settings()
    p = printer()
    if not settings.policy.configured:
        raise UsageError("no policy to check: pass --policy FILE or --policy-namespace NS "
                         "(or set KUBECTL_GITOPS_POLICY_NAMESPACE)")
    cluster = None
    if not settings.policy.file:
        from kubectl_gitops.cluster.client import Cluster

        cluster = Cluster.connect(settings.cluster)
    try:
        policy = load_policy(settings.policy, cluster)
    finally:
        if cluster is not None:
            cluster.close()
    assert policy is not None
    rule = policy.rule_for(app) if app else None
    rules = (rule,) if rule is not None else () if app else policy.rules
    if settings.output.format == "json":
        p.json({"policy": policy.source, "valid": True, "app": app,
                "rules": [rule_json(r) for r in rules],
                "protected": [vars(o) for o in policy.protected + (rule.protected if rule else ())],
                "allowedSigners": bool(policy.allowed_signers)})
    else:
        p.echo(f"policy {policy.source}: valid, {len(policy.rules)} rule(s)")
        if app:
            p.echo(f"app {app}: " + (f"{rule.where}" if rule else "no rule matches: sync, prune and diff refuse it"))
        p.table(RULE_HEADERS, rule_rows(rules))
        if policy.protected:
            p.echo("protected for every app: " + ", ".join(str(o) for o in policy.protected))
    return int(ExitCode.REFUSED) if app and rule is None else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
