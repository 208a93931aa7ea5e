"""Turn a folder of a checkout into manifests: plain YAML/JSON files, kustomize folders, Helm charts.

``render`` walks from ``path`` and picks a renderer per folder, the first that applies:

1. a folder with ``kustomization.yaml``/``kustomization.yml``/``Kustomization`` is built as one unit by
   ``kustomize build`` (when ``kustomize`` or ``$KUBECTL_GITOPS_KUSTOMIZE`` is found) or
   ``kubectl kustomize``; kustomizations using ``helmCharts`` get ``--enable-helm``;
2. a folder with ``Chart.yaml`` is rendered by ``helm template RELEASE DIR --namespace NS
   --include-crds --skip-tests -f VALUES… --set…`` (``helm`` on PATH or ``$KUBECTL_GITOPS_HELM``). The release
   is ``--release-name`` or the folder's name; ``--values`` files are relative to the chart; ``--set``,
   ``--set-string`` and ``--set-file`` are passed as given (source.helmset);
3. otherwise every ``*.yaml``/``*.yml``/``*.json`` file is read (multi-document, ``kind: *List``
   flattened into its items), every ``*.jsonnet`` file is evaluated (``source.jsonnet``: Argo CD's
   rules, ``--jsonnet-*`` inputs; ``*.libsonnet`` files are its libraries) and sub-folders are walked the same way.

A folder holding files of which no renderer reads any (only ``*.txt``, ``*.cue``, ``*.libsonnet``, …) is a
problem naming them, not an empty success: the path is likely wrong or the format unsupported. A folder with
nothing in it (or only hidden files such as ``.gitkeep``) still renders to nothing: an app emptied on purpose.

Skipped: hidden files and folders, the sops config ``.sops.yaml``, Helm/kustomize support files lying in a
plain folder (``Chart.lock``, ``values.yaml``, ``values.schema.json``, ``kustomizeconfig.yaml``), and JSON
files that are not Kubernetes objects (no ``apiVersion`` and no ``kind``: ``renovate.json`` and friends).

``--include``/``--exclude`` globs are matched against paths relative to ``path``: file paths for plain
files, the folder path for kustomize and Helm folders. Like ``.gitignore``, a pattern without ``/``
matches any single path component (``--exclude test`` skips every ``test`` folder), a pattern naming a
folder covers everything under it, and ``*`` also matches ``/``.

Problems a user can fix in the repository (invalid YAML, a failed kustomize or helm run, a document that
is not an object) are returned as strings ``file:line: what; what to do`` so that they are all reported
at once; a missing binary raises ``RenderError``.

YAML is read as kubectl reads it (``yamldocs``): YAML 1.1, timestamps kept as strings, a key given twice in
one mapping an error.

A repository is untrusted input (docs/security.md): before a kustomize or Helm unit runs, ``unitguard`` checks
what it may read (no symbolic link leaving the repository) and fetch (nothing, unless ``--allow-remote``); plain
files and folders that are links leaving ``checkout_root`` are problems naming the link, never read.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from kubectl_gitops.errors import RenderError
from kubectl_gitops.model import Manifest, Obj, Origin
from kubectl_gitops.settings import SourceOptions
from kubectl_gitops.source import jsonnet
from kubectl_gitops.source.binaries import helm_binary, kustomize_command, run_renderer
from kubectl_gitops.source.helmset import has_helm_sets, helm_set_args
from kubectl_gitops.source.parse import Out, parse_json, parse_yaml
from kubectl_gitops.source.unitguard import (
    CHART_FILE,
    KUSTOMIZATION_FILES,
    LINK_HINT,
    helm_remote_problems,
    link_problems,
    scan_kustomization,
)
from kubectl_gitops.untrusted.pathguard import is_inside
from kubectl_gitops.untrusted.yamldocs import load as load_yaml

Transform = Callable[[str, str], str]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
READ_SUFFIXES = (*MANIFEST_SUFFIXES, jsonnet.JSONNET_SUFFIX)
SUPPORT_FILES = frozenset({
    ".sops.yaml", "Chart.yaml", "Chart.lock", "values.yaml", "values.yml", "values.schema.json",
    "kustomizeconfig.yaml", "kustomizeconfig.yml",
})
KUSTOMIZE_ORIGIN_ANNOTATION = "config.kubernetes.io/origin"


# --- globs ----------------------------------------------------------------------------------------------


def glob_match(rel: str, pattern: str) -> bool:
    """``.gitignore``-flavoured matching of a posix path relative to the manifests folder (see module doc)."""
    pat = pattern.strip()
    pat = pat[2:] if pat.startswith("./") else pat
    pat = pat.strip("/")
    if not pat:
        return False
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for candidate in prefixes:
        if fnmatchcase(candidate, pat) or (pat.startswith("**/") and fnmatchcase(candidate, pat[3:])):
            return True
    return "/" not in pat and any(fnmatchcase(p, pat) for p in parts)


def _selected(rel: str, opts: SourceOptions) -> bool:
    if opts.include and not any(glob_match(rel, p) for p in opts.include):
        return False
    return not any(glob_match(rel, p) for p in opts.exclude)


# --- render units -----------------------------------------------------------------------------------------


def _kustomize(root: Path, rel_dir: str, allow_remote: bool = False) -> Out:
    out = Out([], [])
    folder = root / rel_dir
    scan = scan_kustomization(root, rel_dir, allow_remote=allow_remote)
    if scan.problems:
        out.problems.extend(scan.problems)
        return out
    # The default restrictor, spelled out: each kustomization loads files from its own folder only.
    cmd = [*kustomize_command(rel_dir), str(folder), "--load-restrictor=LoadRestrictionsRootOnly"]
    if scan.helm:
        cmd += ["--enable-helm", "--helm-command", helm_binary(rel_dir)]
    ok, text = run_renderer(cmd, root=root)
    label = f"try: kubectl kustomize {rel_dir}"
    if not ok:
        out.problems.append(f"{rel_dir}: kustomize build failed: {text}; fix the kustomization ({label})")
        return out
    origin = Origin(rel_dir, None, "kustomize", "")

    def origin_for(line: int, obj: Obj) -> Origin:
        # With `buildMetadata: [originAnnotations]` kustomize says which file each object came from.
        ann = (obj.get("metadata") or {}).get("annotations") or {}
        src = ann.get(KUSTOMIZE_ORIGIN_ANNOTATION) if isinstance(ann, dict) else None
        if isinstance(src, str):
            try:
                path = (load_yaml(src) or {}).get("path")
            except yaml.YAMLError:
                path = None
            if isinstance(path, str) and "://" not in path:
                return Origin(posixpath.normpath(posixpath.join(rel_dir, path)), None, "kustomize", rel_dir)
        return origin

    parse_yaml(out, text, origin, origin_for=origin_for)
    return out


@contextlib.contextmanager
def _without_git(folder: Path) -> Iterator[Path]:
    """``folder``, or a temporary copy of it without ``.git`` when it holds one (a chart at the root of a work tree):
    helm hands every file of the chart folder to ``.Files``, and ``.Files.Get ".git/config"`` would put git's
    config (in CI: the checkout's credentials header) into a manifest."""
    if not (folder / ".git").exists():
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-chart-") as tmp:
        copy = Path(tmp) / folder.resolve().name
        shutil.copytree(folder, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        yield copy


def _helm(root: Path, rel_dir: str, opts: SourceOptions, namespace: str | None, used_values: set[str]) -> Out:
    out = Out([], [])
    folder = root / rel_dir
    helm = helm_binary(rel_dir)
    out.problems.extend(link_problems(root, [rel_dir], "helm"))
    if not opts.allow_remote and not out.problems:  # Chart.yaml itself may be such a link
        out.problems.extend(helm_remote_problems(root, rel_dir))
    if out.problems:
        return out
    try:
        chart = load_yaml((folder / CHART_FILE).read_text()) or {}
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
        out.problems.append(f"{rel_dir}/{CHART_FILE}: cannot read the chart: {e}; fix Chart.yaml")
        return out
    chart_name = str(chart.get("name") or "") if isinstance(chart, dict) else ""
    folder_name = posixpath.basename(rel_dir) if rel_dir != "." else ""
    release = opts.helm_release or folder_name or chart_name or "release"
    values: list[str] = []
    for v in opts.helm_values:
        p = Path(v).expanduser()
        p = p if p.is_absolute() else folder / v
        if p.is_file():
            used_values.add(v)
            values += ["-f", str(p)]
    with _without_git(folder) as chart_dir:
        cmd = [helm, "template", release, str(chart_dir), "--include-crds", "--skip-tests", *values,
               *helm_set_args(opts)]
        if namespace:
            cmd += ["--namespace", namespace]
        ok, text = run_renderer(cmd, root=root)
    if not ok:
        hint = f"try: helm template {release} {rel_dir}"
        if "dependenc" in text or "charts/ directory" in text:
            hint = f"run `helm dependency build {rel_dir}` and commit the charts/ folder"
        out.problems.append(f"{rel_dir}: helm template failed: {text}; fix the chart or its values ({hint})")
        return out
    # `helm template` prefixes each document with `# Source: <chart>/templates/x.yaml`.
    source_lines: list[int] = []
    sources: list[str] = []
    for i, line in enumerate(text.splitlines(), start=1):
        if line.startswith("# Source: "):
            source_lines.append(i)
            sources.append(line[len("# Source: "):].strip())
    detail = f"chart {chart_name or folder_name}, release {release}"

    def origin_for(line: int, obj: Obj) -> Origin:
        i = bisect.bisect_left(source_lines, line) - 1
        if i < 0:
            return Origin(rel_dir, None, "helm", detail)
        template = sources[i].split("/", 1)[1] if "/" in sources[i] else sources[i]
        return Origin(posixpath.normpath(posixpath.join(rel_dir, template)), None, "helm", detail)

    parse_yaml(out, text, Origin(rel_dir, None, "helm", detail), origin_for=origin_for)
    return out


def _plain_file(root: Path, rel: str, transform: Transform | None) -> Out:
    out = Out([], [])
    if not is_inside(root, root / rel):
        out.problems.append(_outside_link_problem(root, rel))
        return out
    try:
        text = (root / rel).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        out.problems.append(f"{rel}: not UTF-8 text ({e.reason} at byte {e.start}); save the file as UTF-8")
        return out
    except OSError as e:
        out.problems.append(f"{rel}: cannot read: {e.strerror}; check the file")
        return out
    if transform is not None:
        text = transform(rel, text)
    if rel.endswith(".json"):
        parse_json(out, text, Origin(rel, None, "file"))
    else:
        parse_yaml(out, text, Origin(rel, None, "file"))
    return out


# --- the walk -------------------------------------------------------------------------------------------


def _join(a: str, b: str) -> str:
    return b if a == "." else f"{a}/{b}"


def _outside_link_problem(root: Path, rel: str) -> str:
    """The problem for ``rel``, whose real path leaves ``root``: names the first link on the way."""
    parts = rel.split("/")
    link = rel
    for i in range(1, len(parts) + 1):
        candidate = "/".join(parts[:i])
        if os.path.islink(root / candidate) and not is_inside(root, root / candidate):
            link = candidate
            break
    return (f"{link}: symbolic link leaves the repository (its target was not read); {LINK_HINT}")


def _walk(root: Path, start: str) -> Iterator[tuple[str, str]]:
    """(kind, repo-relative path) in a stable order: kind is file | jsonnet | kustomize | helm | link (a file or
    folder link whose real path leaves ``root``: never read nor walked) | unread (a file no renderer reads)."""
    seen: set[str] = set()

    def visit(rel_dir: str) -> Iterator[tuple[str, str]]:
        real = os.path.realpath(root / rel_dir)
        if real in seen:  # a symlink loop
            return
        seen.add(real)
        try:
            entries = sorted(os.scandir(root / rel_dir), key=lambda e: e.name)
        except OSError:
            return
        names = {e.name for e in entries}
        if any(n in names for n in KUSTOMIZATION_FILES):
            yield "kustomize", rel_dir
            return
        if CHART_FILE in names:
            yield "helm", rel_dir
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            rel = _join(rel_dir, e.name)
            read = e.name.endswith(READ_SUFFIXES) and e.name not in SUPPORT_FILES
            if e.is_symlink() and not is_inside(root, root / rel):
                if e.is_dir() or read:
                    yield "link", rel  # a dangling link or one to a non-manifest file would not be read
            elif e.is_dir():
                yield from visit(rel)
            elif read and e.is_file():
                yield ("jsonnet" if e.name.endswith(jsonnet.JSONNET_SUFFIX) else "file"), rel
            elif e.name not in SUPPORT_FILES and e.is_file():
                yield "unread", rel

    yield from visit(start)


def _nothing_read_problem(start: str, unread: list[str]) -> str:
    shown = ", ".join(unread[:5]) + (f" and {len(unread) - 5} more" if len(unread) > 5 else "")
    return (f"{start}: no file here is read by a renderer ({shown}); kubectl gitops reads *.yaml, *.yml, *.json "
            "and *.jsonnet files, kustomization folders and Helm charts (*.libsonnet only through import): "
            "convert the files, point --path at the manifests, or --exclude them if this folder is meant to "
            "render nothing")


def render(checkout_root: Path, path: str, opts: SourceOptions, *, transform: Transform | None = None,
           namespace: str | None = None) -> tuple[list[Manifest], list[str]]:
    """Render ``path`` (relative to ``checkout_root``) into manifests, in a stable order.

    Returns ``(manifests, problems)``. ``transform(rel_path, text)`` is applied to every plain file before
    parsing (sops decryption plugs in here); what it raises propagates. ``namespace`` is passed to
    ``helm template`` (``.Release.Namespace``). Raises ``RenderError`` when a needed binary is missing.
    """
    root = Path(checkout_root)
    start = posixpath.normpath(path.replace(os.sep, "/")) if path else "."
    if os.path.lexists(root / start) and not is_inside(root, root / start):
        return [], [_outside_link_problem(root, start)]
    if not (root / start).exists():
        raise RenderError(f"path {start!r} does not exist", hint="check --path")
    if opts.kustomize and not any((root / start / name).is_file() for name in KUSTOMIZATION_FILES):
        raise RenderError(f"-k {start}: the folder has no kustomization.yaml (or kustomization.yml, Kustomization)",
                          hint="point -k at a kustomization folder, or use -f/--path for a folder of manifests")
    # Kustomize and Helm runs are subprocesses: run them in parallel while plain files are parsed here.
    slots: list[Out | Future[Out]] = []
    used_values: set[str] = set()
    charts = 0
    unread: list[str] = []
    jsonnet_problems: list[str] | None = None  # the library folders and variables, checked at the first file
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        if (root / start).is_file() and start.endswith(jsonnet.JSONNET_SUFFIX):
            jsonnet_problems = jsonnet.check_options(root, opts.jsonnet)
            slots.append(Out([], jsonnet_problems) if jsonnet_problems else
                         pool.submit(jsonnet.render_file, root, start, posixpath.dirname(start) or ".", opts.jsonnet))
        elif (root / start).is_file():
            slots.append(_plain_file(root, start, transform))
        else:
            for kind, rel in _walk(root, start):
                inner = posixpath.relpath(rel, start) if start != "." else rel
                if inner != "." and not _selected(inner, opts):
                    continue
                if kind == "unread":
                    unread.append(rel)
                elif kind == "jsonnet":
                    if jsonnet_problems is None:
                        jsonnet_problems = jsonnet.check_options(root, opts.jsonnet)
                        slots.append(Out([], jsonnet_problems))
                    if not jsonnet_problems:
                        slots.append(pool.submit(jsonnet.render_file, root, rel, start, opts.jsonnet))
                elif kind == "file":
                    slots.append(_plain_file(root, rel, transform))
                elif kind == "link":
                    slots.append(Out([], [_outside_link_problem(root, rel)]))
                elif kind == "kustomize":
                    slots.append(pool.submit(_kustomize, root, rel, opts.allow_remote))
                else:
                    charts += 1
                    slots.append(pool.submit(_helm, root, rel, opts, namespace, used_values))
        results = [s.result() if isinstance(s, Future) else s for s in slots]
    if unread and not slots:
        results.append(Out([], [_nothing_read_problem(start, unread)]))
    manifests: list[Manifest] = []
    problems: list[str] = []
    seen: set[str] = set()
    for r in results:
        manifests.extend(r.manifests)
        for problem in r.problems:
            if problem not in seen:  # a base shared by two overlays: once
                seen.add(problem)
                problems.append(problem)
    for v in opts.helm_values:
        if v in used_values:
            continue
        if charts:
            problems.append(f"{start}: values file {v!r} is not in any Helm chart folder under this path; "
                            "give --values relative to the chart folder")
        else:
            problems.append(f"{start}: --values {v!r} given but there is no Helm chart under this path; "
                            "drop --values or point --path at the chart")
    if has_helm_sets(opts) and not charts:
        problems.append(f"{start}: --set/--set-string/--set-file given but there is no Helm chart under this path; "
                        "drop them or point --path at the chart")
    return manifests, problems
