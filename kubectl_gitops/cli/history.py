"""`kubectl gitops history`: the recorded syncs and prunes of an app, oldest first."""

from __future__ import annotations

import sys

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

COUNT_ORDER = ("created", "configured", "unchanged", "hook", "failed", "pruned", "kept", "pruneFailed")


def _counts(counts: dict[str, int]) -> str:
    keys = [k for k in COUNT_ORDER if counts.get(k)] + sorted(k for k in counts if k not in COUNT_ORDER and counts[k])
    return ", ".join(f"{counts[k]} {k}" for k in keys) or "-"


@click.command("history", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@common_options
@cluster_options
@source_options
@app_options
@output_option("table", "json", "yaml")
@handle_errors
def command() -> int:
    """List the recorded syncs and prunes of an app, oldest first.

    The record (the Secret kubectl-gitops.<app> in the record namespace) keeps the last 20
    operations: revision, time (UTC), user, kubeconfig context, commit, ref, result and
    counts. Without --app, the app is the one the repository and --path map to, as for sync.
    For the root of a tree of apps (docs/apps.md), every child app's history follows.

    \b
    Examples:
      kubectl gitops history                       # find the revision that worked
      kubectl gitops rollback 7                    # sync its commit again (see rollback --help)
      kubectl gitops history --app web -o json     # for scripts

    \b
    Exit codes: 0 ok, 2 usage, 3 invalid input, 5 cluster error, 6 refused (another tool's record).
    """
    from kubectl_gitops.ops.history import run_history

    settings = get_settings()
    p = printer()
    result = run_history(settings)
    record, fmt = result.record, settings.output.format
    entries = [h.to_json() for h in record.history]
    if fmt in ("json", "yaml"):
        doc = {"app": result.app.name, "recordNamespace": result.app.namespace, "id": result.app.id,
               "exists": record.exists, "source": record.source,
               "groupKinds": sorted(record.scope.group_kinds),
               "namespaces": record.scope.search_namespaces(result.app.namespace) if record.exists else [],
               "history": entries}
        if result.children:  # a tree of apps: the root, then every child app
            doc["apps"] = [{"app": result.app.name, "parent": None, "history": entries}] + [
                {"app": name, "parent": parent, "exists": rec.exists, "history": [h.to_json() for h in rec.history]}
                for name, parent, rec in result.children]
        if fmt == "json":
            p.json(doc)
        else:
            p.yaml(doc)
        return 0
    if not record.exists:
        p.info(f"app {result.app.name} has no record in namespace {result.app.namespace} on context "
               f"{result.context}: it was never synced there (check --app and --record-namespace)")
        return 0
    rows = [(h.revision, h.time, h.operation, h.result, (h.commit or "-")[:12] + (" (dirty)" if h.dirty else ""),
             h.ref or "-", h.user or "-", _counts(h.counts)) for h in record.history]
    p.table(["revision", "time", "operation", "result", "commit", "ref", "user", "counts"], rows)
    for h in record.history:  # syncs with image overrides (docs/ci.md): a rollback needs them again
        if h.images:
            p.echo(f"revision {h.revision} synced with " + " ".join(f"--image {i}" for i in h.images))
    for name, parent, rec in result.children:  # a tree of apps (docs/apps.md)
        p.echo(f"\napp {name} (in {parent}):")
        p.table(["revision", "time", "operation", "result", "commit", "ref", "user", "counts"],
                [(h.revision, h.time, h.operation, h.result, (h.commit or "-")[:12], h.ref or "-", h.user or "-",
                  _counts(h.counts)) for h in rec.history])
    if not rows:
        p.info(f"app {result.app.name} has a record but no history yet")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
