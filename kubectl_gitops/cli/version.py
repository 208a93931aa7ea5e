"""`kubectl gitops version`: plugin version, git commit, Python and dependency versions."""

from __future__ import annotations

import click

from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import common_options, get_settings, output_option
from kubectl_gitops.version import version_info


@click.command("version", context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@output_option("table", "json", "yaml")
@handle_errors
def command() -> int:
    """Print the plugin version, the commit it was built from, Python and dependency versions.

    \b
    Examples:
      kubectl gitops version
      kubectl gitops version -o json
    """
    info = version_info()
    p, fmt = printer(), get_settings().output.format
    if fmt == "json":
        p.json(info)
    elif fmt == "yaml":
        p.yaml(info)
    else:
        p.echo(f"kubectl-gitops {info['version']}" + (f" (commit {info['commit']})" if info["commit"] else ""))
        p.echo(f"python {info['python']} on {info['platform']}")
        deps = info["dependencies"]
        assert isinstance(deps, dict)
        for name, v in deps.items():
            p.echo(f"  {name} {v or 'not installed'}")
    return 0
