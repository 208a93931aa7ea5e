"""`kubectl gitops diff`: what a sync would change in the cluster, exactly and quietly."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile

import click

from kubectl_gitops.cli.apptree import tree_options
from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.ignore import ignore_option, load_rules
from kubectl_gitops.cli.options import (
    app_options,
    cluster_options,
    common_options,
    field_manager_option,
    get_settings,
    gitops_command,
    output_option,
    policy_options,
    source_options,
)
from kubectl_gitops.cli.output import object_name
from kubectl_gitops.cli.render_options import helm_set_options, image_options, jsonnet_options
from kubectl_gitops.errors import ExitCode, InvalidInputError
from kubectl_gitops.events import Event
from kubectl_gitops.source.appspec import AppsFound


def _external(cmd: str, changes: list) -> int:  # type: ignore[type-arg]
    """Run KUBECTL_EXTERNAL_DIFF like kubectl: `<cmd> LIVE_DIR MERGED_DIR`, masked files only."""
    from kubectl_gitops.cli.diff_view import write_external

    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-diff-") as tmp:
        live, merged = write_external(changes, tmp)
        try:
            proc = subprocess.run([*shlex.split(cmd), str(live), str(merged)], check=False)
        except OSError as e:
            raise InvalidInputError(f"KUBECTL_EXTERNAL_DIFF={cmd!r} cannot run: {e}",
                                    hint="set it to a diff program on PATH, e.g. 'diff -u -N'") from e
        return proc.returncode


@gitops_command("diff")
@common_options
@cluster_options
@source_options
@image_options
@helm_set_options
@jsonnet_options
@app_options
@tree_options
@policy_options
@output_option("diff", "json", "markdown", "patch", "table", "wide", "name", "yaml", default="diff")
@field_manager_option
@click.option("--summary", is_flag=True, help="A table of changed objects instead of the full diff.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Parallel server-side dry runs.")
@ignore_option
@click.option("--no-fast-path", is_flag=True, hidden=True,
              help="Dry-run every object, even those known to be unchanged (for debugging).")
@click.option("--show-unchanged", is_flag=True, help="List unchanged objects too (summary and table).")
@handle_errors
def command(summary: bool, concurrency: int, ignore_file: str | None, no_fast_path: bool,
            show_unchanged: bool) -> int:
    """Show what a sync would change in the cluster.

    Reads the repository (the work tree by default, uncommitted edits included;
    --ref for any branch, tag or commit), validates it, and compares it with the
    live cluster. The "after" side is the API server's own server-side apply dry
    run, so defaults, admission and conversions never show up as noise. Secret
    values are always masked.

    \b
    Examples:
      kubectl gitops diff                         # the current repository's work tree
      kubectl gitops diff examples/ --summary     # a table of what would change
      kubectl gitops diff --ref main -o markdown  # for a pull request comment
      kubectl gitops diff -l app=web -o name      # the names of the objects labelled app=web that differ
      kubectl gitops diff -k overlays/prod -o wide  # the summary table with each object's note
      kubectl gitops diff -o patch                # RFC 6902 JSON Patch per object
      kubectl gitops diff -o json | jq '.changes[] | select(.op != "unchanged")'
      KUBECTL_EXTERNAL_DIFF="colordiff -u" kubectl gitops diff
      kubectl gitops diff guestbook/ --jsonnet-libs vendor --jsonnet-ext-var-str env=prod  # .jsonnet files
      kubectl gitops diff --image app:1.4.2       # what deploying that image would change

    \b
    With a policy (--policy, --policy-namespace) its violations and the protected
    objects a sync would change are listed on stderr (and under "policy" in -o json).

    \b
    Exit codes: 0 no differences, 1 differences, 2 usage, 3 invalid input,
    5 cluster error, 6 the policy refuses the change (docs/policy.md).
    """
    from kubectl_gitops.cli import diff_view
    from kubectl_gitops.ops.common import CompareOptions
    from kubectl_gitops.ops.diff import run_diff

    settings = get_settings()
    p = printer()
    fmt = settings.output.format
    rules = load_rules(ignore_file)
    opts = CompareOptions(concurrency=concurrency, ignore_rules=rules, fast_path=not no_fast_path)

    def on_event(ev: Event) -> None:
        if ev.type == "warning":
            p.warn(ev.message)
        elif ev.type == "apps.mode":
            p.info(ev.message)
        else:
            p.debug(f"{ev.type}: {ev.message} {ev.data}")

    try:
        result = run_diff(settings, opts, on_event=on_event)
    except AppsFound as found:  # a tree of apps: a diff per app (docs/apps.md)
        from kubectl_gitops.cli.apptree import print_tree_diff, show_diff
        from kubectl_gitops.ops.apptree_run import run_tree_diff

        tree = run_tree_diff(settings, opts, apps=found.apps, on_event=on_event)
        if tree.root is not None:
            return print_tree_diff(p, tree, fmt=fmt, show=show_diff(p, fmt=fmt, summary=summary,
                                                                       show_unchanged=show_unchanged))
        result = tree.plain
    p.debug(f"{len(result.changes)} objects, {result.dry_runs} dry runs, {result.requests} requests; "
            + ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items()))
    changed = result.differences
    code = int(ExitCode.DIFFERENCES) if changed else 0
    from kubectl_gitops.cli.policy_view import show_verdict, verdict_json

    show_verdict(p, result.policy)
    if result.policy is not None and result.policy.violations:
        code = int(ExitCode.REFUSED)  # a pull request check fails before merge
    co = result.checkout
    shown = result.changes if show_unchanged else [c for c in result.changes if c.changed]

    # Diff bodies are masked by provenance and printed with masked=True (credentials redacted, secret values
    # not: see kubectl_gitops.redact); a secret's value in a field that is not from a secret is shown, and said.
    if not (summary or fmt == "table"):
        for c in result.changes:
            for w in c.warnings if c.changed or show_unchanged else ():
                p.warn(w)
    if fmt in ("json", "yaml"):
        doc = diff_view.to_json(result.changes, co.commit, co.dirty, co.ref)
        if result.policy is not None:
            doc["policy"] = verdict_json(result.policy)
        p.json(doc, masked=True) if fmt == "json" else p.yaml(doc, masked=True)
        return code
    if fmt == "patch":  # RFC 6902 per object, masked sides (cli/diff_patch.py)
        from kubectl_gitops.cli.diff_patch import to_patch

        p.json(to_patch(shown, co.commit, co.dirty, co.ref), masked=True)
        return code
    if fmt == "markdown":
        p.echo(diff_view.markdown(result.changes, co.commit), masked=True)
        return code
    if fmt == "name":  # kubectl's -o name: one object per line, for xargs
        for c in shown:
            p.echo(object_name(c.key))
        return code
    if co.dirty:
        p.info(f"note: reading {co.describe()}: uncommitted changes are included")
    if summary or fmt in ("table", "wide"):
        headers = ["op", "kind", "namespace/name", "source", "drift"]
        rows: list[tuple[str, ...]] = list(diff_view.summary_rows(shown))
        if fmt == "wide":
            headers.append("note")
            rows = [(*row, c.note or "-") for row, c in zip(rows, shown, strict=True)]
        p.table(headers, rows)
        counts = diff_view.counts(result.changes)  # IgnoreExtraneous deletions apart: they are not differences
        p.info(", ".join(f"{n} {op}" if op in ("unchanged", "ignored") else f"{n} to {op}"
                         for op, n in counts.items() if n) or "no objects")
        return code
    external = os.environ.get("KUBECTL_EXTERNAL_DIFF")
    if external:
        rc = _external(external, shown)
        return code if rc in (0, 1) else int(ExitCode.OPERATION_FAILED)
    color = p.color_on(p.out)
    for c in shown:
        p.echo(diff_view.unified(c, color=color), masked=True)
    for c in result.changes:
        if not c.changed and c.note:  # e.g. being deleted: no difference, but worth knowing before a sync
            p.info(f"note: {c.key}: {c.note}")
    if not changed:
        p.info(f"no differences ({len(result.changes)} objects, {co.describe()})")
    return code
