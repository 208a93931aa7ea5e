"""`kubectl gitops prune`: delete the app's objects that were removed from Git, and nothing else.

Also home of what ``sync --prune`` shares with it: the prune flags, the confirmation rules (a terminal
asks; without one ``--yes`` is required) and the report table.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from kubectl_gitops.cli.base import handle_errors, interruptible, printer
from kubectl_gitops.cli.lock import lease_options, lock_option
from kubectl_gitops.cli.options import (
    app_options,
    cluster_options,
    common_options,
    compose,
    confirm_protected_option,
    dry_run_option,
    get_settings,
    gitops_command,
    output_option,
    policy_options,
    signed_options,
    source_options,
)
from kubectl_gitops.cli.output import Printer, object_name
from kubectl_gitops.cli.render_options import helm_set_options, jsonnet_options
from kubectl_gitops.errors import ExitCode, RefusedError
from kubectl_gitops.events import Event
from kubectl_gitops.settings import parse_duration

if TYPE_CHECKING:
    from kubectl_gitops.engine.prune import Candidate, PruneOptions, Selection
    from kubectl_gitops.engine.prune_plan import Approval, PruneReport

prune_flags = compose(
    click.option("-y", "--yes", is_flag=True, help="Delete without asking (required when not on a terminal)."),
    click.option("--confirm-prune", is_flag=True,
                 help="Also delete objects annotated Prune=confirm (argocd.argoproj.io/sync-options)."),
    click.option("--allow-crd-deletion", is_flag=True,
                 help="Allow pruning CustomResourceDefinitions (deletes every object of their kind in the cluster)."),
    click.option("--allow-empty", is_flag=True,
                 help="Prune even when the repository renders no objects at all (deletes the whole app)."),
    click.option("--propagation", type=click.Choice(["foreground", "background", "orphan"]), default="foreground",
                 show_default=True, help="How dependents (ReplicaSets, Pods, ...) of deleted objects are deleted."),
)


def prune_options(*, allow_crd_deletion: bool, confirm_prune: bool, allow_empty: bool, propagation: str,
                  timeout: float | None, concurrency: int) -> PruneOptions:
    from kubectl_gitops.engine.prune import PruneOptions

    return PruneOptions(propagation=propagation, allow_crd_deletion=allow_crd_deletion, confirm_prune=confirm_prune,
                        allow_empty=allow_empty, timeout=timeout or 300.0, concurrency=concurrency)


def _where(c: Candidate) -> str:
    return f"{c.key.namespace}/{c.key.name}" if c.key.namespace else c.key.name


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def make_confirm(p: Printer, *, yes: bool, what: str = "prune") -> Callable[[Selection], Approval]:
    """A terminal shows the list and asks (a yes confirms Prune=confirm objects too); ``--yes`` approves the
    list without the unconfirmed Prune=confirm objects; otherwise the command is refused (exit 6)."""
    from kubectl_gitops.engine.prune_plan import Approval

    def confirm(sel: Selection) -> Approval:
        n = len(sel.approved(True))
        if yes:
            return Approval.YES
        if not interactive():
            raise RefusedError(
                f"{what} would delete {n} object(s) and there is no terminal to confirm it; nothing was changed",
                details=[f"{c.key}" + (" (Prune=confirm)" if c in sel.confirm else "") for c in sel.approved(True)],
                hint="review the list (kubectl gitops prune --dry-run), then pass --yes")
        p.info(p.style(f"{what} will delete {n} object(s), in this order:", "bold", p.err))
        for c in sel.approved(True):
            p.info(f"  - {c.key}" + ("  (Prune=confirm)" if c in sel.confirm else "")
                   + (f"  ({c.note})" if c in sel.hooks else ""))
        for c in sel.kept:
            p.info(p.style(f"  kept: {c.key}: {c.reason}", "dim", p.err))
        ok = click.confirm(f"Delete these {n} object(s)?", default=False, err=True)
        return Approval.YES_ALL if ok else Approval.NO

    return confirm


def report_rows(report: PruneReport, *, dry_run: bool) -> list[tuple[str, str, str, str]]:
    outcome = report.outcome
    status: dict[Any, str] = {}
    if outcome is not None:
        status.update({k: "deleted" for k in outcome.deleted})
        status.update({k: "already gone" for k in outcome.gone_already})
        status.update({k: "re-created since listed: left alone" for k in outcome.replaced})
        status.update({k: f"FAILED: {msg}" for k, msg in outcome.failed})
        status.update({k: "still there at the timeout" for k in outcome.remaining})
        status.update({k: "not attempted" for k in outcome.not_attempted})
    unconfirmed = {c.key for c in report.unconfirmed}
    rows = []
    hooks = {c.key for c in report.selection.hooks}
    for c in report.selection.approved(True):
        if c.key in hooks:
            continue  # in their own section: hook_rows
        if c.key in status:
            action = status[c.key]
        elif dry_run:
            action = "would delete"
        elif c.key in unconfirmed:
            action = "not confirmed"
        else:
            action = "not deleted"
        note = c.note or ("Prune=confirm: pass --confirm-prune" if c.key in unconfirmed else "")
        rows.append((action, c.key.group_kind, _where(c), note))
    for c in report.selection.kept:
        rows.append(("kept", c.key.group_kind, _where(c), c.reason))
    return rows


def print_rows(p: Printer, report: PruneReport, *, dry_run: bool, wide: bool) -> None:
    """The report table; ``-o wide`` adds each object's wave and uid."""
    rows: list[tuple[str, ...]] = list(report_rows(report, dry_run=dry_run))
    if not wide:
        p.table(["action", "kind", "namespace/name", "reason"], rows)
        return
    hooks = {c.key for c in report.selection.hooks}
    cands = [c for c in report.selection.approved(True) if c.key not in hooks] + report.selection.kept
    p.table(["action", "kind", "namespace/name", "wave", "uid", "reason"],
            [(*row[:3], str(c.wave), c.uid or "-", row[3]) for row, c in zip(rows, cands, strict=True)])


def print_names(p: Printer, report: PruneReport, *, dry_run: bool) -> None:
    """``-o name``: one name per line, for scripts — the objects that would be (dry run) or were deleted."""
    outcome = report.outcome
    for c in report.selection.approved(True):
        if (outcome is None and dry_run) or (outcome is not None and c.key in outcome.deleted):
            p.echo(object_name(c.key))


def print_deletions(p: Printer, report: PruneReport, *, dry_run: bool, wide: bool) -> None:
    """The table of a prune or an app's delete, then the leftover hooks it deletes (if any)."""
    print_rows(p, report, dry_run=dry_run, wide=wide)
    if report.selection.hooks:
        p.echo(f"leftover hooks ({len(report.selection.hooks)}, left by other runs):")
        p.table(["action", "kind", "namespace/name", "reason"], hook_rows(report, dry_run=dry_run))


def hook_rows(report: PruneReport, *, dry_run: bool) -> list[tuple[str, str, str, str]]:
    """The "leftover hooks" section: hook copies left by other runs (interrupted ones, or superseded)."""
    o = report.outcome
    rows = []
    for c in report.selection.hooks:
        if o is None:
            action = "would delete" if dry_run else "not deleted"
        elif c.key in o.deleted:
            action = "deleted"
        elif c.key in o.gone_already:
            action = "already gone"
        elif c.key in dict(o.failed):
            action = f"FAILED: {dict(o.failed)[c.key]}"
        else:
            action = "not deleted"
        rows.append((action, c.key.group_kind, _where(c), c.note.removeprefix("leftover hook: ")))
    return rows


def outside_note(report: PruneReport) -> str | None:
    """The line saying how many members a prune limited by --include/--exclude did not consider."""
    n = report.selection.outside
    if not n:
        return None
    return (f"{n} member(s) of app {report.app.name} not rendered from the selected files (--include/--exclude) "
            "were not considered")


def report_json(report: PruneReport) -> dict[str, Any]:
    out: dict[str, Any] = {"app": report.app.name, "recordNamespace": report.app.namespace, "id": report.app.id,
                           "lists": report.lists, **report.selection.to_json(), "unserved": report.unserved}
    o = report.outcome
    out["deleted"] = [str(k) for k in o.deleted] if o else []
    out["failed"] = [{"object": str(k), "message": m} for k, m in o.failed] if o else []
    out["remaining"] = [str(k) for k in (o.remaining + o.not_attempted)] if o else []
    out["ok"] = report.ok
    return out


class PruneProgress:
    """Prune events on stderr (one line per deletion), or JSON lines."""

    def __init__(self, p: Printer, *, json_lines: bool = False):
        self.p = p
        self.json_lines = json_lines

    def __call__(self, ev: Event) -> None:
        if self.json_lines:
            self.p.json_line(ev.to_json())
        elif ev.type == "warning":
            self.p.warn(ev.message)
        elif ev.type in ("prune.start", "prune.gone", "adopt"):
            self.p.info(f"    {ev.message}")
        elif ev.type == "prune.delete" and ev.data.get("status") not in ("deleted",):
            self.p.info(f"    {ev.message}" + (f": {ev.data['message']}" if ev.data.get("message") else ""))
        elif ev.type == "source":
            self.p.info(f"source: {ev.message} ({ev.data.get('objects')} objects)")
        elif ev.type == "lease.wait":
            self.p.info(ev.message)
        else:
            self.p.debug(f"{ev.type}: {ev.message}")


@gitops_command("prune")
@common_options
@cluster_options
@source_options
@helm_set_options
@jsonnet_options
@app_options
@output_option("table", "wide", "name", "json", "yaml")
@policy_options
@confirm_protected_option
@signed_options
@prune_flags
@dry_run_option("server (or a bare --dry-run) and client: show what would be deleted, delete nothing (a prune's "
                "dry run only reads, so both are the same). none: prune.")
@click.option("--timeout", default="5m", show_default=True, help="How long to wait for deleted objects to be gone.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True, help="Parallel API calls.")
@lock_option
@handle_errors
@interruptible
def command(yes: bool, confirm_prune: bool, allow_crd_deletion: bool, allow_empty: bool, propagation: str,
            dry_run: str, timeout: str, concurrency: int, lock_timeout: str) -> int:
    """Delete the app's objects that were removed from Git.

    Only members of the app are candidates: objects that a sync labelled
    applyset.kubernetes.io/part-of=<the app's id>, found through its record (the Secret
    kubectl-gitops.<app>, see --app and --record-namespace). Objects of other apps, of other
    tools and unlabelled objects are never touched. Reads committed content (--ref, else
    HEAD), like sync.

    \b
    Never pruned: objects annotated Prune=false (argocd.argoproj.io/sync-options) or
    kustomize.toolkit.fluxcd.io/prune: disabled; hooks; a Namespace that still holds
    anything this prune does not delete; a CustomResourceDefinition unless
    --allow-crd-deletion. Prune=confirm objects need --confirm-prune (or a yes on a
    terminal). An empty rendered set is refused unless --allow-empty.

    With --include/--exclude only members rendered from the selected files are
    considered (each member's source file is recorded by sync); members whose source is
    unknown make it refuse, and an object moved to a file outside the selection is kept.

    Objects are deleted in the reverse of the sync order (PruneLast last) and waited for
    until they are gone. On a terminal the list is shown first and you are asked; without
    a terminal --yes is required.

    \b
    Examples:
      kubectl gitops prune --dry-run                # what would be deleted
      kubectl gitops prune --yes                    # in CI
      kubectl gitops sync --prune --yes             # apply, then prune after the last wave

    \b
    Exit codes: 0 done, 2 usage, 3 invalid input, 4 some deletions failed or timed out,
    5 cluster error, 6 refused (not confirmed, empty render, another tool's record, another
    run holds the app's Lease: --lock-timeout waits for it; the policy: a kind or namespace it
    does not allow, more deletions than maxDeletes, a protected object not confirmed with
    --confirm-protected — docs/policy.md).
    """
    from kubectl_gitops.cli.policy_view import make_review, verdict_json
    from kubectl_gitops.ops.prune import PruneRequest, run_prune

    dry = dry_run != "none"
    settings = get_settings()
    p = printer()
    fmt = settings.output.format
    try:
        wait = parse_duration(timeout, flag="--timeout")
    except Exception as e:
        raise click.BadParameter(str(e), param_hint="--timeout") from e
    opts = prune_options(allow_crd_deletion=allow_crd_deletion, confirm_prune=confirm_prune, allow_empty=allow_empty,
                         propagation=propagation, timeout=wait, concurrency=concurrency)
    result = run_prune(settings, PruneRequest(options=opts, dry_run=dry, lease=lease_options(lock_timeout)),
                       confirm=make_confirm(p, yes=yes), on_event=PruneProgress(p),
                       review=make_review(p))
    report = result.report
    if fmt in ("json", "yaml"):
        doc: dict[str, Any] = {"app": result.app.name, "recordNamespace": result.app.namespace,
                               "context": result.context, "commit": result.checkout.commit, "dryRun": dry,
                               "ok": result.ok, "seconds": round(result.seconds, 3), "requests": result.requests,
                               "writes": result.writes,
                               "warnings": result.warnings}
        if report is not None:
            doc["prune"] = report_json(report)
        if result.policy is not None:
            doc["policy"] = verdict_json(result.policy)
        if fmt == "json":
            p.json(doc)
        else:
            p.yaml(doc)
    elif report is not None and fmt == "name":
        print_names(p, report, dry_run=dry)
    elif report is not None:
        print_deletions(p, report, dry_run=dry, wide=fmt == "wide")
        note = outside_note(report)
        if note:
            p.info(note)
        n = len(report.outcome.deleted) if report.outcome else 0
        if dry:
            would = len(report.selection.delete) + len(report.selection.confirm)
            hooks = len(report.selection.hooks)
            p.echo(f"dry run: {would} object(s) of app {result.app.name} would be deleted"
                   + (f" and {hooks} leftover hook(s)" if hooks else "")
                   + f", {len(report.selection.kept)} kept; nothing was changed")
        elif report.selection.empty:
            p.echo(f"nothing to prune for app {result.app.name} ({result.desired} objects in Git"
                   + (f", {len(report.selection.kept)} kept" if report.selection.kept else "") + ")")
        else:
            p.echo(f"pruned {n} object(s) of app {result.app.name} in {result.seconds:.1f}s"
                   + (f", {len(report.selection.kept)} kept" if report.selection.kept else ""))
        if report.unconfirmed and not dry:
            p.warn(f"{len(report.unconfirmed)} object(s) annotated Prune=confirm were not deleted: "
                   "pass --confirm-prune (or answer yes on a terminal)")
    if not result.ok:
        p.echo(p.style("error: ", "red", p.err) + "some objects were not deleted (see above)", err=True)
        return int(ExitCode.OPERATION_FAILED)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
