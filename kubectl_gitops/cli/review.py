"""`sync --diff-changes` / `-c` (kapp's habit): the changes a sync makes, shown before the first write, then a
question on a terminal; ``--yes`` applies without asking; without a terminal and without ``--yes`` the sync is
refused (exit 6) and nothing is changed.

The diff goes to stderr, masked as ``diff`` masks it, so that stdout keeps the command's own output (``-o
json`` stays one JSON event per line).
"""

from __future__ import annotations

from kubectl_gitops.cli.output import Printer
from kubectl_gitops.engine.diff import Change
from kubectl_gitops.engine.prune_plan import PruneReport
from kubectl_gitops.errors import RefusedError
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.ops.sync import ReviewChanges


def make_review_changes(p: Printer, *, yes: bool, what: str = "sync") -> ReviewChanges:
    import click

    from kubectl_gitops.cli.diff_view import unified
    from kubectl_gitops.cli.prune import interactive

    def review(changes: list[Change], hooks: set[ResourceKey], prune: PruneReport | None, ask: bool) -> None:
        changed = [c for c in changes if c.changed and c.key not in hooks and not c.ignored_extraneous]
        deletions = prune.selection.approved(False) if prune is not None else []
        ran = sorted(hooks)
        color = p.color_on(p.err)
        for c in changed:
            p.echo(unified(c, color=color), err=True, masked=True)
        for d in deletions:
            p.info(p.style(f"--- delete {d.key}" + (f" ({d.note})" if d.note else ""), "red", p.err))
        counts: dict[str, int] = {}
        for c in changed:
            counts[c.op.value] = counts.get(c.op.value, 0) + 1
        parts = [f"{n} to {op}" for op, n in sorted(counts.items())]
        if deletions:
            parts.append(f"{len(deletions)} to prune")
        if ran:
            parts.append(f"{len(ran)} hook(s) to run")
        p.info(p.style(f"{what}: " + (", ".join(parts) or "no changes"), "bold", p.err))
        if not ask or not (changed or deletions or ran) or yes:
            return
        if not interactive():
            raise RefusedError(f"{what} --diff-changes shows the changes and asks before applying them, and there is "
                               "no terminal to ask; nothing was changed",
                               hint="review the changes above, then pass --yes (or run it in a terminal)")
        if not click.confirm("Apply these changes?", default=False, err=True):
            raise RefusedError(f"{what} was not confirmed; nothing was changed")

    return review
