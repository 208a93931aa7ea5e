"""`kubectl gitops agent manifests`: the in-cluster agent (sync --watch in a Deployment) for a repository/app."""

from __future__ import annotations

import sys

import click

from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import (
    app_options,
    cluster_options,
    common_options,
    get_settings,
    sync_source_options,
)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group("agent", context_settings=CONTEXT)
def command() -> None:
    """The in-cluster agent: `sync --watch` in a Deployment (docs/pull-mode.md).

    \b
    Examples:
      kubectl gitops agent manifests --repo https://git.example.com/ops.git --path prod | kubectl apply -f -
    """


@command.command("manifests", context_settings=CONTEXT)
@common_options
@cluster_options
@sync_source_options
@app_options
@click.option("--agent-namespace", default="kubectl-gitops", show_default=True, metavar="NS",
              help="Where the agent runs; its record is there too unless --record-namespace.")
@click.option("--image", "image", default="ghcr.io/kubectl-gitops/kubectl-gitops:v{version}", show_default=True,
              help="The agent's image (built with --containerfile).")
@click.option("--git-secret", metavar="NAME",
              help="A Secret in the agent namespace with the Git credentials: key `url` (an https URL with a "
                   "token; used as --repo) or, with --git-auth ssh, `ssh-privatekey` and `known_hosts`.")
@click.option("--git-auth", type=click.Choice(["token", "ssh"]), default="token", show_default=True)
@click.option("--interval", default="1m", show_default=True, help="The agent's --interval.")
@click.option("--drift-interval", default="5m", show_default=True, help="The agent's --drift-interval.")
@click.option("--self-heal", is_flag=True, help="The agent reverts drift.")
@click.option("--prune", is_flag=True, help="The agent prunes what left Git (sync --prune --yes).")
@click.option("--replicas", type=click.IntRange(1, 10), default=2, show_default=True)
@click.option("--containerfile", is_flag=True, help="Print the Containerfile of the agent's image instead.")
@click.option("--name", "agent_name", metavar="NAME",
              help="With several PATHs: the agent's name (kubectl-gitops-NAME; default: apps). One PATH: the app's "
                   "name is the agent's (--app).")
@handle_errors
def manifests_command(agent_namespace: str, image: str, git_secret: str | None, git_auth: str, interval: str,
                      drift_interval: str, self_heal: bool, prune: bool, replicas: int, containerfile: bool,
                      agent_name: str | None) -> int:
    """Print the agent's ServiceAccount, least-privilege RBAC and Deployment, as YAML.

    The repository is rendered (committed content at --ref) and the cluster's
    discovery names the resource and scope of each kind it holds: a Role per namespace
    the app writes to (exactly those resources), a ClusterRole only for cluster-scoped
    kinds, and in the record's namespace secrets (the record), leases (one holder per
    app) and events. Objects without a namespace go to --agent-namespace (the agent's
    own, as in a pod). The Deployment runs `sync --watch` with 2 replicas: one leads
    the app through its Lease, the other stands by. Nothing is written to the cluster.

    With several PATHs (one app each) the Deployment runs `sync --watch PATH...`: its
    replicas split the apps through their Leases, and the RBAC covers every app's kinds.

    \b
    Examples:
      kubectl gitops agent manifests --repo https://git.example.com/ops.git --path prod \\
          --git-secret ops-git --self-heal | kubectl apply -f -
      kubectl gitops agent manifests --repo https://git.example.com/ops.git prod/web prod/db \\
          --git-secret ops-git    # one Deployment for several apps (one PATH each)
      kubectl gitops agent manifests --containerfile > Containerfile

    \b
    Exit codes: 0 ok, 2 usage, 3 invalid input, 5 cluster error.
    """
    from kubectl_gitops import __version__
    from kubectl_gitops.engine.agent_manifests import AgentSpec
    from kubectl_gitops.engine.agent_manifests import containerfile as make_containerfile
    from kubectl_gitops.source.repo import is_remote_url

    p = printer()
    if containerfile:
        p.echo(make_containerfile(__version__).rstrip("\n"))
        return 0
    settings = get_settings()
    paths: tuple[str, ...] = click.get_current_context().meta.get("kubectl_gitops.paths") or ()
    if paths and settings.app.name:
        from kubectl_gitops.errors import UsageError

        raise UsageError(f"--app names one app, but {len(paths)} PATHs were given: each app's name is derived from "
                         "its path; name the agent with --name")
    if agent_name and not paths:
        from kubectl_gitops.errors import UsageError

        raise UsageError("--name names an agent of several apps (several PATHs); one app's agent is named by --app")
    repo = settings.source.repo
    if repo is not None and not is_remote_url(repo) and not git_secret:
        p.warn(f"--repo {repo} is a local folder: the agent in the cluster needs a URL it can fetch")
    if git_secret and git_auth == "token" and repo is not None and "@" not in repo:
        p.info(f"the agent reads its repository URL from Secret {git_secret} key `url` only when --repo is not given")
    from kubectl_gitops.ops.agent import run_agent_manifests

    spec = AgentSpec(app=(agent_name or "apps") if paths else (settings.app.name or ""), namespace=agent_namespace,
                     record_namespace=settings.app.record_namespace or agent_namespace,
                     image=image.format(version=__version__),
                     repo=None if (git_secret and git_auth == "token") else repo, ref=settings.source.ref,
                     path=settings.source.path, git_secret=git_secret, git_auth=git_auth, interval=interval,
                     drift_interval=drift_interval, self_heal=self_heal, prune=prune, replicas=replicas,
                     paths=tuple(paths))
    result = run_agent_manifests(settings, spec)
    p.yaml(result.objects)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
