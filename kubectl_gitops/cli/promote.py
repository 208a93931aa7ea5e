"""`kubectl gitops promote`: copy image references from one environment folder (or branch) to the next."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kubectl_gitops.cli.base import handle_errors
from kubectl_gitops.cli.image import CTX, git_flags, show_result
from kubectl_gitops.cli.options import common_options, output_option


@click.command("promote", context_settings=CTX)
@common_options
@output_option("text", "json", default="text")
@click.option("--from", "from_path", required=True, metavar="DIR", help="The environment to promote from.")
@click.option("--to", "to_path", required=True, metavar="DIR", help="The environment to promote to.")
@click.option("--image", "images", multiple=True, metavar="NAME",
              help="Only this image (repeatable; default: every image of --from).")
@click.option("--from-ref", metavar="REF", help="Read --from at this branch, tag or commit (branch environments).")
@click.option("--to-ref", metavar="BRANCH", help="Edit --to on this branch, in a temporary worktree (implies "
              "--commit; your checkout is not switched).")
@git_flags
@handle_errors
def command(from_path: str, to_path: str, images: tuple[str, ...], from_ref: str | None, to_ref: str | None,
            repo: str, commit: bool, push: bool, allow_dirty: bool, dry_run: bool, message: str | None) -> int:
    """Copy image references, and nothing else, from one environment to another;
    show the diff; commit (and push).

    The images of --from are its kustomization's images: entries, or else the image
    references of its manifests. --to gets the same entries (kustomization) or its
    references of those names rewritten (manifests); replicas, patches and
    everything else stay the target environment's own. Promoting what is already
    there changes nothing.

    \b
    Examples:
      kubectl gitops promote --from overlays/staging --to overlays/prod --dry-run
      kubectl gitops promote --from overlays/staging --to overlays/prod --image app --push
      kubectl gitops promote --from deploy --from-ref staging --to deploy --to-ref prod --push

    \b
    Exit codes: 0 promoted (or nothing to change), 2 usage, 3 invalid input (no
    such image or folder), 4 git failed, 6 refused (dirty work tree).
    """
    from kubectl_gitops.ops.image import WriteTarget
    from kubectl_gitops.ops.promote import PromoteRequest, run_promote

    target = WriteTarget(Path(repo), to_path, commit=commit or push, push=push, allow_dirty=allow_dirty,
                         dry_run=dry_run, message=message)
    result, _ = run_promote(PromoteRequest(target, from_path, images, from_ref, to_ref))
    return show_result(result, dry_run=dry_run, what="promote")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
