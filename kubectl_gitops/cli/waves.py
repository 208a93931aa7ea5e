"""`kubectl gitops waves`: the ordered sync plan, offline.

Reads the repository (work tree by default, like ``diff``), renders and validates it, and prints the
plan a sync would follow (see ``kubectl_gitops.engine.plan`` for the rules). No cluster is contacted.

``-o json`` prints a list with one object per step, in execution order. This list is a stable
interface (fields are only ever added); docs/waves.md documents it:

==================  ==========================================================================
field               meaning
==================  ==========================================================================
order               0-based position in the plan
phase               PreSync | Sync | PostSync | SyncFail
wave                integer (after a dependency move: the wave the object runs in)
apiVersion, group   of the object (``group`` is ``""`` for the core API)
kind, namespace     ``namespace`` is ``""`` for cluster-scoped objects
name                ``""`` for a hook named by ``generateName``
generateName        the prefix of such a hook, else ``""``
hook                true for hooks (of any phase, Sync included)
hookTypes           the object's hook types, e.g. ["PreSync", "PostSync"]; [] if not a hook
helmHooks           the ``helm.sh/hook`` types it was mapped from, else []
deletePolicies      BeforeHookCreation | HookSucceeded | HookFailed; [] if not a hook
syncOptions         non-default ``argocd.argoproj.io/sync-options``, canonical, e.g. ["Prune=false"]
movedBy             why a Namespace/CRD was moved ahead, else null
runsOnlyOnFailure   true for SyncFail steps
origin              {path, line, renderer, detail}: where the object came from
change              only with ``--live``: create | update | unchanged | ...
==================  ==========================================================================

Objects that are never applied (``Skip`` hooks, Helm hooks a sync does not run) are not steps: the
table lists them last with PHASE ``Skip``.
"""

from __future__ import annotations

import click

from kubectl_gitops.cli.apptree import tree_options
from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import (
    app_options,
    cluster_options,
    common_options,
    field_manager_option,
    get_settings,
    gitops_command,
    output_option,
    policy_options,
    source_options,
)
from kubectl_gitops.cli.output import object_name
from kubectl_gitops.cli.render_options import helm_set_options, image_options, jsonnet_options
from kubectl_gitops.errors import UsageError


@gitops_command("waves")
@common_options
@cluster_options
@source_options
@image_options
@helm_set_options
@tree_options
@app_options
@policy_options
@jsonnet_options
@output_option("table", "wide", "name", "json", "yaml")
@field_manager_option
@click.option("--graph", type=click.Choice(["dot", "mermaid"]), default=None,
              help="Print a picture of the waves instead of the table: Graphviz dot or a Mermaid flowchart.")
@click.option("--live", is_flag=True, default=False,
              help="Also show which objects a sync would change (reads the cluster).")
@handle_errors
def command(graph: str | None, live: bool) -> int:
    """Show the ordered sync plan: phases, waves, kind order and hooks, as Argo CD would run them.

    \b
    Reads PATH (default: the current folder) in the work tree of the repository, renders it
    (plain YAML, kustomize, Helm) and prints, in execution order, every object with its phase
    (PreSync, Sync, PostSync, SyncFail), wave, hook and delete policy. NOTE says why a
    Namespace or CRD runs earlier than its own wave (it is needed by an object there) and
    marks SyncFail hooks, which run only if the sync fails. Nothing is sent to a cluster.

    \b
    Annotations read (Argo CD's, so an Argo CD repository works unchanged):
      argocd.argoproj.io/hook                 PreSync,Sync,PostSync,SyncFail,Skip
      argocd.argoproj.io/hook-delete-policy   BeforeHookCreation (default),HookSucceeded,HookFailed
      argocd.argoproj.io/sync-wave            integer, default 0 (falls back to helm.sh/hook-weight)
      argocd.argoproj.io/sync-options         Prune=false, Replace=true, ServerSideApply=true, ...
      helm.sh/hook, helm.sh/hook-weight, helm.sh/hook-delete-policy   mapped as Argo CD does
    An invalid value is an error naming the file, the object and the valid values (exit 3).

    \b
    Examples:
      kubectl gitops waves examples/                  # the plan as a table
      kubectl gitops waves examples/ -v               # ... with the file:line of each object
      kubectl gitops waves --ref main -o json         # the plan of a branch, for scripts (docs/waves.md)
      kubectl gitops waves --graph dot | dot -Tsvg > waves.svg
      kubectl gitops waves --graph mermaid            # paste into a Markdown file
      kubectl gitops waves -n staging                 # namespace for objects that name none
      kubectl gitops waves -k overlays/prod -l tier=db -o wide   # kubectl's spellings

    \b
    waves reads no kubeconfig: objects that name no namespace are shown in -n NS, else "default".
    With --policy FILE (offline) or with --live and a policy, the policy's violations and
    protected objects are listed on stderr (under "policy" in -o json), and it exits 6.
    Exit codes: 0 plan printed, 2 usage, 3 invalid input (nothing to plan), 6 the policy
    refuses it.
    """
    from kubectl_gitops.cli import waves_view
    from kubectl_gitops.cli.policy_view import show_verdict, with_policy
    from kubectl_gitops.errors import ExitCode
    from kubectl_gitops.ops.waves import run_waves

    settings = get_settings()
    out = printer()
    ctx = click.get_current_context()
    if graph and ctx.get_parameter_source("output") is click.core.ParameterSource.COMMANDLINE \
            and settings.output.format != "table":
        raise UsageError("--graph prints a picture; it cannot be combined with -o json/yaml",
                         hint="drop -o, or drop --graph")
    from kubectl_gitops.source.appspec import AppsFound

    try:
        result = run_waves(settings, live=live)
    except AppsFound as found:  # a tree of apps: the tree, then each app's plan (docs/apps.md)
        from kubectl_gitops.cli.apptree import print_tree_waves
        from kubectl_gitops.ops.apptree_run import run_tree_waves

        if live:
            raise UsageError("--live is not supported for a tree of apps yet", hint="use `kubectl gitops diff`") \
                from None
        tree = run_tree_waves(settings, apps=found.apps, on_event=lambda ev: out.info(ev.message))
        if tree is not None:
            print_tree_waves(out, tree, verbose=settings.output.verbose, fmt=settings.output.format, graph=graph)
            return 0
        result = run_waves(settings, live=live, plain=True)
    plan, changes = result.plan, result.changes

    if graph == "dot":
        out.echo(waves_view.render_dot(plan))
    elif graph == "mermaid":
        out.echo(waves_view.render_mermaid(plan))
    elif settings.output.format == "json":
        out.json(with_policy(waves_view.plan_json(plan, changes=changes), plan, result.policy))
    elif settings.output.format == "yaml":
        out.yaml([waves_view.plan_json(plan, changes=changes)])  # one document holding the list, like the JSON
    elif settings.output.format == "name":
        for step in plan.steps:
            out.echo(object_name(step.key))
    else:  # -o wide: the -v table, with each object's file:line
        wide = int(settings.output.format == "wide")
        table = waves_view.render_table(plan, verbose=max(settings.output.verbose, wide), changes=changes)
        if table:
            out.echo(table)
        out.info(waves_view.summary(plan) if plan.steps or plan.skipped else "no objects found")
    show_verdict(out, result.policy)
    return int(ExitCode.REFUSED) if result.policy is not None and result.policy.violations else 0
