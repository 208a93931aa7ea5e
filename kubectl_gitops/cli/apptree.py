"""Trees of apps in the CLI: the ``--apps``/``--repo-mirror``/``--cluster``/``--only`` options, and what
``sync``, ``diff`` and ``waves`` print for a tree (docs/apps.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kubectl_gitops.cli.options import compose
from kubectl_gitops.cli.output import Printer
from kubectl_gitops.errors import ExitCode
from kubectl_gitops.events import Event
from kubectl_gitops.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def _pairs(flag: str) -> Callable[..., Any]:
    def convert(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        out = []
        for v in values:
            for item in v.split():
                key, sep, target = item.partition("=")
                if not sep or not key or not target:
                    raise click.BadParameter(f"{item!r}: write {flag} FROM=TO")
                out.append((key, target))
        return tuple(out)
    return convert


def _tree_setter(attr: str, convert: Callable[[Any], Any] | None = None) -> Callable[..., Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        s = ctx.ensure_object(Settings)
        if value is None or (param.multiple and not value):
            if attr == "mode":  # the default mode: install the detector all the same
                value = "auto"
            else:
                return value
        if convert is not None:
            value = convert(value)
        s.tree = dataclasses.replace(s.tree, **{attr: value})
        if attr == "mode":
            from kubectl_gitops.source.appspec import detector

            s.source = dataclasses.replace(s.source, post_render=None if value == "apply" else detector)
        return value
    return callback


def _opt(*decls: str, attr: str, convert: Callable[[Any], Any] | None = None, **kw: Any) -> Callable[[F], F]:
    return click.option(*decls, expose_value=False, callback=_tree_setter(attr, convert), **kw)


tree_options = compose(
    _opt("--apps", attr="mode", type=click.Choice(["auto", "expand", "apply"]), default="auto", show_default=True,
         envvar="KUBECTL_GITOPS_APPS",
         help="Argo CD Applications and Flux Kustomizations/HelmReleases in the render: expand them into child apps "
              "synced from their own sources (auto: when the cluster does not serve their CRD), or apply them as "
              "plain objects for an installed Argo CD/Flux. See docs/apps.md."),
    _opt("--repo-mirror", attr="mirrors", multiple=True, convert=_pairs("--repo-mirror"), metavar="URL=PATH_OR_URL",
         envvar="KUBECTL_GITOPS_REPO_MIRROR",
         help="Read a child app's Git or Helm repository URL (and URLs below it) from a local clone or another "
              "address (repeatable; the variable takes a space-separated list)."),
    _opt("--cluster", attr="clusters", multiple=True, convert=_pairs("--cluster"), metavar="NAME_OR_URL=CONTEXT",
         help="The kubeconfig context of an Application's destination server or name (repeatable). "
              "https://kubernetes.default.svc and in-cluster are the current context."),
    _opt("--only", attr="only", multiple=True, convert=tuple, metavar="APP",
         help="In a tree of apps, only this app and the apps below it (repeatable)."),
)

app_concurrency_option = _opt("--app-concurrency", attr="app_concurrency", type=click.IntRange(1, 16), default=2,
                              show_default=True,
                              help="Child apps of one wave synced at once; in pull mode with several PATHs, apps "
                                   "iterated at once.")


class _Prefixed:
    """A Printer whose progress lines (stderr) start with ``[app] ``: apps of one wave run at once."""

    def __init__(self, p: Printer, prefix: str):
        self._p, self._prefix = p, prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._p, name)

    def info(self, text: str) -> None:
        self._p.info(self._prefix + text)

    def warn(self, text: str) -> None:
        self._p.warn(self._prefix + text)


class TreeProgress:
    """Wraps the sync progress: a header line per app; each app's events prefixed with its name."""

    def __init__(self, inner: Any, p: Printer, *, json_lines: bool):
        self.inner, self.p, self.json_lines = inner, p, json_lines
        self.per_app: dict[str, Any] = {}

    def __call__(self, ev: Event) -> None:
        if self.json_lines:
            self.inner(ev)
            return
        app = ev.data.get("app")
        if app and ev.type not in ("app.start", "app.done"):
            if app not in self.per_app:  # a Progress of the same kind, printing through a prefixed Printer
                self.per_app[app] = type(self.inner)(_Prefixed(self.p, f"[{app}] "), json_lines=False)
            self.per_app[app](ev)
        elif ev.type in ("apps.mode", "apps.tree"):
            self.p.info(ev.message)
        elif ev.type == "app.start":
            self.p.info(self.p.style(f"=== {ev.message}", "bold", self.p.err))
        elif ev.type == "app.done":
            status = str(ev.data.get("status"))
            color = {"synced": "green", "failed": "red"}.get(status, "yellow")
            self.p.info(self.p.style(f"=== {ev.message}", color, self.p.err))
        else:
            self.inner(ev)


def _rows(result: Any) -> list[list[str]]:
    return [[r.name, r.parent or "", r.order, r.status, str(r.writes) if r.result is not None else "",
             f"{r.seconds:.1f}s" if r.seconds else "", r.message[:80]] for r in result.runs]


def print_tree_sync(p: Printer, result: Any, *, json_out: bool) -> int:
    """The summary of a tree sync; the exit code (4 when an app failed)."""
    if json_out:
        p.json_line({"type": "result", "ok": result.ok, "seconds": round(result.seconds, 3), "apps": [
            {"app": r.name, "parent": r.parent, "order": r.order, "status": r.status, "writes": r.writes,
             "seconds": round(r.seconds, 3), "message": r.message} for r in result.runs]})
    else:
        p.table(["app", "parent", "order", "result", "writes", "time", "message"], _rows(result))
        counts: dict[str, int] = {}
        for r in result.runs:
            counts[r.status] = counts.get(r.status, 0) + 1
        dry = any(r.status == "dry run" for r in result.runs)
        verdict = ("dry run, nothing was written" if dry else "synced") if result.ok else "sync FAILED"
        p.echo(f"{verdict}: {len(result.runs)} app(s): " + ", ".join(f"{n} {s}" for s, n in counts.items())
               + f" in {result.seconds:.1f}s")
    if not result.ok:
        for r in result.failed:
            p.echo(p.style("error: ", "red", p.err) + f"app {r.name}: {r.message}", err=True)
            outcome = getattr(r.result, "outcome", None)
            for step in outcome.failed if outcome is not None else ():
                p.echo(f"  - {step.key}: {step.health or 'failed'}" + (f": {step.message}" if step.message else ""),
                       err=True)
        return int(ExitCode.OPERATION_FAILED)
    return 0


def print_tree_diff(p: Printer, result: Any, *, fmt: str, show: Callable[[Any], None]) -> int:
    """Each app's diff (through ``show``), then a summary line per app; 1 when any app differs."""
    differs = any(r.differences for r in result.runs)
    if fmt in ("json", "yaml", "patch"):  # one document: {"apps": [{"app", "status", ...the app's diff document}]}
        from kubectl_gitops.cli import diff_view
        from kubectl_gitops.cli.diff_patch import to_patch

        apps = []
        for r in result.runs:
            entry: dict[str, Any] = {"app": r.name, "parent": r.parent, "status": r.status}
            if r.result is not None:
                co = r.result.checkout
                if fmt == "patch":  # changed objects only, as `diff -o patch` of one app
                    entry.update(to_patch([c for c in r.result.changes if c.changed], co.commit, co.dirty, co.ref))
                else:
                    entry.update(diff_view.to_json(r.result.changes, co.commit, co.dirty, co.ref))
            apps.append(entry)
        p.yaml({"apps": apps}, masked=True) if fmt == "yaml" else p.json({"apps": apps}, masked=True)
        return int(ExitCode.DIFFERENCES) if differs else 0
    for r in result.runs:
        if r.result is None or (not r.differences and fmt not in ("json", "yaml")):
            continue
        if fmt not in ("json", "yaml"):
            p.info(p.style(f"=== app {r.name}: {r.status}", "bold", p.err))
        show(r.result)
    if fmt not in ("json", "yaml"):
        for r in result.runs:
            p.info(f"app {r.name}: {r.status}" + (f" ({r.differences} object(s))" if r.differences else "")
                   + (f" - {r.message}" if r.message else ""))
    return int(ExitCode.DIFFERENCES) if differs else 0


def print_tree_waves(p: Printer, tree: Any, *, verbose: int, fmt: str, graph: str | None) -> None:
    from kubectl_gitops.cli import waves_view

    nodes = tree.root.walk()
    depth = {tree.root.name: 0}
    for n in nodes:
        for c in n.children:
            depth[c.name] = depth[n.name] + 1
    if fmt in ("json", "yaml"):
        doc = [{"app": n.name, "parent": n.parent, "order": n.order, "source": n.spec.describe() if n.spec else
                n.source, "steps": waves_view.plan_json(tree.plans[n.name])} for n in nodes]
        p.json(doc) if fmt == "json" else p.yaml([doc])
        return
    if graph == "dot":
        lines = ["digraph apps {", "  compound=true;"]
        for i, n in enumerate(nodes):
            lines.append(f'  subgraph cluster_{i} {{ label="{n.name}"; "{n.name}.app" [shape=box label="{n.name}"]; }}')
            if n.parent:
                lines.append(f'  "{n.parent}.app" -> "{n.name}.app";')
        p.echo("\n".join([*lines, "}"]))
        return
    if graph == "mermaid":
        lines = ["flowchart TD"]
        for n in nodes:
            lines.append(f'  subgraph {n.name.replace(".", "_")}["{n.name}"]\n  end')
            if n.parent:
                lines.append(f'  {n.parent.replace(".", "_")} --> {n.name.replace(".", "_")}')
        p.echo("\n".join(lines))
        return
    for n in nodes:
        indent = "  " * depth[n.name]
        what = n.spec.describe() if n.spec else n.source
        p.echo(f"{indent}{n.name}" + (f"  [{n.order}]" if n.order else "") + f"  {what}")
    for n in nodes:
        plan = tree.plans[n.name]
        p.echo("")
        p.echo(f"app {n.name}:")
        table = waves_view.render_table(plan, verbose=verbose)
        p.echo(table if table else "  (no objects of its own)")


def show_diff(p: Printer, *, fmt: str, summary: bool, show_unchanged: bool) -> Callable[[Any], None]:
    """How ``diff`` shows one app's DiffResult inside a tree: unified diffs, a table, or a JSON/YAML document."""
    from kubectl_gitops.cli import diff_view

    def show(result: Any) -> None:
        co = result.checkout
        shown = result.changes if show_unchanged else [c for c in result.changes if c.changed]
        if fmt in ("json", "yaml"):
            doc = diff_view.to_json(result.changes, co.commit, co.dirty, co.ref)
            p.json(doc, masked=True) if fmt == "json" else p.yaml(doc, masked=True)
        elif fmt == "markdown":
            p.echo(diff_view.markdown(result.changes, co.commit), masked=True)
        elif summary or fmt == "table":
            if shown:
                p.table(["op", "kind", "namespace/name", "source", "drift"], diff_view.summary_rows(shown))
        else:
            color = p.color_on(p.out)
            for c in shown:
                p.echo(diff_view.unified(c, color=color), masked=True)

    return show
