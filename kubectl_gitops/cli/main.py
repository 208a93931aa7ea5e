"""Entry points: ``kubectl-gitops`` (dispatches every subcommand; the one binary krew links) and
``kubectl-gitops-<cmd>`` (one command each, found by kubectl as ``kubectl gitops <cmd>`` too).

Subcommands are imported only when they run, so ``kubectl gitops --help`` starts without loading
the Kubernetes client.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from kubectl_gitops.errors import ExitCode

# name -> (module, one-line help shown by --help without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "diff": ("kubectl_gitops.cli.diff", "Show what a sync would change in the cluster."),
    "sync": ("kubectl_gitops.cli.sync", "Apply the repository in Argo CD phases and waves, waiting for health."),
    "prune": ("kubectl_gitops.cli.prune", "Delete objects of the app that were removed from Git."),
    "waves": ("kubectl_gitops.cli.waves", "Show the ordered sync plan, offline."),
    "secrets": ("kubectl_gitops.cli.secrets", "Encrypt, check and seal secrets (sops-compatible)."),
    "history": ("kubectl_gitops.cli.history", "List the recorded syncs of an app."),
    "image": ("kubectl_gitops.cli.image", "Set an image in the repository (CI write-back), commit and push."),
    "promote": ("kubectl_gitops.cli.promote", "Copy image references from one environment to the next."),
    "policy": ("kubectl_gitops.cli.policy", "Check the cluster's policy for apps (where, what, as whom)."),
    "delete": ("kubectl_gitops.cli.delete", "Delete a whole app: its objects in reverse order, then its record."),
    "manifests": ("kubectl_gitops.cli.manifests", "Print the rendered objects, secrets masked (argocd app manifests)."),
    "rollback": ("kubectl_gitops.cli.rollback", "Sync the commit of an earlier revision (argocd app rollback)."),
    "status": ("kubectl_gitops.cli.status", "Show an app's status: phase, health, commits, drift."),
    "list": ("kubectl_gitops.cli.status:list_command", "List the apps of a namespace or the cluster."),
    "suspend": ("kubectl_gitops.cli.status:suspend_command", "Stop sync --watch from syncing an app."),
    "resume": ("kubectl_gitops.cli.status:resume_command", "Let sync --watch sync a suspended app again."),
    "agent": ("kubectl_gitops.cli.agent", "The in-cluster agent: sync --watch in a Deployment, least-privilege RBAC."),
    "version": ("kubectl_gitops.cli.version", "Print version and build information."),
    "completion": ("kubectl_gitops.cli.completion", "Print a shell completion script."),
}

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from kubectl_gitops.version import version_line

    click.echo(version_line())
    ctx.exit(0)


version_option = click.option("--version", is_flag=True, expose_value=False, is_eager=True,
                              callback=_version, help="Print the version and exit.")


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if ctx.resilient_parsing or _listing_help(ctx):
            return click.Command(cmd_name, help=COMMANDS[cmd_name][1], short_help=COMMANDS[cmd_name][1])
        return load(cmd_name)


def _listing_help(ctx: click.Context) -> bool:
    # While the group's own --help is formatted, show one-liners without importing every command.
    return bool(ctx.meta.get("kubectl_gitops.formatting_help"))


class Group(LazyGroup):
    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        ctx.meta["kubectl_gitops.formatting_help"] = True
        try:
            super().format_help(ctx, formatter)
        finally:
            ctx.meta.pop("kubectl_gitops.formatting_help", None)


def load(name: str) -> click.Command:
    module_name, _, attr = COMMANDS[name][0].partition(":")  # "module" (its `command`) or "module:attribute"
    cmd: click.Command = getattr(importlib.import_module(module_name), attr or "command")
    return cmd


@click.group(cls=Group, context_settings=CONTEXT_SETTINGS)
@version_option
def cli() -> None:
    """Push-based GitOps from your laptop, CI or a runbook: no server in the cluster.

    \b
    Reads Kubernetes manifests from a Git repository (plain YAML, kustomize, Helm),
    compares them with the live cluster, applies them in Argo CD phases and sync waves,
    prunes what left Git, and never prints a secret.

    \b
    Examples:
      kubectl gitops waves --path examples/         # the ordered plan, offline
      kubectl gitops diff --path examples/          # what would change (exit 1 if anything)
      kubectl gitops sync --path examples/          # apply wave by wave, wait for health
      kubectl gitops prune --path examples/ --yes   # delete what was removed from Git

    \b
    Exit codes: 0 ok/no differences, 1 differences (diff), 2 usage, 3 invalid input,
    4 operation failed, 5 cluster error, 6 refused by a safety guard, 130 interrupted.
    """


def _run(command: click.Command, prog_name: str, args: list[str] | None = None) -> int:
    from kubectl_gitops.redact import redact

    try:
        rv: Any = command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.UsageError as e:
        e.show()
        return int(ExitCode.USAGE)
    except click.ClickException as e:
        click.echo(redact(f"error: {e.format_message()}"), err=True)
        return int(ExitCode.USAGE)
    except click.Abort:
        click.echo("interrupted", err=True)
        return int(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # `kubectl gitops diff | head`: the reader left; stop quietly like other CLIs do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return int(rv) if isinstance(rv, int) else 0


def main(args: list[str] | None = None) -> int:
    instruction = os.environ.get("_KUBECTL_GITOPS_COMPLETE")
    if instruction:  # a script from `kubectl gitops completion SHELL` asks for candidates
        from kubectl_gitops.cli.completion import shell_complete_from_env

        return shell_complete_from_env(instruction)
    return _run(cli, "kubectl gitops", args)


def _single(name: str):  # type: ignore[no-untyped-def]
    def entry(args: list[str] | None = None) -> int:
        cmd = load(name)
        if not any(p.name == "version" for p in cmd.params):
            cmd.params.append(version_option(click.Command("x")).params[0])
        return _run(cmd, f"kubectl gitops {name}", args)

    entry.__name__ = f"{name}_main"
    return entry


diff_main = _single("diff")
sync_main = _single("sync")
prune_main = _single("prune")
waves_main = _single("waves")
secrets_main = _single("secrets")
