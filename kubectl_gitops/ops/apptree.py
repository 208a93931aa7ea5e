"""Trees of apps (docs/apps.md): expand Argo CD Applications and Flux Kustomizations/HelmReleases into child
apps, then diff or sync each one exactly as if it were synced alone, in the tree's order, health-gated.

``build_tree`` renders the whole tree before anything is written: the root (the path given), every child from
its own source (Git through the same layer and cache as ``--repo``, charts through ``helm pull``), every nested
child; all problems of all app objects (unsupported fields, missing sources or dependencies, cycles, duplicate
names, unmapped destinations) are reported at once as invalid input. Each child renders with resolve=None
(structural checks only): a child's custom resources may need CRDs an earlier child installs, so its objects
are checked against the cluster when its turn comes, by its own ``run_sync``.

``run_tree_sync`` then syncs: a node's own objects first (a normal ``run_sync``: its record, ownership,
Lease, prune), then its children layer by layer (``engine.apptree.layers``), up to ``--app-concurrency``
of a layer at once. A child is healthy when its sync succeeded and every object it applied is healthy (the
sync's own health gate); a failed child stops the layers after it and the summary says which ran, failed, or
were skipped.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kubectl_gitops.engine.app_names import validate_app_name
from kubectl_gitops.engine.apptree import AppNode, child_waves, layers
from kubectl_gitops.errors import GitopsError, UsageError, ValidationError
from kubectl_gitops.events import Event, EventSink
from kubectl_gitops.model import Manifest
from kubectl_gitops.ops.app import app_name
from kubectl_gitops.ops.apptree_kustomize import kustomize_pass, needs_kustomize
from kubectl_gitops.settings import AppOptions, Settings
from kubectl_gitops.source.appsource import apply_overrides, child_source, split_apps
from kubectl_gitops.source.appspec import IN_CLUSTER, ChildSpec, detector, is_app
from kubectl_gitops.source.argoapp import read_application
from kubectl_gitops.source.fluxapp import read_helmrelease, read_kustomization

MAX_DEPTH = 8
MODES = ("auto", "expand", "apply")


def with_detector(settings: Settings) -> Settings:
    """``settings`` whose render raises ``AppsFound`` when it holds app objects, unless ``--apps=apply``."""
    if settings.tree.mode == "apply":
        return settings
    return replace(settings, source=replace(settings.source, post_render=detector))


def decide(settings: Settings, apps: list[Manifest], discovery: Any | None, on_event: EventSink) -> bool:
    """Expand the app objects into child apps (True) or apply them as objects (False); says what it decided."""
    kinds = sorted({(m.group, m.kind) for m in apps})
    names = ", ".join(f"{k}.{g}" for g, k in kinds)
    mode = settings.tree.mode
    if mode == "expand":
        why, expand = "--apps=expand", True
    elif mode == "apply":
        why, expand = "--apps=apply", False
    elif discovery is None:
        why, expand = "--apps=auto, no cluster read", True
    else:
        unserved = [f"{k}.{g}" for g, k in kinds if discovery.for_group_kind(g, k) is None]
        expand = bool(unserved)
        why = (f"--apps=auto: the cluster does not serve {', '.join(unserved)}" if expand else
               f"--apps=auto: the cluster serves {names} (an installed Argo CD/Flux takes them over)")
    verb = f"expanding {len(apps)} app object(s) ({names}) into child apps" if expand else \
        f"applying {len(apps)} app object(s) ({names}) as plain objects"
    on_event(Event("apps.mode", f"{why}: {verb}", {"expand": expand, "mode": mode}))
    return expand


@contextmanager
def private_folder() -> Iterator[Path]:
    """The tree's private folder (0700) for inline Helm values and `$values` files, removed on return."""
    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-tree-") as tmp:
        yield Path(tmp)


@dataclass
class _Build:
    settings: Settings  # the root's
    committed_only: bool
    private: Path
    root_context: str | None
    record_namespace: str
    default_namespace: str
    problems: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # app name -> origin


def _context(b: _Build, spec: ChildSpec) -> str | None:
    if spec.server in ("", IN_CLUSTER, "in-cluster"):
        return b.root_context
    for key, ctx in b.settings.tree.clusters:
        if key.rstrip("/") == spec.server.rstrip("/"):
            return ctx
    b.problems.append(f"{spec.origin}: {spec.kind} {spec.name}: destination {spec.server!r} is not the in-cluster "
                      f"server; map it to a kubeconfig context: --cluster {spec.server}=CONTEXT")
    return b.root_context


def _read(m: Manifest, objects: list[Manifest]) -> tuple[ChildSpec, list[str]]:
    if m.kind == "Application":
        return read_application(m)
    if m.kind == "Kustomization":
        return read_kustomization(m, objects)
    return read_helmrelease(m, objects)


def _render(b: _Build, node: AppNode, post: Any
            ) -> tuple[list[Manifest], list[Manifest], list[Manifest], tuple[str, ...]]:
    """(own objects, app objects, every object, identity) of a node's source; problems go to the build's."""
    from kubectl_gitops.secrets import decrypt_if_encrypted
    from kubectl_gitops.source.desired import load_desired

    captured: list[Manifest] = []

    def split(manifests: list[Manifest]) -> tuple[list[Manifest], list[str]]:
        problems: list[str] = []
        if post is not None:
            manifests, problems = post(manifests)
        captured.extend(manifests)
        own, _ = split_apps(manifests, flux_sources=any(is_app(m) and m.kind != "Application" for m in manifests))
        return own, problems

    source = replace(node.settings.source, post_render=split)
    ns = node.settings.cluster.namespace or b.default_namespace
    try:
        desired = load_desired(source, committed_only=b.committed_only and node.spec is None, default_namespace=ns,
                               resolve=None, transform=decrypt_if_encrypted)
    except ValidationError as e:
        b.problems.extend(f"app {node.name}: {p}" for p in e.details)
        return [], [], [], ()
    except GitopsError as e:
        b.problems.append(f"app {node.name}" + (f" ({node.spec.origin})" if node.spec else "") + f": {e}")
        return [], [], [], ()
    co = desired.checkout
    node.source = co.describe() if co.commit else str(node.settings.source.repo or ".")
    if node.spec is not None and co.commit and not co.dirty:  # sync exactly the commit that was read here
        node.settings = replace(node.settings, source=replace(node.settings.source, ref=co.commit))
    if node.spec is None:
        node.name = app_name(node.settings, co)
    where = str(co.repo_root) if co.repo_root is not None else (co.remote_url or "")
    apps = [m for m in captured if is_app(m)]
    return desired.manifests, apps, captured, (where.rstrip("/"), co.path)


def _expand(b: _Build, node: AppNode, post: Any, ancestors: list[tuple[tuple[str, ...], str]]) -> None:
    own, apps, captured, identity = _render(b, node, post)
    node.objects = len(own)
    for ident, _name in ancestors:
        if identity and ident == identity:
            chain = " -> ".join([n for _, n in ancestors] + [node.name])
            b.problems.append(f"app {node.name}" + (f" ({node.spec.origin})" if node.spec else "") +
                              f": renders {identity[0]} path {identity[1]} again: a cycle ({chain}); remove the app "
                              "object that points back")
            return
    if not apps:
        return
    if len(ancestors) >= MAX_DEPTH:
        b.problems.append(f"app {node.name}: apps nested deeper than {MAX_DEPTH} levels; flatten the tree")
        return
    objects = captured  # Flux objects refer to sources, ConfigMaps and Secrets of the same render
    specs = []
    broken: set[int] = set()
    for m in apps:
        spec, problems = _read(m, objects)
        if spec.ignore_differences:  # checked now, not when the app's turn comes
            from kubectl_gitops.engine.diff import load_ignore_rules
            try:
                load_ignore_rules(spec.ignore_differences, f"{spec.origin}: {spec.kind} {spec.name}")
            except GitopsError as e:
                problems.append(f"{spec.origin}: {spec.kind} {spec.name}: spec.ignoreDifferences: {e.message}")
        b.problems.extend(problems)
        try:
            validate_app_name(spec.name)
        except UsageError:
            b.problems.append(f"{spec.origin}: {spec.kind} {spec.name}: the name is not a valid app name (lower-case "
                              "letters, digits, '-' and '.'); rename it")
            continue
        if spec.name in b.names:
            b.problems.append(f"{spec.origin}: {spec.kind} {spec.name}: a second app of this name (the first is at "
                              f"{b.names[spec.name]}); app names are unique in a tree: rename one")
            continue
        b.names[spec.name] = spec.origin
        specs.append(spec)  # in the order check even with problems: its dependents are not "missing" it
        if problems:
            broken.add(id(spec))
    b.problems.extend(child_waves(specs))
    try:
        ordered = layers(specs)
    except ValidationError as e:
        b.problems.extend(e.details)
        return
    for layer in ordered:
        nodes = []
        for spec in layer:
            if id(spec) in broken:  # its problems are reported; not expanded further
                continue
            child = _child(b, node, spec)
            if child is not None:
                nodes.append(child)
                _expand(b, child, overrides(spec), [*ancestors, (identity, node.name)])
        node.layers.append(nodes)


def _child(b: _Build, parent: AppNode, spec: ChildSpec) -> AppNode | None:
    cluster = replace(b.settings.cluster, context=_context(b, spec),
                      namespace=spec.dest_namespace or b.settings.cluster.namespace)
    try:
        source = child_source(spec, b.settings.source, b.settings.tree.mirrors, b.private, None)
    except GitopsError as e:
        b.problems.append(f"{spec.origin}: {spec.kind} {spec.name}: {e}")
        return None
    settings = replace(b.settings, cluster=cluster, source=source,
                       app=AppOptions(name=spec.name, record_namespace=b.record_namespace))
    return AppNode(spec.name, settings, spec, parent=parent.name)


def build_tree(settings: Settings, *, committed_only: bool, private: Path, root_context: str | None,
               record_namespace: str, default_namespace: str) -> AppNode:
    """The whole tree, rendered and checked (module docstring). Raises ValidationError listing every problem."""
    b = _Build(settings, committed_only, private, root_context, record_namespace, default_namespace)
    root = AppNode(settings.app.name or "", replace(settings, tree=settings.tree))
    _expand(b, root, None, [])
    if b.problems:
        raise ValidationError(b.problems, hint="fix the app objects in the repository (docs/apps.md lists the "
                                               "supported fields), or pass --apps=apply to apply them as objects")
    only = set(settings.tree.only)
    unknown = only - {n.name for n in root.walk()}
    if unknown:
        raise UsageError(f"--only names no app of the tree: {', '.join(sorted(unknown))}",
                         hint="`kubectl gitops waves` lists the apps")
    return root


def overrides(spec: ChildSpec) -> Any:
    """The app object's changes to its rendered objects: in Python, and through kustomize when needed."""
    return apply_overrides(spec, middle=kustomize_pass(spec) if needs_kustomize(spec) else None)


def node_settings(node: AppNode) -> Settings:
    """The settings a node is synced or diffed with: its source without its child app objects."""
    post = overrides(node.spec) if node.spec is not None else None

    def own(manifests: list[Manifest]) -> tuple[list[Manifest], list[str]]:
        problems: list[str] = []
        if post is not None:
            manifests, problems = post(manifests)
        flux = any(is_app(m) and m.kind != "Application" for m in manifests)
        return split_apps(manifests, flux_sources=flux)[0], problems

    return replace(node.settings, source=replace(node.settings.source, post_render=own))


def selected(root: AppNode, only: tuple[str, ...]) -> set[str]:
    """The apps ``--only`` picks (with their descendants); every app without it."""
    if not only:
        return {n.name for n in root.walk()}
    out: set[str] = set()
    for n in root.walk():
        if n.name in only:
            out |= {d.name for d in n.walk()}
    return out


def tagged(on_event: EventSink, app: str) -> EventSink:
    """Events of one app of the tree, with ``app`` in their data."""
    def sink(ev: Event) -> None:
        on_event(Event(ev.type, ev.message, {**ev.data, "app": app}))
    return sink


def run_layers(node: AppNode, run_one: Any, concurrency: int, *, stop_on_failure: bool) -> bool:
    """Run ``run_one(child) -> ok`` over the node's children layer by layer; False once one failed."""
    for layer in node.layers:
        if len(layer) == 1 or concurrency <= 1:
            oks = [run_one(c) for c in layer]
        else:
            with ThreadPoolExecutor(max_workers=min(concurrency, len(layer))) as pool:
                oks = list(pool.map(run_one, layer))
        if not all(oks) and stop_on_failure:
            return False
    return True


def elapsed(start: float) -> float:
    return time.monotonic() - start
