"""`kubectl gitops image set`: write an image reference back into the repository (commit, push)."""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Any

import click

from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import common_options, get_settings, output_option

CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def file_diff(edit: Any, root: Path) -> str:
    rel = os.path.relpath(edit.path, root)
    return "".join(difflib.unified_diff(edit.old.splitlines(keepends=True), edit.new.splitlines(keepends=True),
                                        f"a/{rel}", f"b/{rel}"))


def show_result(result: Any, *, dry_run: bool, what: str) -> int:
    """Print what a write-back did (or would do): the files' diffs, then one line; JSON with -o json."""
    p = printer()
    repo = result.root
    if get_settings().output.format == "json":
        p.json({"changed": result.changed, "where": result.where, "path": result.folder,
                "changes": result.summary, "files": [os.path.relpath(e.path, repo) for e in result.edits if e.changed],
                "commit": result.commit, "pushed": result.pushed, "attempts": result.attempts, "dryRun": dry_run})
        return 0
    for e in result.edits:
        if e.changed:
            p.echo(file_diff(e, repo).rstrip("\n"))
    if not result.changed:
        p.info(f"{what}: nothing to change in {result.folder} ({result.where}): the repository already says so")
        return 0
    verb = "would set" if dry_run else "set"
    for line in result.summary:
        p.info(f"{verb} {line} ({result.where} in {result.folder})")
    if result.commit:
        p.info(f"committed {result.commit[:12]}" + (f", pushed (attempt {result.attempts})" if result.pushed else ""))
    elif result.pushed:
        p.info("the remote already has this change: nothing pushed")
    return 0


def git_flags(f: Any) -> Any:
    for deco in reversed([
        click.option("--repo", default=".", metavar="DIR", show_default=True,
                     help="A local clone of the GitOps repository (or a folder inside it)."),
        click.option("--commit", is_flag=True, help="Commit the edited files (only those)."),
        click.option("--push", is_flag=True, help="Commit and push to the branch's upstream; a non-fast-forward "
                     "is retried (fetch, edit again on top, commit, push), at most 5 times."),
        click.option("--allow-dirty", is_flag=True, help="Edit even with uncommitted changes in the work tree."),
        click.option("--dry-run", is_flag=True, help="Show the change, write nothing."),
        click.option("-m", "--message", metavar="TEXT", help="Commit message (default: what, from, to)."),
    ]):
        f = deco(f)
    return f


@click.group("image", context_settings=CTX)
def command() -> None:
    """Edit image references in the GitOps repository (CI write-back).

    \b
    Examples:
      kubectl gitops image set app=registry/app:1.4.2 --path overlays/dev --push
      kubectl gitops image set --help              # kustomization, Helm values or plain manifests
    """


@command.command("set", context_settings=CTX, short_help="Set an image in the repository; commit and push.")
@common_options
@output_option("text", "json", default="text")
@click.argument("images", nargs=-1, required=True, metavar="NAME=REF...")
@click.option("--path", default=".", metavar="DIR", show_default=True,
              help="The app's folder, relative to --repo.")
@click.option("--helm-value", "helm_values", multiple=True, metavar="KEY[=PART]",
              help="Set this dotted key of the chart's values file instead: PART is tag (default), digest, name "
                   "or ref (repeatable: image.repository=name --helm-value image.tag).")
@click.option("--values-file", metavar="FILE", help="The values file for --helm-value, relative to --path "
              "(default: values.yaml).")
@git_flags
@handle_errors
def set_command(images: tuple[str, ...], path: str, helm_values: tuple[str, ...], values_file: str | None,
                repo: str, commit: bool, push: bool, allow_dirty: bool, dry_run: bool, message: str | None) -> int:
    """Set NAME's image in the repository the way a person would, keeping every
    other byte of the files.

    \b
    Where: with --helm-value, that key of the chart's values file; else, when the
    folder has a kustomization, its images: entry for NAME (kustomize edit set
    image, but a new tag keeps the entry's newName); else every reference to NAME in
    the folder's manifests (containers, initContainers, ephemeralContainers).
    NAME=REF is --image's syntax: NAME=NEWNAME:TAG, NAME:TAG, NAME@sha256:DIGEST.
    Setting what is already there changes nothing (exit 0, no commit).

    Refuses a work tree with uncommitted changes unless --allow-dirty (exit 6).
    The commit message says what changed, from what, to what.

    \b
    Examples:
      kubectl gitops image set app=registry/app:1.4.2 --path overlays/dev --push
      kubectl gitops image set app:1.4.2 --path chart --helm-value image.tag --commit
      kubectl gitops image set nginx:1.27.1 --path plain/ --dry-run

    \b
    Exit codes: 0 set (or nothing to change), 2 usage, 3 invalid input (no such
    image or key, unreadable file), 4 git failed (push rejected 5 times), 6 refused
    (dirty work tree, detached HEAD).
    """
    from kubectl_gitops.ops.image import WriteTarget, parse_helm_value, run_write
    from kubectl_gitops.source.images import parse_override

    overrides = [parse_override(i, flag="NAME=REF") for i in images]  # UsageError: exit 2
    keys = tuple(parse_helm_value(h) for h in helm_values)
    target = WriteTarget(Path(repo), path, keys, values_file, commit=commit or push, push=push,
                         allow_dirty=allow_dirty, dry_run=dry_run, message=message)
    result = run_write(target, overrides)
    return show_result(result, dry_run=dry_run, what="image set")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
