"""`kubectl gitops status [APP]`, `list`, `suspend APP`, `resume APP`: the apps' status as their records say."""

from __future__ import annotations

import sys
import time
from datetime import datetime

import click

from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import (
    app_options,
    cluster_options,
    common_options,
    get_settings,
    output_option,
    source_options,
)
from kubectl_gitops.cli.output import Printer

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
PHASE_COLORS = {"Synced": "green", "OutOfSync": "yellow", "Failed": "red", "Progressing": "cyan",
                "Suspended": "blue"}


def ago(stamp: str, now: float | None = None) -> str:
    """``2024-05-01T12:00:00Z`` -> ``3m``, as kubectl's AGE column."""
    if not stamp:
        return "-"
    try:
        t = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return "-"
    s = max(0, int((now if now is not None else time.time()) - t))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _short(commit: str | None) -> str:
    return (commit or "-")[:12]


def _dump(p: Printer, fmt: str, doc: object) -> None:
    if fmt == "json":
        p.json(doc)
    else:
        p.yaml(doc)


@click.command("status", context_settings=CONTEXT)
@click.argument("app_arg", metavar="[APP]", required=False)
@common_options
@cluster_options
@source_options
@app_options
@output_option("table", "json", "yaml")
@handle_errors
def command(app_arg: str | None) -> int:
    """Show an app's status: phase, health, commits, drift and the last failure.

    The status is kept on the app's record (the Secret kubectl-gitops.<app>) by every
    sync, push or `sync --watch`, so it works for both. Without APP (or --app), the app
    is the one the repository and --path map to, as for sync.

    \b
    Phases: Synced, OutOfSync (a newer commit or drift), Failed (the message says
    why), Progressing (a sync or prune holds the app's Lease now), Suspended
    (kubectl gitops suspend), Unknown (never synced by a version that records status).

    \b
    Examples:
      kubectl gitops status web --record-namespace team
      kubectl gitops status -o json | jq .phase
      kubectl gitops list -A                        # every app in the cluster

    \b
    Exit codes: 0 ok (whatever the phase), 2 usage, 3 invalid input, 5 cluster error.
    """
    from kubectl_gitops.ops.status import run_status

    settings = get_settings()
    p = printer()
    result = run_status(settings, app_arg)
    state = result.apps[0]
    fmt = settings.output.format
    if fmt in ("json", "yaml"):
        _dump(p, fmt, state.to_json())
        return 0
    if not state.record.exists:
        p.info(f"app {state.app.name} has no record in namespace {state.app.namespace} on context {result.context}: "
               "it was never synced there (check the name and --record-namespace, or kubectl gitops list)")
        return 0
    s = state.status
    phase = state.phase
    rows = [
        ("app", f"{state.app.name} (record Secret {state.app.namespace}/{state.app.parent_name})"),
        ("source", state.record.source or "-"),
        ("phase", p.style(phase, PHASE_COLORS.get(phase, "dim")) if phase != "Unknown" else phase),
        ("health", s.health),
        ("message", s.message or "-"),
        ("last seen commit", f"{_short(s.last_seen_commit)} ({ago(s.last_seen_time)} ago)"
         if s.last_seen_time else _short(s.last_seen_commit)),
        ("last synced commit", _short(s.last_synced_commit)),
        ("last sync", f"{s.last_sync_time} ({ago(s.last_sync_time)} ago)" if s.last_sync_time else "-"),
        ("last attempt", s.last_attempt_time or "-"),
        ("drift", f"{s.drift.objects} object(s)" + (": " + ", ".join(s.drift.keys) if s.drift.keys else "")),
        ("self-heals", str(s.self_heals)),
    ]
    if state.record.suspended:
        rows.append(("suspended", state.record.suspended))
    if state.holder is not None and not state.holder.free:
        rows.append(("lease", state.holder.describe(state.now) + (" (expired)" if state.holder.expired(state.now)
                                                                  else "")))
    width = max(len(k) for k, _ in rows) + 2
    for key, value in rows:
        p.echo(f"{key + ':':<{width}}{value}")
    return 0


@click.command("list", context_settings=CONTEXT)
@common_options
@cluster_options
@click.option("--record-namespace", metavar="NS", envvar="KUBECTL_GITOPS_RECORD_NAMESPACE",
              help="List the apps whose record is in NS (default: the context's namespace, or -n).")
@click.option("-A", "--all-namespaces", is_flag=True, help="List the apps of every namespace.")
@output_option("table", "json", "yaml")
@handle_errors
def list_command(record_namespace: str | None, all_namespaces: bool) -> int:
    """List the apps in a namespace (or the cluster) with commit, phase, health and age.

    An app is a record (Secret kubectl-gitops.<app>, label app.kubernetes.io/managed-by=
    kubectl-gitops) made by sync. One LIST of records and one of Leases.

    \b
    Examples:
      kubectl gitops list                       # the context's namespace
      kubectl gitops list -A -o json            # every app, as JSON

    \b
    Exit codes: 0 ok, 2 usage, 5 cluster error.
    """
    import dataclasses

    from kubectl_gitops.ops.status import run_list

    settings = get_settings()
    if record_namespace:
        settings.app = dataclasses.replace(settings.app, record_namespace=record_namespace)
    p = printer()
    result = run_list(settings, all_namespaces=all_namespaces)
    fmt = settings.output.format
    if fmt in ("json", "yaml"):
        _dump(p, fmt, {"context": result.context, "apps": [a.to_json() for a in result.apps]})
        return 0
    rows = [((a.app.namespace,) if all_namespaces else ()) + (
        a.app.name, _short(a.status.last_synced_commit), p.style(a.phase, PHASE_COLORS.get(a.phase, "dim")),
        a.status.health, ago(a.status.last_sync_time), ago(a.created),
        (a.status.message or "")[:60] or "-") for a in result.apps]
    headers = (["namespace"] if all_namespaces else []) + ["app", "commit", "status", "health", "synced", "age",
                                                           "message"]
    p.table(headers, rows)
    if not rows:
        where = "the cluster" if all_namespaces else f"namespace {settings.app.record_namespace or 'of the context'}"
        p.info(f"no apps in {where} on context {result.context}")
    return 0


def _suspend_command(name: str, suspend: bool) -> click.Command:
    verb = "suspend" if suspend else "resume"

    @click.command(name, context_settings=CONTEXT)
    @click.argument("app_arg", metavar="[APP]", required=False)
    @common_options
    @cluster_options
    @source_options
    @app_options
    @output_option("table", "json")
    @handle_errors
    def cmd(app_arg: str | None) -> int:
        from kubectl_gitops.ops.status import run_suspend

        settings = get_settings()
        p = printer()
        state = run_suspend(settings, app_arg, suspend=suspend)
        if settings.output.format == "json":
            p.json(state.to_json())
        else:
            p.echo(f"app {state.app.name} {'suspended' if suspend else 'resumed'} "
                   f"(record {state.app.namespace}/{state.app.parent_name})")
        return 0

    cmd.help = (
        f"{'Stop' if suspend else 'Let'} `sync --watch` {'from syncing' if suspend else 'sync'} an app"
        f"{' until resume' if suspend else ' again'}.\n\n"
        "Sets or clears the annotation gitops.kubectl.dev/suspended on the app's record and posts an\n"
        "Event; the watch loop reads it before every sync and drift check (a push `sync` is not\n"
        "stopped by it: a person who runs sync means it). The Lease is not taken: it works while a\n"
        "watch loop holds the app.\n\n"
        f"\b\nExamples:\n  kubectl gitops {verb} web --record-namespace team\n\n"
        "\b\nExit codes: 0 ok, 2 usage, 3 no such app, 5 cluster error.")
    return cmd


suspend_command = _suspend_command("suspend", True)
resume_command = _suspend_command("resume", False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
