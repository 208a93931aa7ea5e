"""`kubectl gitops sync`: apply the repository in Argo CD phases and sync waves, waiting for health."""

from __future__ import annotations

import sys

import click

from kubectl_gitops.cli.apptree import app_concurrency_option, tree_options
from kubectl_gitops.cli.base import handle_errors, interruptible, printer
from kubectl_gitops.cli.ignore import ignore_option, load_rules
from kubectl_gitops.cli.lock import lease_options, lock_option
from kubectl_gitops.cli.options import (
    app_options,
    cluster_options,
    common_options,
    confirm_protected_option,
    dry_run_option,
    field_manager_option,
    get_settings,
    gitops_command,
    output_option,
    policy_options,
    resource_options,
    signed_options,
    sync_source_options,
)
from kubectl_gitops.cli.output import Printer, object_name
from kubectl_gitops.cli.prune import make_confirm, outside_note, prune_flags, prune_options, report_json, report_rows
from kubectl_gitops.cli.render_options import helm_set_options, image_options, jsonnet_options
from kubectl_gitops.cli.watch import watch_options
from kubectl_gitops.errors import ExitCode
from kubectl_gitops.events import Event
from kubectl_gitops.settings import parse_duration


def _duration(flag: str):  # type: ignore[no-untyped-def]
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
        if value is None:
            return None
        try:
            return parse_duration(value, flag=flag) or None
        except Exception as e:
            raise click.BadParameter(str(e)) from e

    return convert


class Progress:
    """Human progress on stderr: a line per wave, health transitions, a bar on a terminal; or JSON lines."""

    def __init__(self, p: Printer, *, json_lines: bool):
        self.p = p
        self.json_lines = json_lines
        self.tty = p.err.isatty() if hasattr(p.err, "isatty") else False
        self.waves_total = 0
        self.waves_done = 0

    def __call__(self, ev: Event) -> None:
        if self.json_lines:
            self.p.json_line(ev.to_json())
            return
        p, t = self.p, ev.type
        if t == "source":
            p.info(f"source: {ev.message} ({ev.data.get('objects')} objects)")
        elif t == "warning":
            p.warn(ev.message)
        elif t == "image":  # an --image replacement (docs/ci.md)
            p.info(ev.message)
        elif t == "sync.start":
            self.waves_total = int(ev.data.get("waves", 0))
        elif t == "wave.start":
            p.info(p.style(f"==> {ev.message}", "bold", p.err))
        elif t == "apply":
            if ev.data.get("action") not in ("unchanged",):
                p.info(f"    {ev.data.get('key')}: {ev.data.get('action')}"
                       + (f" ({ev.data['detail']})" if ev.data.get("detail") else ""))
        elif t == "health":
            color = {"Healthy": "green", "Degraded": "red"}.get(str(ev.data.get("status")), "yellow")
            p.info(f"    {ev.data.get('key')}: " + p.style(str(ev.data.get("status")), color, p.err)
                   + (f" - {ev.data['detail']}" if ev.data.get("detail") else ""))
        elif t == "wave.done":
            self.waves_done += 1
            line = p.style(f"    done: {ev.message}", "green", p.err)
            if self.tty and self.waves_total:
                width = 20
                filled = int(width * self.waves_done / self.waves_total)
                line += f"  [{'#' * filled}{'.' * (width - filled)}] {self.waves_done}/{self.waves_total} waves"
            p.info(line)
        elif t in ("hook.deleted", "hook.recovered", "syncfail.start", "adopt", "prune.start", "prune.gone"):
            p.info(f"    {ev.message}")
        elif t == "lease.wait":
            p.info(ev.message)
        elif t == "wave.waiting":  # every few seconds while a wave waits for health
            p.info(p.style(f"    {ev.message} ({ev.data.get('seconds', 0):.0f}s)", "dim", p.err))
        elif t == "sync.done":
            pass
        else:
            p.debug(f"{t}: {ev.message}")


@gitops_command("sync")
@common_options
@cluster_options
@sync_source_options
@image_options
@helm_set_options
@jsonnet_options
@app_options
@tree_options
@app_concurrency_option
@output_option("table", "wide", "name", "json", "yaml")
@policy_options
@confirm_protected_option
@signed_options
@click.option("--prune", is_flag=True, help="After the last wave, delete the app's objects that were removed from Git "
              "(see `kubectl gitops prune --help` for what is never deleted).")
@prune_flags
@ignore_option
@click.option("--apply-ignored", is_flag=True,
              help="Write fields that --ignore-differences ignores too (default: they keep their live values).")
@click.option("--adopt", is_flag=True, help="Take over existing objects that belong to no app or to another tool.")
@dry_run_option("server (or a bare --dry-run): validate and dry-run every object on the server, print the plan "
                "with its changes, write nothing. client: render, validate and order offline, send nothing to "
                "the cluster. none: sync.")
@field_manager_option
@resource_options
@click.option("-c", "--diff-changes", is_flag=True,
              help="Show the changes first (diff, deletions, hooks; on stderr) and ask before applying them "
                   "(kapp's -c); --yes applies without asking; without a terminal --yes is required.")
@click.option("--allow-dirty", is_flag=True, help="Apply the work tree even with uncommitted changes.")
@click.option("--force-conflicts", is_flag=True, help="Take over fields owned by another field manager.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Parallel API calls (dry runs, applies within a wave, health reads).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for every object of a wave to be healthy before the next (hooks are always waited for).")
@click.option("--wave-timeout", default="5m", show_default=True, callback=_duration("--wave-timeout"),
              help="How long one wave may take to become healthy.")
@click.option("--timeout", default=None, callback=_duration("--timeout"),
              help="How long the whole sync may take (default: no limit beyond the wave timeouts).")
@click.option("--poll-interval", default="1s", callback=_duration("--poll-interval"), hidden=True)
@click.option("--progress-interval", default="5s", callback=_duration("--progress-interval"), hidden=True,
              help="How often a waiting wave says what it waits for (0: never).")
@lock_option
@watch_options
@handle_errors
@interruptible
def command(dry_run: str, allow_dirty: bool, force_conflicts: bool, concurrency: int, wait: bool,
            wave_timeout: float | None, timeout: float | None, poll_interval: float | None, prune: bool,
            yes: bool, confirm_prune: bool, allow_crd_deletion: bool, allow_empty: bool, propagation: str,
            adopt: bool, ignore_file: str | None, apply_ignored: bool, lock_timeout: str, diff_changes: bool,
            progress_interval: float | None) -> int:
    """Apply the repository to the cluster in Argo CD phases and sync waves.

    Everything is rendered, validated and dry-run on the server first: if anything
    fails, nothing is applied. Then PreSync, Sync and PostSync run wave by wave with
    server-side apply (field manager kubectl-gitops); each wave waits until its
    objects are healthy. Unchanged objects are not written. On failure the SyncFail
    hooks run and the exit code is 4.

    Sync applies committed content (--ref, else HEAD) and refuses a dirty work tree
    unless --allow-dirty. A rollback is a sync of an older commit: --ref <commit>.

    Every applied object is labelled as a member of the app (--app), recorded in the
    Secret kubectl-gitops.<app>; existing objects that belong to nobody or to another
    tool (Argo CD, Flux, kapp, another app) are refused unless --adopt. With --prune,
    members removed from Git are deleted after the last wave (see `prune --help`); with
    --include/--exclude only members rendered from the selected files.

    \b
    Examples:
      kubectl gitops sync examples/                    # HEAD of the current repository
      kubectl gitops sync --ref v1.4.0 --path deploy/  # a tag
      kubectl gitops sync --dry-run                    # plan and changes, nothing written
      kubectl gitops sync --dry-run=client             # the plan, offline: nothing sent to the cluster
      kubectl gitops sync -k overlays/prod -l app=web  # one kustomization, only objects labelled app=web
      kubectl gitops sync -o json | jq .               # one JSON event per line, for CI
      kubectl gitops sync -o name                      # deployment.apps/web, one line per object
      kubectl gitops sync -c                           # show the changes, ask, then apply (kapp's -c)
      kubectl gitops sync --wave-timeout 1m30s         # Go durations, as kubectl takes them
      kubectl gitops sync --resource apps:Deployment:web --resource :ConfigMap:demo/web-config
      kubectl gitops sync --prune --yes                # and delete what left Git
      kubectl gitops sync --lock-timeout 5m            # wait for another run of the app to finish
      kubectl gitops sync guestbook/ --jsonnet-tla-code replicas=3   # inputs of .jsonnet files
      kubectl gitops sync --image app=registry/app:1.4.2   # deploy the image CI just built
      kubectl gitops sync chart/ --set image.tag=1.4.2     # a Helm value
      kubectl gitops sync bootstrap/ --repo-mirror https://git.example/org=/srv/mirrors/org
                                                       # a tree of Argo CD/Flux apps (docs/apps.md)
      kubectl gitops sync --policy-namespace gitops-system --confirm-protected ConfigMap/kube-system/aws-auth
      kubectl gitops sync --watch --interval 30s --self-heal --metrics-addr 9090   # pull mode
      kubectl gitops sync --once --repo https://git.example.com/ops.git   # one iteration (CronJob)
      kubectl gitops sync --watch apps/web apps/db --app-concurrency 4   # several apps, one process

    With a policy (--policy FILE, or the ConfigMap kubectl-gitops-policy in
    --policy-namespace) everything is checked before the first write: destination
    namespaces, kinds, cluster-scoped objects, the prune budget; a change to a protected
    object is shown as a diff and needs --confirm-protected KIND/NAMESPACE/NAME (or a yes
    on a terminal). A rule's serviceAccount (or --as) is who the whole run acts as, so the
    cluster's RBAC is the final guard (docs/policy.md). --require-signed (or the rule's
    requireSigned) refuses a commit not signed by an allowed signer.

    Pull mode (--watch, --once) takes several PATHs: one app each (named as `sync PATH`
    names it; --app is refused), all in one process, each under its own Lease, iterated
    when due on --app-concurrency threads (docs/pull-mode.md).

    One sync or prune of an app runs at a time: each holds the Lease
    kubectl-gitops.<app> in the record's namespace while it writes; another run is
    refused (exit 6) or, with --lock-timeout, waits and then reads the cluster afresh.

    \b
    Exit codes: 0 synced, 2 usage, 3 invalid input (nothing changed), 4 sync failed,
    5 cluster error, 6 refused (dirty work tree, field or ownership conflicts, prune
    not confirmed, empty render with --prune, another run holds the app's Lease, refused by
    the policy).
    --watch: 0 when stopped by SIGTERM/SIGINT (after the current wave; SIGHUP or a
    second signal stops at once); --once: 4 when its sync failed.
    """
    from kubectl_gitops.cli.policy_view import make_review, verdict_json
    from kubectl_gitops.cli.review import make_review_changes
    from kubectl_gitops.engine.sync_model import SyncConfig
    from kubectl_gitops.ops.common import CompareOptions
    from kubectl_gitops.ops.sync import SyncRequest, run_sync

    settings = get_settings()
    p = printer()
    fmt = settings.output.format
    if dry_run == "client":
        return _client_dry_run(p, allow_dirty=allow_dirty)
    json_out = fmt == "json"
    progress = Progress(p, json_lines=json_out)
    req = SyncRequest(
        compare=CompareOptions(concurrency=concurrency, force_conflicts=force_conflicts,
                               ignore_rules=load_rules(ignore_file), respect_ignored=not apply_ignored),
        config=SyncConfig(concurrency=concurrency, wait=wait, wave_timeout=wave_timeout or 300.0, timeout=timeout,
                          poll_interval=poll_interval or 1.0, force_conflicts=force_conflicts,
                          progress_interval=progress_interval or 0.0),
        allow_dirty=allow_dirty, dry_run=dry_run == "server", adopt=adopt,
        prune=prune_options(allow_crd_deletion=allow_crd_deletion, confirm_prune=confirm_prune,
                            allow_empty=allow_empty, propagation=propagation, timeout=timeout,
                            concurrency=concurrency) if prune else None,
        lease=lease_options(lock_timeout), review=make_review(p),
        review_changes=make_review_changes(p, yes=yes) if diff_changes else None)
    from kubectl_gitops.cli.watch import watch_settings
    from kubectl_gitops.source.appspec import AppsFound

    watching = watch_settings()
    paths = click.get_current_context().meta.get("kubectl_gitops.paths")
    if paths and not (watching.get("watch") or watching.get("once")):
        from kubectl_gitops.errors import UsageError

        raise UsageError(f"{len(paths)} PATHs given: a sync applies one app (one PATH); several PATHs are for "
                         "--watch or --once (one app each, in one process)")
    if watching.get("watch") or watching.get("once"):  # pull mode (cli/watch.py, ops/watch.py)
        from kubectl_gitops.cli.watch import run_watch, wave_signals
        from kubectl_gitops.errors import UsageError

        if dry_run != "none" or allow_dirty:
            raise UsageError("--watch and --once sync commits: they cannot be combined with --dry-run or "
                             "--allow-dirty")
        if prune and not yes:
            raise UsageError("--watch --prune deletes without a terminal to ask: add --yes")
        with wave_signals():
            return run_watch(settings, req, p, watching, paths or ())

    try:
        # with --diff-changes the one question covers the deletions too
        result = run_sync(settings, req, on_event=progress,
                          confirm=make_confirm(p, yes=yes or diff_changes, what="sync --prune"))
    except AppsFound as found:  # a tree of apps (docs/apps.md)
        from kubectl_gitops.cli.apptree import TreeProgress, print_tree_sync
        from kubectl_gitops.ops.apptree_run import run_tree_sync

        tree = run_tree_sync(settings, req, apps=found.apps, on_event=TreeProgress(progress, p, json_lines=json_out),
                             confirm=make_confirm(p, yes=yes, what="sync --prune"))
        if tree.root is not None:
            return print_tree_sync(p, tree, json_out=json_out)
        result = tree.plain

    if fmt in ("json", "yaml"):
        summary = {"type": "result", "ok": result.ok, "dryRun": dry_run != "none", "dryRunMode": dry_run,
                   "commit": result.checkout.commit,
                   "writes": result.writes, "seconds": round(result.seconds, 3),
                   "message": result.outcome.message if result.outcome else ""}
        if result.prune is not None:
            summary["prune"] = report_json(result.prune)
        if result.policy is not None:
            summary["policy"] = verdict_json(result.policy)
        if result.outcome:
            summary["steps"] = [s.to_json() for s in result.outcome.steps]
        else:
            summary["plan"] = [dict(s.to_json(), change=result.changes[s.key].op.value) for s in result.plan.steps]
        p.json_line(summary) if json_out else p.yaml(summary)
    elif fmt == "name":
        names = [s.key for s in result.plan.steps] if result.outcome is None else \
            [r.key for r in result.outcome.steps]
        for key in dict.fromkeys(names):  # applied objects only (pruned ones: the progress on stderr)
            p.echo(object_name(key))
    elif result.outcome is None:
        p.echo(f"dry run of {result.checkout.describe()} on context {result.context}: nothing was written")
        from kubectl_gitops.cli.waves_view import render_table

        changes = {k: c.op.value + (f" ({c.note})" if c.note else "") for k, c in result.changes.items()}
        p.echo(render_table(result.plan, verbose=max(settings.output.verbose, int(fmt == "wide")), changes=changes))
        if result.prune is not None and (result.prune.selection.approved(True) or result.prune.selection.kept):
            p.echo("prune after the last wave:")
            p.table(["action", "kind", "namespace/name", "reason"], report_rows(result.prune, dry_run=True))
        if result.prune is not None and outside_note(result.prune):
            p.info(str(outside_note(result.prune)))
    else:
        done: list[tuple[object, ...]] = [
            (str(r.phase), str(r.wave), r.key.group_kind, f"{r.key.namespace}/{r.key.name}".lstrip("/"), r.action,
             r.health, f"{r.seconds:.2f}s") for r in result.outcome.steps]
        headers = ["phase", "wave", "kind", "namespace/name", "action", "health", "time"]
        if fmt == "wide":  # kubectl's -o wide: more columns, where each object came from and the server's word
            origins = {s.key: str(s.manifest.origin) for s in result.plan.steps}
            done = [(*row, origins.get(r.key, "-"), r.message or "-") for row, r in zip(done, result.outcome.steps,
                                                                                     strict=True)]
            headers += ["source", "message"]
        p.table(headers, done)
        if result.prune is not None and (result.prune.selection.approved(True) or result.prune.selection.kept):
            p.table(["prune", "kind", "namespace/name", "reason"], report_rows(result.prune, dry_run=False))
        if result.prune is not None and outside_note(result.prune):
            p.info(str(outside_note(result.prune)))
        verdict = "synced" if result.ok else "sync FAILED"
        p.echo(f"{verdict} {result.checkout.describe()} to {result.context} in {result.seconds:.1f}s "
               f"({result.writes} writes)")
    if result.outcome is not None and not result.outcome.ok:
        p.echo(p.style("error: ", "red", p.err) + result.outcome.message, err=True)
        for r in result.outcome.failed:
            p.echo(f"  - {r.key}: {r.health or 'failed'}" + (f": {r.message}" if r.message else ""), err=True)
        return int(ExitCode.OPERATION_FAILED)
    if result.prune is not None and not result.prune.ok:
        p.echo(p.style("error: ", "red", p.err) + "synced, but some objects were not pruned (see above)", err=True)
        return int(ExitCode.OPERATION_FAILED)
    return 0


def _client_dry_run(p: Printer, *, allow_dirty: bool) -> int:
    """``--dry-run=client``: what ``waves`` shows for the content a sync applies; nothing is sent."""
    from kubectl_gitops.cli import waves_view
    from kubectl_gitops.ops.waves import run_waves

    settings = get_settings()
    waves = run_waves(settings, committed_only=not allow_dirty)  # with --policy FILE: checked offline too
    plan = waves.plan
    fmt = settings.output.format
    if fmt in ("json", "yaml"):
        doc = {"type": "result", "ok": True, "dryRun": True, "dryRunMode": "client", "plan": waves_view.plan_json(plan)}
        p.json_line(doc) if fmt == "json" else p.yaml(doc)
    elif fmt == "name":
        for step in plan.steps:
            p.echo(object_name(step.key))
    else:
        p.echo("client dry run: nothing was sent to the cluster")
        table = waves_view.render_table(plan, verbose=max(settings.output.verbose, int(fmt == "wide")))
        if table:
            p.echo(table)
        p.info(waves_view.summary(plan) if plan.steps or plan.skipped else "no objects found")
    from kubectl_gitops.cli.policy_view import show_verdict

    show_verdict(p, waves.policy)
    return int(ExitCode.REFUSED) if waves.policy is not None and waves.policy.violations else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
