"""`kubectl gitops rollback REVISION|COMMIT`: sync the commit of an earlier revision, with every guard of sync.

The command is ``sync`` with one argument more: it takes sync's options (its ``click`` parameters, reused,
not copied), resolves REVISION|COMMIT in the app's history (``ops.history.resolve_rollback``), then runs
sync's own callback on that commit, with the revision's path and ``--image`` overrides.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import click

from kubectl_gitops.cli import sync as sync_cli
from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import CONTEXT, Command, get_settings
from kubectl_gitops.errors import UsageError

HELP = """Sync the commit of an earlier revision of the app (Argo CD's `app rollback`).

REVISION is a number from `kubectl gitops history`; its commit, path and --image
overrides are synced again. COMMIT is a commit (or a prefix of one a sync recorded,
or any ref git understands), synced with this command's path. Everything else is a
sync: validated and dry-run first, waves, health, ownership guards, the app's Lease,
--prune with its guards, --dry-run. The rollback is recorded as a new revision.

Refused (exit 6): a prune revision, a revision that applied uncommitted changes
(--allow-dirty: its content is not in Git). An unknown revision is exit 3.

\b
Examples:
  kubectl gitops history                       # find the revision that worked
  kubectl gitops rollback 7                    # sync its commit again
  kubectl gitops rollback 7 --dry-run          # what it would change, nothing written
  kubectl gitops rollback 1a2b3c4d --prune --yes  # a commit, and delete what it lacks
  kubectl gitops rollback 7 -o json            # JSON events, for CI

\b
Exit codes: as sync: 0 synced, 2 usage, 3 invalid input or unknown revision,
4 sync failed, 5 cluster error, 6 refused.
"""

# The revision names the content: no PATH argument, --ref or dirty tree; a rollback is one sync, not pull mode.
_NOT_TAKEN = ("dir", "dirs", "ref", "allow_dirty", "watch", "once", "interval", "drift_interval", "self_heal",
              "max_backoff",
              "metrics_addr")


@handle_errors
def _rollback(target: str, **kwargs: Any) -> int:
    from kubectl_gitops.ops.history import resolve_rollback

    settings = get_settings()
    p = printer()
    ctx = click.get_current_context()
    chosen = resolve_rollback(settings, target)
    path_given = bool(ctx.meta.get("kubectl_gitops.folder"))
    source = settings.source
    if chosen.path is not None:
        if path_given and source.path.strip("/") != chosen.path.strip("/"):
            raise UsageError(f"revision {target} synced path {chosen.path!r}, not {source.path!r}",
                             hint="drop the path: a revision brings its own")
        source = dataclasses.replace(source, path=chosen.path, images=source.images or chosen.images)
    settings.source = dataclasses.replace(source, ref=chosen.commit)
    e = chosen.entry
    if e is not None:
        p.info(f"rolling back app {chosen.app.name} to revision {e.revision}: commit {chosen.commit[:12]}"
               + (f" ({e.ref})" if e.ref else "") + f", path {e.path}, synced {e.time}"
               + (f" by {e.user}" if e.user else "") + (f", {e.result}" if e.result != "succeeded" else "")
               + (f", images {', '.join(e.images)}" if e.images else ""))
        if e.result != "succeeded":
            p.warn(f"revision {e.revision} did not succeed ({e.message or e.result})")
    else:
        p.info(f"rolling back app {chosen.app.name} to {chosen.commit} (not in its history: synced as given)")
    callback = sync_cli.command.callback
    assert callback is not None
    rv: int = callback(allow_dirty=False, **kwargs)
    return rv


command = Command(
    "rollback", context_settings=CONTEXT, callback=_rollback, help=HELP,
    short_help="Sync the commit of an earlier revision (argocd app rollback).",
    params=[click.Argument(["target"], metavar="REVISION|COMMIT"),
            *(p for p in sync_cli.command.params if p.name not in _NOT_TAKEN)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
