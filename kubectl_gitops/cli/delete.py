"""`kubectl gitops delete APP`: remove a whole app, every member in reverse sync order, then its record.

The prune engine does the work (``ops.delete``); the confirmation, tables and JSON are prune's (cli/prune.py).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from kubectl_gitops.cli.base import handle_errors, interruptible, printer
from kubectl_gitops.cli.lock import lease_options, lock_option
from kubectl_gitops.cli.options import (
    cluster_options,
    common_options,
    complete_app,
    confirm_protected_option,
    dry_run_option,
    get_settings,
    gitops_command,
    output_option,
    policy_options,
    record_namespace_option,
)
from kubectl_gitops.cli.prune import (
    PruneProgress,
    make_confirm,
    print_deletions,
    print_names,
    prune_options,
    report_json,
)
from kubectl_gitops.errors import ExitCode
from kubectl_gitops.settings import parse_duration


@gitops_command("delete")
@click.argument("app", metavar="APP", shell_complete=complete_app)
@common_options
@cluster_options
@record_namespace_option
@output_option("table", "wide", "name", "json", "yaml")
@policy_options
@confirm_protected_option
@click.option("-y", "--yes", is_flag=True, help="Delete without asking (required when not on a terminal).")
@click.option("--confirm-prune", is_flag=True,
              help="Also delete objects annotated Prune=confirm (argocd.argoproj.io/sync-options).")
@click.option("--allow-crd-deletion", is_flag=True,
              help="Also delete the app's CustomResourceDefinitions (and with them every object of their kinds).")
@click.option("--propagation", type=click.Choice(["foreground", "background", "orphan"]), default="foreground",
              show_default=True, help="How dependents (ReplicaSets, Pods, ...) of deleted objects are deleted.")
@dry_run_option("server (or a bare --dry-run) and client: list what would be deleted, delete nothing. none: delete.")
@click.option("--ignore-not-found", is_flag=True, help="Exit 0 when the app has no record (kubectl's flag).")
@click.option("--timeout", default="5m", show_default=True, help="How long to wait for deleted objects to be gone.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True, help="Parallel API calls.")
@lock_option
@handle_errors
@interruptible
def command(app: str, yes: bool, confirm_prune: bool, allow_crd_deletion: bool, propagation: str, dry_run: str,
            ignore_not_found: bool, timeout: str, concurrency: int, lock_timeout: str) -> int:
    """Delete a whole app: every member, in the reverse of the sync order, then its record.

    The members are the objects a sync labelled as the app's (its record, the Secret
    kubectl-gitops.APP in --record-namespace, lists where to look); nothing else is
    touched, and no repository is read. The guards are prune's: objects annotated
    Prune=false (or kustomize.toolkit.fluxcd.io/prune: disabled) are kept (hooks go too, unlike prune), a
    CustomResourceDefinition only with --allow-crd-deletion, a Namespace only when it
    holds nothing else, Prune=confirm objects only with --confirm-prune or a yes. The
    record is deleted last, and only when no member is left: otherwise it is kept, so
    the remaining objects stay the app's. With a policy (--policy, or the cluster's
    ConfigMap) its kinds, namespaces, maxDeletes and protected objects are checked first.

    On a terminal the list is shown and you are asked; without one --yes is required.

    \b
    Examples:
      kubectl gitops delete web --dry-run            # what would be deleted
      kubectl gitops delete web                      # asks on a terminal
      kubectl gitops delete web --yes -o name        # in CI: the deleted objects, one per line
      kubectl gitops delete web --record-namespace gitops --ignore-not-found --yes

    \b
    Exit codes: 0 deleted (or nothing to delete with --ignore-not-found), 2 usage, 3 no
    such app, 4 some deletions failed or timed out, 5 cluster error, 6 refused (not
    confirmed, another tool's record, another run holds the app's Lease, the cluster's policy:
    docs/policy.md).
    """
    from kubectl_gitops.cli.policy_view import make_review, verdict_json
    from kubectl_gitops.ops.delete import DeleteRequest, run_delete

    settings = get_settings()
    p = printer()
    fmt = settings.output.format
    dry = dry_run != "none"
    try:
        wait = parse_duration(timeout, flag="--timeout")
    except Exception as e:
        raise click.BadParameter(str(e), param_hint="--timeout") from e
    opts = prune_options(allow_crd_deletion=allow_crd_deletion, confirm_prune=confirm_prune, allow_empty=True,
                         propagation=propagation, timeout=wait, concurrency=concurrency)
    result = run_delete(settings, DeleteRequest(app=app, options=opts, dry_run=dry, ignore_not_found=ignore_not_found,
                                                lease=lease_options(lock_timeout)),
                        confirm=make_confirm(p, yes=yes, what=f"delete app {app}"),
                        on_event=PruneProgress(p, json_lines=False), review=make_review(p))
    report = result.report
    if fmt in ("json", "yaml"):
        doc: dict[str, Any] = {"app": result.app.name, "recordNamespace": result.app.namespace,
                               "context": result.context, "dryRun": dry, "ok": result.ok,
                               "recordDeleted": result.record_deleted, "remaining": result.remaining,
                               "seconds": round(result.seconds, 3), "requests": result.requests,
                               "writes": result.writes, "warnings": result.warnings}
        if report is not None:
            doc["delete"] = report_json(report)
        if result.policy is not None:
            doc["policy"] = verdict_json(result.policy)
        p.json(doc) if fmt == "json" else p.yaml(doc)
    elif report is not None and fmt == "name":
        print_names(p, report, dry_run=dry)
    elif report is not None:
        print_deletions(p, report, dry_run=dry, wide=fmt == "wide")
        n = len(report.outcome.deleted) if report.outcome else 0
        if dry:
            would = len(report.selection.delete) + len(report.selection.confirm) + len(report.selection.hooks)
            p.echo(f"dry run: {would} object(s) of app {result.app.name} and its record would be deleted, "
                   f"{len(report.selection.kept)} kept; nothing was changed")
        elif result.record_deleted:
            p.echo(f"deleted app {result.app.name}: {n} object(s) and its record in {result.seconds:.1f}s")
        else:
            p.echo(f"deleted {n} object(s) of app {result.app.name}; {result.remaining} remain and the record is kept")
    if not result.ok:
        p.echo(p.style("error: ", "red", p.err) + "some objects were not deleted (see above)", err=True)
        return int(ExitCode.OPERATION_FAILED)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
