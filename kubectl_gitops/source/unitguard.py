"""Before a kustomize or Helm unit runs: what it may read (links) and fetch (the network).

A repository is untrusted input (docs/security.md). kustomize and helm are Go programs we cannot steer from
the inside, so everything they would read or fetch is checked here first, from the repository's files:

* Symbolic links. kustomize and helm follow links
  (``{{ .Files.Get "k" }}`` with ``k -> ~/.kube/config``), so a kustomize or Helm unit is not run while any
  link leaving the root lies under a folder it may load from: the unit folder, every kustomization it
  references locally (recursively) and every vendored chart; links to folders inside the root are followed
  while looking. kustomize always runs with ``--load-restrictor=LoadRestrictionsRootOnly`` (its default),
  which keeps each kustomization's file loads under its own folder; references to other kustomizations
  (``resources: [../base]``) must resolve inside the root.
* Network. Unless ``SourceOptions.allow_remote`` (``--allow-remote``), a unit whose kustomizations name a
  remote target is not run: ``resources``/``bases``/``components``/``generators``/``transformers``/
  ``validators`` entries, and every file field (``patches[].path``, ``crds``, ``configurations``,
  ``openapi.path``, generator ``files``/``envs``, ``helmCharts[].valuesFile``, …), that kustomize would fetch
  (``http(s)://``, ``ssh://``, ``file://``, ``oci://``, ``git::``, ``gh:``, ``git@host:``, ``github.com/…``,
  ``_git/``, ``?ref=``), and ``helmCharts`` whose chart is not vendored in ``helmGlobals.chartHome`` (default
  ``charts/``), which kustomize would ``helm pull``. A Helm chart whose ``Chart.yaml``/``requirements.yaml``
  dependencies are missing from ``charts/`` and name a repository is refused the same way (``helm template`` is
  never given ``--dependency-update``, so it would fail anyway; this says why). ``--values`` files named on the
  command line are the user's, not the repository's, and are not checked. The check reads kustomizations with
  our YAML reader; a kustomization it cannot read is refused (fail closed), as kustomize would not build it.

These checks are hand-written: no library parses kustomizations short of kustomize itself (Go). The subprocess
environment is the user's own (nothing in it comes from the repository); kustomize gives helm a throw-away
``HELM_CONFIG_HOME`` itself, and our own ``helm template`` of a local chart downloads nothing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubectl_gitops.untrusted.pathguard import is_inside
from kubectl_gitops.untrusted.yamldocs import documents
from kubectl_gitops.untrusted.yamldocs import load as load_yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILE = "Chart.yaml"

REMOTE_HINT = "vendor it into the repository or pass --allow-remote (see docs/security.md)"
LINK_HINT = "replace the link with a regular file, or make it point inside the repository"
# What kustomize's remote-target parser (api/internal/git/repospec.go) and its loader (http(s) files) accept.
_REMOTE_PREFIXES = ("git::", "gh:", "git@", "github.com/", "github.com:", "oci:")
_REMOTE_QUERY = re.compile(r"[?&](?:ref|version|timeout|submodules|depth)=")
_UNIT_REFS = ("resources", "bases", "components")  # files or kustomization folders
_PLUGIN_REFS = ("generators", "transformers", "validators")  # plugin configs: files, folders or inline YAML
_FILE_REFS = ("crds", "configurations", "patchesStrategicMerge")  # files (or inline patches)
_PATH_ITEMS = ("patches", "patchesJson6902", "replacements")  # lists of {path: file}
_GENERATORS = ("configMapGenerator", "secretGenerator")
_HELM_PLUGIN = "HelmChartInflationGenerator"


def _shown(value: str) -> str:
    """A repository string for a message: one line, bounded."""
    one = value.replace("\n", " ").strip()
    return one if len(one) <= 120 else one[:117] + "..."


def is_remote_target(ref: str) -> bool:
    """Would kustomize (or helm, for values files) fetch this reference from the network?

    True for URLs of any scheme, go-getter forms (``git::``), ``gh:``, scp-like ``user@host:path``, bare
    ``github.com/org/repo`` and Azure ``_git/`` paths, and anything carrying a remote query (``?ref=``).
    Errs on the side of "remote": a local file with such a name is refused with a clear hint."""
    s = ref.strip().lower()
    if "://" in s or s.startswith(_REMOTE_PREFIXES) or "_git/" in s or _REMOTE_QUERY.search(s):
        return True
    head = s.split("/", 1)[0]
    return "@" in head or (":" in head and not re.match(r"^[a-z]:$", head))


def _kustomization_file(folder: Path) -> Path | None:
    return next((folder / n for n in KUSTOMIZATION_FILES if (folder / n).is_file()), None)


def _rel(root: Path, path: Path | str) -> str:
    """``path`` relative to ``root`` for messages (lexically, links not followed)."""
    rel = os.path.relpath(os.path.normpath(path), os.path.normpath(root))
    return Path(rel).as_posix()


def _links_leaving(root: Path, folders: list[str]) -> list[str]:
    """Repository-relative paths of links under ``folders`` whose real path leaves ``root``.

    Like ``pathguard.escaping_links``, but links to folders that stay inside the root are followed (helm
    and kustomize follow them: ``charts/sub -> ../../lib/sub``), each real folder visited once (no loops);
    ``.git`` is skipped."""
    found: set[str] = set()
    seen: set[str] = set()
    stack = list(folders)
    while stack:
        rel = stack.pop()
        real = os.path.realpath(root / rel)
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = list(os.scandir(root / rel))
        except OSError:
            continue
        for e in entries:
            if e.name == ".git":
                continue
            child = e.name if rel == "." else f"{rel}/{e.name}"
            if e.is_symlink():
                if not is_inside(root, root / child):
                    found.add(child)
                elif e.is_dir():
                    stack.append(child)
            elif e.is_dir(follow_symlinks=False):
                stack.append(child)
    return sorted(found)


def link_problems(root: Path, folders: list[str], what: str) -> list[str]:
    return [f"{link}: symbolic link leaves the repository; {what} would follow it (its target was not read); "
            f"{LINK_HINT}" for link in _links_leaving(root, folders)]


@dataclass
class _KustomizeScan:
    """What a kustomization tree needs, found before kustomize runs."""

    problems: list[str]
    folders: list[str]  # repo-relative folders kustomize may load from (kustomizations, vendored charts)
    helm: bool = False  # some kustomization inflates Helm charts (needs --enable-helm)


class _Scanner:
    """Walks a kustomization and everything it references locally (see the module doc)."""

    def __init__(self, root: Path, allow_remote: bool):
        self.root = root
        self.allow_remote = allow_remote
        self.out = _KustomizeScan([], [])
        self.seen: set[str] = set()

    def problem(self, where: str, text: str) -> None:
        self.out.problems.append(f"{where}: {text}")

    def kustomization(self, folder: Path) -> None:
        real = os.path.realpath(folder)
        if real in self.seen:
            return
        self.seen.add(real)
        self.out.folders.append(_rel(self.root, folder))
        kfile = _kustomization_file(folder)
        if kfile is None:
            return
        where = _rel(self.root, kfile)
        if not is_inside(self.root, kfile):
            return  # a link leaving the root: reported by the link check, never read
        try:
            doc = load_yaml(kfile.read_bytes().decode("utf-8-sig"))
        except (yaml.YAMLError, OSError, UnicodeDecodeError, ValueError) as e:
            self.problem(where, f"cannot read the kustomization ({_reason(e)}); fix the file "
                                "(it is checked for remote references and paths leaving the repository before "
                                "kustomize runs)")
            return
        if isinstance(doc, dict):
            self.config(doc, folder, where)

    def config(self, doc: dict[str, Any], folder: Path, where: str) -> None:
        """A kustomization, or a builtin plugin's config (the same field names)."""
        for field in _UNIT_REFS:
            for v in _strings(doc.get(field)):
                self.ref(v, folder, where, field, unit=True)
        for field in _PLUGIN_REFS:
            for v in _strings(doc.get(field)):
                if "\n" in v:  # an inline plugin config
                    self.inline(v, folder, where)
                else:
                    self.ref(v, folder, where, field, plugin=True)
        for field in _FILE_REFS:
            for v in _strings(doc.get(field)):
                if "\n" not in v:  # else an inline patch
                    self.ref(v, folder, where, field)
        for v in _strings(doc.get("paths")):  # PatchStrategicMergeTransformer
            self.ref(v, folder, where, "paths")
        if doc.get("kind") in ("PatchTransformer", "PatchJson6902Transformer"):
            for v in _strings(doc.get("path")):
                self.ref(v, folder, where, "path")
        for field in _PATH_ITEMS:
            for item in _mappings(doc.get(field)):
                for v in _strings(item.get("path")):
                    self.ref(v, folder, where, f"{field}[].path")
        openapi = doc.get("openapi")
        if isinstance(openapi, dict):
            for v in _strings(openapi.get("path")):
                self.ref(v, folder, where, "openapi.path")
        generators = [g for f in _GENERATORS for g in _mappings(doc.get(f))]
        if doc.get("kind") in ("ConfigMapGenerator", "SecretGenerator"):
            generators.append(doc)
        for gen in generators:
            for v in _strings(gen.get("files")):
                self.ref(v.split("=", 1)[1] if "=" in v else v, folder, where, "files")
            for v in [*_strings(gen.get("envs")), *_strings(gen.get("env"))]:
                self.ref(v, folder, where, "envs")
        charts = list(_mappings(doc.get("helmCharts")))
        globals_: dict[str, Any] = doc.get("helmGlobals") or {}
        if not isinstance(globals_, dict):
            globals_ = {}
        if doc.get("kind") == _HELM_PLUGIN:
            charts.append(doc)
            globals_ = doc
        if charts or "helmGlobals" in doc or doc.get("kind") == _HELM_PLUGIN:
            self.out.helm = True
        chart_home = str(globals_.get("chartHome") or "charts")
        config_home = globals_.get("configHome")
        if isinstance(config_home, str) and config_home and not is_inside(self.root, folder / config_home):
            self.problem(where, f"helmGlobals.configHome {_shown(config_home)!r} leaves the repository; "
                                "drop it (kustomize uses a temporary one)")
        for chart in charts:
            self.chart(chart, folder, where, chart_home)

    def chart(self, chart: dict[str, Any], folder: Path, where: str, chart_home: str) -> None:
        name = chart.get("name")
        if not isinstance(name, str) or not name:
            return  # kustomize refuses it ("chart name cannot be empty")
        if not self.ref(chart_home, folder, where, "helmGlobals.chartHome", check_remote=False):
            return
        for v in [*_strings(chart.get("valuesFile")), *_strings(chart.get("additionalValuesFiles"))]:
            self.ref(v, folder, where, "helmCharts[].valuesFile")
        # kustomize 5 looks for the chart in chartHome/NAME-VERSION/NAME when a version is given, else in
        # chartHome/NAME, and runs `helm pull` into that folder when it is missing.
        version = chart.get("version")
        chart_dir = folder / chart_home / (f"{name}-{version}/{name}" if version not in (None, "") else name)
        if not is_remote_target(name) and chart_dir.is_dir():
            if is_inside(self.root, chart_dir):
                self.out.folders.append(_rel(self.root, chart_dir))
            else:
                self.problem(where, f"helmCharts {name!r}: {_rel(self.root, chart_dir)} leaves the repository; "
                                    "vendor the chart inside the repository")
            return
        if self.allow_remote:
            return
        repo = chart.get("repo")
        source = f" from {_shown(repo)}" if isinstance(repo, str) and repo else ""
        self.problem(where, f"helmCharts {_shown(name)!r}{source} is not vendored in "
                            f"{_rel(self.root, chart_dir)}/, so kustomize would download it; "
                            f"{REMOTE_HINT}")

    def ref(self, value: str, folder: Path, where: str, field: str, *, unit: bool = False, plugin: bool = False,
            check_remote: bool = True) -> bool:
        """Check one reference; True when it is a local path inside the root."""
        if check_remote and is_remote_target(value):
            if not self.allow_remote:
                self.problem(where, f"{field} entry {_shown(value)!r} is a remote reference that kustomize would "
                                    f"fetch from the network; {REMOTE_HINT}")
            return False
        target = folder / value
        if not is_inside(self.root, target):
            self.problem(where, f"{field} entry {_shown(value)!r} leaves the repository (after following links); "
                                "keep kustomize inputs inside the repository")
            return False
        if is_inside(self.root / ".git", target):  # git's own files (config, credentials headers), not content
            self.problem(where, f"{field} entry {_shown(value)!r} points into .git, git's own files (its config "
                                "may hold credentials); keep kustomize inputs in the repository's content")
            return False
        if (unit or plugin) and target.is_dir():
            self.kustomization(target)
        elif plugin and target.is_file():
            self.plugin_file(target, folder)
        return True

    def plugin_file(self, path: Path, folder: Path) -> None:
        where = _rel(self.root, path)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError):
            return  # kustomize reports it
        self.inline(text, folder, where)

    def inline(self, text: str, folder: Path, where: str) -> None:
        try:
            docs = [d for d, _line, _node in documents(text)]
        except (yaml.YAMLError, ValueError) as e:
            self.problem(where, f"cannot read a plugin configuration ({_reason(e)}); fix it")
            return
        for d in docs:
            if isinstance(d, dict):
                self.config(d, folder, where)  # plugin paths are relative to the kustomization that lists them


def _reason(e: Exception) -> str:
    """One bounded line saying why a file could not be read (never its content beyond YAML's own excerpt)."""
    if isinstance(e, OSError):
        return e.strerror or type(e).__name__
    text = str(e).strip()
    return _shown(text.splitlines()[0]) if text else type(e).__name__


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _mappings(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def scan_kustomization(root: Path, rel_dir: str, *, allow_remote: bool) -> _KustomizeScan:
    """Problems (remote references, paths or links leaving the root) of the kustomization in ``rel_dir``."""
    scanner = _Scanner(root, allow_remote)
    scanner.kustomization(root / rel_dir)
    out = scanner.out
    out.problems.extend(link_problems(root, out.folders, "kustomize"))
    return out


def _chart_dependencies(chart_dir: Path) -> list[dict[str, Any]]:
    deps: list[dict[str, Any]] = []
    for name in (CHART_FILE, "requirements.yaml"):
        try:
            doc = load_yaml((chart_dir / name).read_bytes().decode("utf-8-sig"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError):
            continue  # helm reports an unreadable Chart.yaml
        if isinstance(doc, dict):
            deps.extend(_mappings(doc.get("dependencies")))
    return deps


def _vendored(chart_dir: Path, name: str) -> bool:
    """Is dependency ``name`` in ``charts/`` (as a folder or an archive ``name-<version>.tgz``)?"""
    charts = chart_dir / "charts"
    if (charts / name).is_dir():
        return True
    try:
        return any(e.name.startswith(f"{name}-") and e.name.endswith((".tgz", ".tar.gz")) for e in os.scandir(charts))
    except OSError:
        return False


def helm_remote_problems(root: Path, rel_dir: str) -> list[str]:
    """Dependencies of the chart in ``rel_dir`` (and its vendored sub-charts) that are missing and remote."""
    problems: list[str] = []
    stack = [root / rel_dir]
    seen: set[str] = set()
    while stack:
        chart_dir = stack.pop()
        real = os.path.realpath(chart_dir)
        if real in seen or not is_inside(root, chart_dir):
            continue
        seen.add(real)
        for dep in _chart_dependencies(chart_dir):
            name = dep.get("name")
            repo = dep.get("repository")
            if not isinstance(name, str) or not name:
                continue
            if _vendored(chart_dir, name):
                if (chart_dir / "charts" / name).is_dir():
                    stack.append(chart_dir / "charts" / name)
                continue
            if isinstance(repo, str) and repo and not repo.startswith("file://"):
                problems.append(f"{_rel(root, chart_dir / CHART_FILE)}: dependency {_shown(name)!r} from "
                                f"{_shown(repo)} is not vendored in {_rel(root, chart_dir / 'charts')}/ and would "
                                f"be downloaded; run `helm dependency build` and commit charts/, or "
                                f"{REMOTE_HINT}")
    return problems
