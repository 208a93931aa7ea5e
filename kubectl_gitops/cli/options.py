"""Shared kubectl-style options as decorators.

Each option stores its value on the invocation's ``Settings`` (``get_settings()``) instead of being
passed to the command function, so commands stay short and every command spells a flag the same way.
Precedence: flag, then environment (``KUBECTL_GITOPS_<NAME>`` or the kubectl variable), then default.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kubectl_gitops.settings import ClusterOptions, OutputOptions, Settings, SourceOptions, parse_duration

F = TypeVar("F", bound=Callable[..., Any])


def get_settings() -> Settings:
    ctx = click.get_current_context()
    return ctx.ensure_object(Settings)


def _setter(section: str, attr: str, convert: Callable[[Any], Any] | None = None) -> Callable[..., Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        s = ctx.ensure_object(Settings)
        if value is None or value == () or (param.multiple and not value):
            return value
        if convert is not None:
            value = convert(value)
        setattr(s, section, dataclasses.replace(getattr(s, section), **{attr: value}))
        return value

    return callback


def _timeout(value: str) -> float | None:
    try:
        seconds = parse_duration(value, flag="--request-timeout")
    except Exception as e:  # turned into click's usage error (exit 2)
        raise click.BadParameter(str(e)) from e
    return seconds or None


def _comma_list(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.strip() for v in values for part in v.split(",") if part.strip())


def _opt(*decls: str, section: str, attr: str, convert: Callable[[Any], Any] | None = None,
         **kw: Any) -> Callable[[F], F]:
    return click.option(*decls, expose_value=False, is_eager=False,
                        callback=_setter(section, attr, convert), **kw)


def compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


def _color_default() -> bool:
    return "NO_COLOR" not in os.environ


def _verbose(ctx: click.Context, param: click.Parameter, value: int) -> int:
    s = ctx.ensure_object(Settings)
    s.output = dataclasses.replace(s.output, verbose=value)
    return value


def _no_color(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    s = ctx.ensure_object(Settings)
    if value or ("NO_COLOR" in os.environ and not s.output.color_always):
        s.output = dataclasses.replace(s.output, color=False, color_always=False)
    return value


def _color(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """kubectl's and git's --color: auto (a terminal only), always (pipes too: `| less -R`), never.
    An explicit --color=always wins over NO_COLOR, as no-color.org asks of command-line flags."""
    s = ctx.ensure_object(Settings)
    if value == "always":
        s.output = dataclasses.replace(s.output, color=True, color_always=True)
    elif value == "never":
        s.output = dataclasses.replace(s.output, color=False, color_always=False)
    return value


common_options = compose(
    click.option("-v", "--verbose", count=True, expose_value=False, callback=_verbose,
                 help="More detail: -v shows decisions and tracebacks, -vv API calls."),
    click.option("--color", type=click.Choice(["auto", "always", "never"]), default=None, expose_value=False,
                 callback=_color, metavar="auto|always|never",
                 help="Colours: auto (on a terminal; default), always (also into a pipe, e.g. `| less -R`), never."),
    click.option("--no-color", is_flag=True, expose_value=False, callback=_no_color,
                 help="Plain output without colours, like --color=never (also NO_COLOR=1)."),
)

cluster_options = compose(
    _opt("--kubeconfig", section="cluster", attr="kubeconfig", metavar="PATH",
         help="Path to the kubeconfig file (default: $KUBECONFIG, which may list several, or ~/.kube/config)."),
    _opt("--context", section="cluster", attr="context", metavar="NAME",
         help="The kubeconfig context to use (default: current-context)."),
    _opt("-n", "--namespace", section="cluster", attr="namespace", metavar="NS",
         help="Namespace for namespaced objects that name none (default: the context's namespace)."),
    _opt("--request-timeout", section="cluster", attr="request_timeout", convert=_timeout,
         metavar="DURATION", help="Timeout of a single API request, e.g. 30s, 1m (0 = none)."),
    _opt("--as", "as_user", section="cluster", attr="as_user", metavar="USER",
         help="Act as this user for every request (Impersonate-User), e.g. system:serviceaccount:NS:NAME."),
    _opt("--as-group", "as_groups", section="cluster", attr="as_groups", multiple=True, convert=tuple,
         metavar="GROUP", help="Act with this group too (repeatable; needs --as)."),
    _opt("--as-uid", section="cluster", attr="as_uid", metavar="UID", help="Act with this UID (needs --as)."),
)

def _folder(spelling: str, kustomize: bool = False) -> Callable[..., Any]:
    """PATH, --path, -f/--filename and -k/--kustomize all name the manifests folder: one of them, or the same
    folder twice (kubectl users type -f out of habit next to a PATH). KUBECTL_GITOPS_PATH yields to them."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return value
        if value == "-":
            raise click.BadParameter("reading manifests from stdin is not supported: the desired state comes from "
                                     "Git; give the folder inside the repository")
        s = ctx.ensure_object(Settings)
        seen: dict[str, str] = ctx.meta.setdefault("kubectl_gitops.folder", {})
        from_env = ctx.get_parameter_source(param.name or "") is click.core.ParameterSource.ENVIRONMENT
        if from_env and seen:
            return value
        for other, folder in seen.items():
            if other != spelling and folder.rstrip("/") != value.rstrip("/"):
                if other.startswith("$"):
                    continue
                raise click.UsageError(f"{other} {folder!r} and {spelling} {value!r} name different folders: "
                                       "give the manifests folder once")
        seen["$KUBECTL_GITOPS_PATH" if from_env else spelling] = value
        s.source = dataclasses.replace(s.source, path=value, kustomize=s.source.kustomize or kustomize)
        return value

    return callback


def _selector(value: str | None) -> str | None:
    from kubectl_gitops.errors import UsageError
    from kubectl_gitops.source.labels import parse_selector

    if value is None:
        return None
    try:
        parse_selector(value)
    except UsageError as e:
        raise click.BadParameter(e.message) from e
    return value


def _field_manager(value: str | None) -> str | None:
    if value is not None and not (0 < len(value) <= 128 and value.isprintable()):
        raise click.BadParameter("a field manager is 1 to 128 printable characters, e.g. kubectl-gitops-ci")
    return value


field_manager_option = _opt(
    "--field-manager", section="cluster", attr="field_manager", convert=_field_manager, metavar="NAME",
    help="Name of the manager that owns the applied fields in server-side apply (default: kubectl-gitops). "
         "Keep it the same across runs: fields another manager owns are conflicts (--force-conflicts).")


def _folders(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """``sync`` takes several PATHs (``--watch``: one app each, cli/watch.py); one PATH is read as everywhere."""
    if len(value) == 1:
        _folder("PATH")(ctx, param, value[0])
    elif len(value) > 1:
        ctx.meta["kubectl_gitops.paths"] = tuple(value)
    return value


def _source_options(argument: Callable[[F], F]) -> Callable[[F], F]:
    return compose(argument, *_SOURCE_FLAGS)


_SOURCE_FLAGS = (
    _opt("--repo", section="source", attr="repo", metavar="PATH|URL", envvar="KUBECTL_GITOPS_REPO",
         help="Git repository: a local path or a remote URL (cloned into a cache). Default: the current one."),
    click.option("--path", expose_value=False, metavar="DIR", envvar="KUBECTL_GITOPS_PATH", callback=_folder("--path"),
                 help="Folder inside the repository holding the manifests (default: .)."),
    click.option("-f", "--filename", expose_value=False, metavar="DIR", callback=_folder("-f"),
                 help="The manifests folder (or one file), as kubectl spells it: the same as PATH and --path."),
    click.option("-k", "--kustomize", expose_value=False, metavar="DIR", callback=_folder("-k", kustomize=True),
                 help="A kustomization folder (kubectl's -k): like -f, and it must hold a kustomization.yaml."),
    _opt("-l", "--selector", section="source", attr="selector", convert=_selector, metavar="SELECTOR",
         help="Only objects whose labels match, in kubectl's syntax: -l app=web,tier!=cache, -l 'env in (a,b)'. "
              "A prune then considers only members whose labels match, and keeps those still in Git."),
    _opt("--ref", section="source", attr="ref", metavar="REF",
         help="Branch, tag or commit to read (default: the work tree for diff, HEAD for sync)."),
    _opt("--include", section="source", attr="include", multiple=True, convert=tuple, metavar="GLOB",
         help="Only read files matching this glob (repeatable)."),
    _opt("--exclude", section="source", attr="exclude", multiple=True, convert=tuple, metavar="GLOB",
         help="Skip files matching this glob (repeatable)."),
    _opt("--values", "helm_values", section="source", attr="helm_values", multiple=True, convert=tuple,
         metavar="FILE", help="Helm values file, relative to the chart (repeatable)."),
    _opt("--release-name", section="source", attr="helm_release", metavar="NAME",
         help="Helm release name (default: the chart folder's name)."),
    _opt("--allow-remote", section="source", attr="allow_remote", is_flag=True, default=False,
         envvar="KUBECTL_GITOPS_ALLOW_REMOTE",
         help="Let the repository's kustomizations and charts fetch from the network (remote bases, "
              "helmCharts, chart dependencies). Off by default: see docs/security.md."),
    _opt("--vault-allow-prefix", section="source", attr="vault_allow", multiple=True, convert=_comma_list,
         metavar="PREFIX", envvar="KUBECTL_GITOPS_VAULT_ALLOW",
         help="Vault paths placeholders may read (repeatable; the variable takes a comma list). "
              "Default: KV mounts only, never auth/, sys/, identity/, cubbyhole/."),
)
source_options = _source_options(
    click.argument("dir", required=False, expose_value=False, metavar="[PATH]", callback=_folder("PATH")))
# sync: PATH... (several only with --watch/--once: one app each)
sync_source_options = _source_options(
    click.argument("dirs", nargs=-1, expose_value=False, metavar="[PATH]...", callback=_folders))


def _resources(values: tuple[str, ...]) -> tuple[str, ...]:
    from kubectl_gitops.errors import UsageError
    from kubectl_gitops.source.resources import parse_resource

    for v in values:
        try:
            parse_resource(v)
        except UsageError as e:
            raise click.BadParameter(e.message) from e
    return tuple(values)


def _complete_resource(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from kubectl_gitops.cli.completion import resource_candidates

    return resource_candidates(ctx, incomplete)


resource_options = compose(
    _opt("--resource", section="source", attr="resources", multiple=True, convert=_resources,
         metavar="GROUP:KIND:[NS/]NAME", shell_complete=_complete_resource,
         help="Sync only this object (repeatable; Argo CD's partial sync): apps:Deployment:web, "
              ":ConfigMap:demo/settings, globs in NS and NAME. Hooks are skipped unless --with-hooks; --prune "
              "deletes only named objects."),
    _opt("--with-hooks", section="source", attr="resource_hooks", is_flag=True, default=False,
         help="With --resource: run the app's hooks too."),
)

def complete_app(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """App names from the records in the record namespace (cli.completion.app_names)."""
    from kubectl_gitops.cli.completion import app_names

    return [n for n in app_names(ctx) if n.startswith(incomplete)]


record_namespace_option = _opt(
    "--record-namespace", section="app", attr="record_namespace", metavar="NS",
    envvar="KUBECTL_GITOPS_RECORD_NAMESPACE",
    help="Namespace of the app's record (default: the context's namespace, or -n).")

app_options = compose(
    _opt("--app", section="app", attr="name", metavar="NAME", envvar="KUBECTL_GITOPS_APP", shell_complete=complete_app,
         help="The app's name: its record is the Secret kubectl-gitops.<app> (default: derived from the "
              "repository's remote or folder name and --path)."),
    record_namespace_option,
)


class Command(click.Command):
    """A command whose ``--dry-run`` takes kubectl's values only as ``--dry-run=VALUE`` (bare ``--dry-run`` keeps
    its meaning of before: ``server``), so ``sync --dry-run examples/`` still reads PATH examples/."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--dry-run" in args:
            end = args.index("--") if "--" in args else len(args)
            args = [("--dry-run=" + DRY_RUN_BARE) if a == "--dry-run" and i < end else a for i, a in enumerate(args)]
        return super().parse_args(ctx, args)


DRY_RUN_BARE = "server"
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def gitops_command(name: str) -> Callable[[F], click.Command]:
    return click.command(name, cls=Command, context_settings=CONTEXT)  # type: ignore[return-value]


def dry_run_option(help_text: str) -> Callable[[F], F]:
    """kubectl's ``--dry-run=none|client|server``; a bare ``--dry-run`` means ``server`` (see ``Command``)."""
    return click.option("--dry-run", "dry_run", type=click.Choice(["none", "client", "server"]), default="none",
                        metavar="[=none|client|server]", show_default=True, help=help_text)


policy_options = compose(
    _opt("--policy", "policy_file", section="policy", attr="file", metavar="FILE",
         help="The policy as a file (CI, offline); wins over --policy-namespace (docs/policy.md)."),
    _opt("--policy-namespace", section="policy", attr="namespace", metavar="NS",
         envvar="KUBECTL_GITOPS_POLICY_NAMESPACE",
         help="Read the policy from the ConfigMap kubectl-gitops-policy in this namespace; once set, a missing or "
              "unreadable policy refuses the run."),
)

signed_options = compose(
    _opt("--require-signed", section="policy", attr="require_signed", is_flag=True, default=False,
         envvar="KUBECTL_GITOPS_REQUIRE_SIGNED",
         help="Refuse a commit that is not signed by an allowed signer (verified by git verify-commit)."),
    _opt("--allowed-signers", section="policy", attr="allowed_signers", metavar="FILE",
         help="SSH allowed signers (ssh-keygen's ALLOWED SIGNERS format) for --require-signed."),
    _opt("--gpg-keyring", section="policy", attr="gpg_home", metavar="DIR",
         help="A GNUPGHOME folder holding the allowed OpenPGP keys, for --require-signed."),
)

confirm_protected_option = _opt(
    "--confirm-protected", section="policy", attr="confirm_protected", multiple=True, convert=tuple,
    metavar="KIND/NS/NAME", help="Approve the change to a protected object (KIND/NAME when cluster-scoped; "
                                 "repeatable). Without it, a terminal asks and anything else refuses.")


def output_option(*choices: str, default: str = "table") -> Callable[[F], F]:
    return _opt("-o", "--output", section="output", attr="format", default=default, show_default=True,
                type=click.Choice(list(choices)), help="Output format.")


__all__ = [
    "ClusterOptions", "Command", "OutputOptions", "SourceOptions", "app_options", "cluster_options", "common_options",
    "confirm_protected_option", "dry_run_option", "field_manager_option", "get_settings", "gitops_command",
    "output_option", "policy_options", "record_namespace_option", "resource_options", "signed_options",
    "source_options", "sync_source_options",
]
