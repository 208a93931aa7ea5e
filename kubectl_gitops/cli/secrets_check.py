"""`kubectl gitops secrets check`: the offline CI check that no secret is in plaintext, and its report."""

from __future__ import annotations

import click

from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import common_options
from kubectl_gitops.errors import ExitCode
from kubectl_gitops.ops import secrets as ops

CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.command("check", context_settings=CTX, short_help='CI check: no plaintext secrets, MACs, keys.')
@common_options
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--require-mac", is_flag=True, help="Fail when a MAC cannot be verified (no key available).")
@click.option("--config", "config_path", metavar="PATH", type=click.Path(dir_okay=False),
              help="The .sops.yaml to use (default: the nearest one above FILE).")
@click.option("-o", "--output", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@handle_errors
def command(paths: tuple[str, ...], require_mac: bool, config_path: str | None, output_format: str) -> int:
    """Check that no secret is in plaintext: for CI and pre-commit, offline.

    \b
    For each YAML/JSON file under PATHS (default: .):
      - a file matched by a .sops.yaml creation rule is encrypted, selected values are ENC[...],
        its recipients are the rule's, and its MAC verifies (when a key is available; without one
        the MAC is reported "not verified" and passes unless --require-mac);
      - no Secret carries plaintext data/stringData (Vault placeholders like <path:...> pass).
    Exit 0 when clean, 3 with the list of offending files.

    \b
    Examples:
      kubectl gitops secrets check
      kubectl gitops secrets check k8s/ --require-mac
      # .pre-commit-config.yaml: entry: kubectl-gitops secrets check, language: system, pass_filenames: true
    """
    from kubectl_gitops.secrets.check import check

    report = check(list(paths) or ["."], keyring=ops.keyring(), require_mac=require_mac, config=config_path)
    p = printer()
    if output_format == "json":
        p.json({"ok": report.ok, "checked": report.checked, "encrypted": report.encrypted,
                "problems": [{"file": f.path, "problem": f.problem} for f in report.problems],
                "notes": [{"file": f.path, "note": f.problem} for f in report.notes],
                "offendingFiles": report.offending_files})
    else:
        for note in report.notes:
            p.info(f"note: {note}")
        for finding in report.problems:
            p.echo(str(finding))
        summary = f"{report.checked} files checked, {len(report.encrypted)} encrypted"
        if report.ok:
            p.info(f"ok: {summary}")
        else:
            p.info(f"{len(report.offending_files)} offending file(s); {summary}")
    return 0 if report.ok else int(ExitCode.INVALID_INPUT)
