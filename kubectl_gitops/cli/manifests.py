"""`kubectl gitops manifests`: the rendered objects (Argo CD's `app manifests`), secrets masked.

``--show-secrets`` prints them unmasked, but only to a terminal (stdin and stdout) and after a confirmation
that ``--yes`` does not skip: a secret must not end up in a CI log or a file by a habit.
"""

from __future__ import annotations

import sys

import click

from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import (
    cluster_options,
    common_options,
    get_settings,
    gitops_command,
    output_option,
    source_options,
)
from kubectl_gitops.cli.output import object_name
from kubectl_gitops.cli.render_options import helm_set_options, image_options, jsonnet_options
from kubectl_gitops.errors import RefusedError


def _terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@gitops_command("manifests")
@common_options
@cluster_options
@source_options
@image_options
@helm_set_options
@jsonnet_options
@output_option("yaml", "json", "name", default="yaml")
@click.option("--committed", is_flag=True, help="Read --ref or HEAD, as sync does, instead of the work tree.")
@click.option("--show-secrets", is_flag=True,
              help="Print secret values unmasked: only on a terminal, after a confirmation.")
@handle_errors
def command(committed: bool, show_secrets: bool) -> int:
    """Print the rendered objects: what a sync would apply, after kustomize, Helm,
    --image and sops decryption, one YAML document per object (or a JSON list).

    Secret values are masked (***): Secret data and stringData, the last-applied
    annotation, and every field whose value came from a sops file, in any kind.
    Vault placeholders are shown as written. --show-secrets prints them in plain text,
    resolving placeholders too, but only when stdin and stdout are a terminal and
    you confirm; anything else is refused (exit 6).

    Reads the work tree by default, like diff and waves (--ref for any revision,
    --committed for what sync reads); nothing is sent to a cluster.

    \b
    Examples:
      kubectl gitops manifests deploy/                 # all objects, YAML
      kubectl gitops manifests -k overlays/prod -l app=web
      kubectl gitops manifests --ref v1.4.0 -o json | jq '.[].metadata.name'
      kubectl gitops manifests -o name                 # deployment.apps/web, ...
      kubectl gitops manifests --show-secrets          # on a terminal, asks first

    \b
    Exit codes: 0 printed, 2 usage, 3 invalid input, 6 refused (--show-secrets without
    a terminal, or not confirmed).
    """
    from kubectl_gitops.ops.manifests import run_manifests

    settings = get_settings()
    p = printer()
    if show_secrets:
        if not _terminal():
            raise RefusedError("--show-secrets prints secret values in plain text: only to a terminal, never into "
                               "a pipe, a file or a CI log; nothing was printed",
                               hint="run it in a terminal, or drop --show-secrets (values are masked)")
        if not click.confirm("Print secret values in plain text on this terminal?", default=False, err=True):
            raise RefusedError("--show-secrets was not confirmed; nothing was printed")
    result = run_manifests(settings, committed_only=committed, reveal=show_secrets)
    for w in result.warnings:
        p.warn(w)
    fmt = settings.output.format
    if fmt == "name":
        for m in result.manifests:
            p.echo(object_name(m.key))
        return 0
    if show_secrets:  # printed as is: the printer's redaction would mask the values asked for
        import json

        import yaml

        text = (json.dumps(result.objects, indent=2) if fmt == "json"
                else yaml.safe_dump_all(result.objects, sort_keys=False).rstrip("\n"))
        p.out.write(text + "\n")
        p.out.flush()
    elif fmt == "json":
        p.json(result.objects, masked=True)
    else:
        p.yaml(result.objects, masked=True)
    p.info(f"{len(result.objects)} object(s) from {result.checkout.describe()}"
           + (f", {result.masked} with masked secret values" if result.masked and not show_secrets else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
