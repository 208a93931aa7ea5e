"""Shell completion: ``kubectl gitops completion bash|zsh|fish`` and ``kubectl_complete-gitops``.

Two doors, one completer (``complete``), built on click's shell-completion machinery:

* ``kubectl gitops <TAB>`` is completed by kubectl itself (kubectl >= 1.26, with kubectl's own completion
  loaded). For a plugin it runs ``kubectl_complete-gitops ARG... WORD`` found on PATH — the words after
  ``kubectl gitops``, the last one being the word under the cursor, ``""`` for a new word — and reads
  one candidate per line (``value<TAB>description``), then cobra's directive line, e.g. ``:4``
  (no file completion). That executable is bin/kubectl_complete-gitops in a checkout, a console script
  after pip install, or a symlink to the krew-installed ``kubectl-gitops`` (which recognises the name).
  A leading ``__complete`` argument (the cobra convention ``kubectl-gitops __complete ...``) is accepted
  and ignored.

* ``source <(kubectl gitops completion bash)`` completes ``kubectl-gitops <TAB>`` typed directly. The
  script is click's; it calls ``kubectl-gitops`` with ``_KUBECTL_GITOPS_COMPLETE=bash_complete`` and the
  entry point hands that to ``shell_complete_from_env``.

Example (what kubectl runs for ``kubectl gitops sy<TAB>``)::

    $ kubectl_complete-gitops sy
    sync	Apply the repository in Argo CD phases and waves, waiting for health.
    :4

Subcommand names come from the COMMANDS table without importing the commands (fast); a command's
flags are completed by loading that one command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click
from click.shell_completion import BashComplete, CompletionItem, FishComplete, ShellComplete, ZshComplete

from kubectl_gitops.cli.main import COMMANDS, CONTEXT_SETTINGS, Group, cli, load

COMPLETE_VAR = "_KUBECTL_GITOPS_COMPLETE"
PROG_NAME = "kubectl-gitops"

# cobra's ShellCompDirective bits (spf13/cobra completions.go), as kubectl reads them
DIRECTIVE_DEFAULT = 0  # let the shell complete file names when there is no candidate
DIRECTIVE_ERROR = 1
DIRECTIVE_NO_SPACE = 2
DIRECTIVE_NO_FILE_COMP = 4
DIRECTIVE_FILTER_DIRS = 16


class CompletionGroup(Group):
    """The root group as completion sees it: real subcommands (so their flags complete), cheap names."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load(cmd_name) if cmd_name in COMMANDS else None

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        items = [CompletionItem(name, help=COMMANDS[name][1]) for name in COMMANDS if name.startswith(incomplete)]
        items.extend(click.Command.shell_complete(self, ctx, incomplete))  # the group's own flags
        return items


def completion_root() -> click.Group:
    return CompletionGroup(name="kubectl gitops", params=list(cli.params), help=cli.help,
                           context_settings=dict(CONTEXT_SETTINGS))


def complete(args: Sequence[str], incomplete: str) -> list[CompletionItem]:
    """Candidates for ``incomplete`` after the complete words ``args`` (both without ``kubectl gitops``).

    An item of type "file" or "dir" asks the shell to complete paths itself (its value is ``incomplete``).
    """
    from click.shell_completion import _resolve_context, _resolve_incomplete

    args = list(args)
    root = completion_root()
    try:
        ctx = _resolve_context(root, {}, "kubectl gitops", args)
        obj, incomplete = _resolve_incomplete(ctx, args, incomplete)
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        return []
    if isinstance(ctx.command, CompletionGroup) and any(not a.startswith("-") for a in args):
        return []  # `kubectl gitops frobnicate <TAB>`: not a command, nothing to offer
    if isinstance(obj, click.Option) and obj.name == "context":
        return [CompletionItem(c) for c in kubeconfig_contexts(args) if c.startswith(incomplete)]
    items = obj.shell_complete(ctx, incomplete)
    if not items and isinstance(obj, click.Parameter) and not incomplete.startswith("-"):
        is_path_like = isinstance(obj, click.Argument) or (obj.metavar or "").split("|")[0] in {"PATH", "DIR", "FILE"}
        if is_path_like:
            items = [CompletionItem(incomplete, type="file")]
    return items


def app_names(ctx: click.Context) -> list[str]:
    """APP candidates: the apps with a record in --record-namespace (else -n, else the context's namespace),
    from one quick LIST (3 s, no retries); nothing when the cluster cannot be asked."""
    from kubectl_gitops.ops.history import app_names as recorded
    from kubectl_gitops.settings import Settings

    return recorded(ctx.ensure_object(Settings))


def resource_candidates(ctx: click.Context, incomplete: str) -> list[str]:
    """``--resource`` candidates, GROUP:KIND:NAMESPACE/NAME, from the repository rendered offline (as ``waves``
    does: work tree, nothing sent to a cluster); nothing when it cannot be rendered."""
    import dataclasses

    from kubectl_gitops.ops.waves import run_waves
    from kubectl_gitops.settings import Settings

    settings = ctx.ensure_object(Settings)
    try:
        plan = run_waves(dataclasses.replace(settings, source=dataclasses.replace(settings.source, resources=()))).plan
    except Exception:
        return []
    keys = [s.key for s in plan.steps if s.name]
    texts = [f"{k.group}:{k.kind}:" + (f"{k.namespace}/{k.name}" if k.namespace else k.name) for k in keys]
    return [t for t in dict.fromkeys(texts) if t.startswith(incomplete)]


def kubeconfig_contexts(args: Sequence[str]) -> list[str]:
    """Context names from ``--kubeconfig`` on the command line, else $KUBECONFIG, else ~/.kube/config."""
    import yaml

    paths: list[str] = []
    for i, a in enumerate(args):
        if a == "--kubeconfig" and i + 1 < len(args):
            paths = [args[i + 1]]
        elif a.startswith("--kubeconfig="):
            paths = [a.split("=", 1)[1]]
    if not paths:
        env = os.environ.get("KUBECONFIG")
        paths = [p for p in env.split(os.pathsep) if p] if env else [os.path.join("~", ".kube", "config")]
    names: list[str] = []
    for p in paths:
        try:
            with open(os.path.expanduser(p), encoding="utf-8") as f:
                doc = yaml.safe_load(f)
        except (OSError, yaml.YAMLError):
            continue
        for c in (doc or {}).get("contexts") or []:
            name = c.get("name") if isinstance(c, dict) else None
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def cobra_format(items: Sequence[CompletionItem]) -> str:
    """kubectl's plugin completion protocol: candidates (``value<TAB>help``) then ``:<directive>``."""
    lines: list[str] = []
    directive = DIRECTIVE_NO_FILE_COMP
    for item in items:
        if item.type == "file":
            directive = DIRECTIVE_DEFAULT
        elif item.type == "dir":
            directive = DIRECTIVE_FILTER_DIRS
        else:
            help_text = " ".join(str(item.help or "").split())
            lines.append(f"{item.value}\t{help_text}" if help_text else str(item.value))
    lines.append(f":{directive}")
    return "\n".join(lines) + "\n"


def kubectl_complete_main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Entry point of ``kubectl_complete-gitops``: ``kubectl_complete-gitops [__complete] ARG... WORD``.

    Called as ``kubectl_complete-gitops-<cmd>`` it completes ``kubectl gitops <cmd> ...``: kubectl asks
    that name when a ``kubectl-gitops-<cmd>`` executable is on PATH (checkout, pip install).
    """
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] == "__complete":
        words = words[1:]
    name = os.path.basename(sys.argv[0] if prog is None else prog)
    for suffix in (".exe", ".py"):  # pip's launchers on Windows
        name = name.removesuffix(suffix)
    stem = "kubectl_complete-gitops-"
    if name.startswith(stem) and name[len(stem):] in COMMANDS:
        words.insert(0, name[len(stem):])
    incomplete = words.pop() if words else ""
    try:
        text = cobra_format(complete(words, incomplete))
    except Exception:  # completion must never print a traceback into the user's prompt
        text = f":{DIRECTIVE_ERROR}\n"
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


class _Ours(ShellComplete):
    def get_completions(self, args: list[str], incomplete: str) -> list[CompletionItem]:
        return complete(args, incomplete)


class _Bash(_Ours, BashComplete):
    pass


class _Zsh(_Ours, ZshComplete):
    pass


class _Fish(_Ours, FishComplete):
    pass


SHELLS: dict[str, type[ShellComplete]] = {"bash": _Bash, "zsh": _Zsh, "fish": _Fish}


def _shell_class(shell: str) -> type[ShellComplete]:
    return SHELLS[shell]


def script(shell: str) -> str:
    """The completion script for ``shell`` (click's), completing ``kubectl-gitops`` typed directly."""
    comp = _shell_class(shell)(completion_root(), {}, PROG_NAME, COMPLETE_VAR)
    return comp.source()


def shell_complete_from_env(instruction: str) -> int:
    """Answer a completion request of a script made by ``script``: ``$_KUBECTL_GITOPS_COMPLETE`` is
    ``<shell>_complete`` (or ``<shell>_source``)."""
    shell, _, action = instruction.partition("_")
    if shell not in SHELLS or action not in {"complete", "source"}:
        return 1
    comp = _shell_class(shell)(completion_root(), {}, PROG_NAME, COMPLETE_VAR)
    try:
        out = comp.source() if action == "source" else comp.complete()
    except Exception:
        return 1
    sys.stdout.write(out if out.endswith("\n") or not out else out + "\n")
    sys.stdout.flush()
    return 0


@click.command("completion", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("shell", type=click.Choice(sorted(SHELLS)))
def command(shell: str) -> int:
    """Print a completion script for SHELL (bash, zsh or fish).

    The script completes `kubectl-gitops ...` typed directly. `kubectl gitops <TAB>` is completed by
    kubectl itself (1.26 or newer, with `kubectl completion` loaded) through the `kubectl_complete-gitops`
    executable on PATH; see docs/install.md.

    \b
    Examples:
      source <(kubectl gitops completion bash)                                # bash, this shell
      kubectl gitops completion zsh > "${fpath[1]}/_kubectl-gitops"           # zsh
      kubectl gitops completion fish > ~/.config/fish/completions/kubectl-gitops.fish
      ln -s "$(command -v kubectl-gitops)" "$(dirname "$(command -v kubectl-gitops)")/kubectl_complete-gitops"
    """
    click.echo(script(shell), nl=False)
    return 0
