"""Turn a folder of a checkout into manifests: plain YAML/JSON files, kustomize folders, Helm charts.

``render`` walks from ``path`` and picks a renderer per folder, the first that applies:

1. a folder with ``kustomization.yaml``/``kustomization.yml``/``Kustomization`` is built as one unit by
   ``kustomize build`` (when ``kustomize`` or ``$KUBECTL_GITOPS_KUSTOMIZE`` is found) or
   ``kubectl kustomize``; kustomizations using ``helmCharts`` get ``--enable-helm``;
2. a folder with ``Chart.yaml`` is rendered by ``helm template RELEASE DIR --namespace NS
   --include-crds --skip-tests -f VALUES…`` (``helm`` on PATH or ``$KUBECTL_GITOPS_HELM``). The release
   is ``--release-name`` or the folder's name; ``--values`` files are relative to the chart;
3. otherwise every ``*.yaml``/``*.yml``/``*.json`` file is read (multi-document, ``kind: *List``
   flattened into its items) and sub-folders are walked the same way.

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

A repository is untrusted input (docs/security.md); before anything is read or run:

* Symbolic links. A plain file or folder that is a link (or sits under one) whose real path leaves
  ``checkout_root`` is a problem naming the link; its target is never read. kustomize and helm follow links
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

import bisect
import json
import os
import posixpath
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from .errors import RenderError
from .model import Manifest, Obj, Origin
from .pathguard import is_inside
from .settings import SourceOptions
from .yamldocs import DuplicateKeyError, LimitError, documents, load_json
from .yamldocs import load as load_yaml

Transform = Callable[[str, str], str]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILE = "Chart.yaml"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
SUPPORT_FILES = frozenset({
    ".sops.yaml", "Chart.yaml", "Chart.lock", "values.yaml", "values.yml", "values.schema.json",
    "kustomizeconfig.yaml", "kustomizeconfig.yml",
})
HELM_ENV = "KUBECTL_GITOPS_HELM"
KUSTOMIZE_ENV = "KUBECTL_GITOPS_KUSTOMIZE"
TIMEOUT_ENV = "KUBECTL_GITOPS_RENDER_TIMEOUT"  # seconds per kustomize/helm run; default 300
KUSTOMIZE_ORIGIN_ANNOTATION = "config.kubernetes.io/origin"


# --- YAML -----------------------------------------------------------------------------------------------


def _items_lines(node: yaml.Node) -> list[int]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "items" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return []


def _type_name(data: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(data), type(data).__name__)


@dataclass
class _Out:
    manifests: list[Manifest]
    problems: list[str]


def _add_document(out: _Out, data: Any, origin: Origin, node: yaml.Node | None) -> None:
    """One parsed document: an object, or a ``*List`` whose items are flattened."""
    where = f"{origin.path}:{origin.line}" if origin.line else str(origin)
    if not isinstance(data, dict):
        out.problems.append(f"{where}: expected a Kubernetes object (a mapping with apiVersion, kind, metadata), "
                            f"found {_type_name(data)}; fix the document or move the file out of the manifests folder")
        return
    kind = data.get("kind")
    items = data.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        lines = _items_lines(node) if node is not None else []
        for i, item in enumerate(items):
            line = lines[i] if i < len(lines) else origin.line
            item_origin = Origin(origin.path, line, origin.renderer, origin.detail)
            if isinstance(item, dict):
                out.manifests.append(Manifest(item, item_origin))
            else:
                out.problems.append(f"{origin.path}:{line}: item {i} of {kind} is {_type_name(item)}, not an object; "
                                    "fix the list")
        return
    out.manifests.append(Manifest(data, origin))


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column:column + 1] if 0 <= line < len(lines) else ""


def _parse_yaml(out: _Out, text: str, origin: Origin, *,
                origin_for: Callable[[int, Obj], Origin] | None = None) -> None:
    try:
        for data, line, node in documents(text):
            if origin_for is not None and isinstance(data, dict):
                o = origin_for(line, data)
            elif origin.renderer == "file":
                o = Origin(origin.path, line, "file", origin.detail)
            else:
                o = origin
            _add_document(out, data, o, node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        err_line = mark.line + 1 if mark is not None else None
        what = e.problem or str(e)
        if e.context and not isinstance(e, DuplicateKeyError):
            what = f"{what} ({e.context})"
        if mark is not None and _char_at(text, mark.line, mark.column) == "\t":  # libyaml does not name it
            what = f"a tab character at column {mark.column + 1}; YAML indents with spaces only"
        where = f"{origin.path}:{err_line}" if err_line and origin.renderer == "file" else str(origin)
        if isinstance(e, LimitError):  # a size, count, depth or alias limit, not a syntax error
            out.problems.append(f"{where}: {e.problem}; {e.hint} (the rest of this file was not read)")
            return
        out.problems.append(f"{where}: invalid YAML: {what}; fix the syntax (the rest of this file was not read)")
    except yaml.YAMLError as e:  # e.g. an unknown tag without a mark
        out.problems.append(f"{origin}: invalid YAML: {e}; fix the syntax")


def _parse_json(out: _Out, text: str, origin: Origin) -> None:
    try:
        data = load_json(text)  # json.loads within the size and depth limits of every repository file
    except LimitError as e:
        out.problems.append(f"{origin.path}:{e.line}: {e.problem}; {e.hint}")
        return
    except json.JSONDecodeError as e:
        out.problems.append(f"{origin.path}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno}); fix the syntax")
        return
    if isinstance(data, dict) and "apiVersion" not in data and "kind" not in data:
        return  # renovate.json, package.json, …: not a manifest
    _add_document(out, data, Origin(origin.path, 1, "file"), None)


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


# --- binaries -------------------------------------------------------------------------------------------


def _timeout() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV) or 300)
    except ValueError:
        return 300.0


def _from_env(var: str, what: str) -> str | None:
    value = os.environ.get(var)
    if not value:
        return None
    found = shutil.which(value)
    if not found:
        raise RenderError(f"{var}={value} does not name an executable {what} binary",
                          hint=f"point {var} at the {what} binary, or unset it to use the one on PATH")
    return found


def helm_binary(rel_dir: str = ".") -> str:
    """The helm to run: ``$KUBECTL_GITOPS_HELM``, else ``helm`` on PATH; RenderError naming both otherwise."""
    found = _from_env(HELM_ENV, "helm") or shutil.which("helm")
    if not found:
        raise RenderError(f"{rel_dir}: rendering this Helm chart needs the 'helm' binary, which is not on PATH",
                          hint="install Helm 3 (https://helm.sh/docs/intro/install/) or set "
                               f"{HELM_ENV}=/path/to/helm")
    return found


def kustomize_command(rel_dir: str = ".") -> list[str]:
    """``[kustomize, build]`` or ``[kubectl, kustomize]``: ``$KUBECTL_GITOPS_KUSTOMIZE``, ``kustomize``, kubectl."""
    env = _from_env(KUSTOMIZE_ENV, "kustomize")
    if env:
        return [env, "kustomize"] if Path(env).name.startswith("kubectl") else [env, "build"]
    found = shutil.which("kustomize")
    if found:
        return [found, "build"]
    kubectl = os.environ.get("KUBECTL_PATH") or shutil.which("kubectl")  # KUBECTL_PATH: set by kubectl for plugins
    if kubectl and shutil.which(kubectl):
        return [kubectl, "kustomize"]
    raise RenderError(f"{rel_dir}: building this kustomization needs 'kustomize' or 'kubectl', neither is on PATH",
                      hint=f"install kubectl (https://kubernetes.io/docs/tasks/tools/) or kustomize, or set "
                           f"{KUSTOMIZE_ENV}=/path/to/kustomize")


# kubectl's log prefix: `E1121 05:19:08.292223    1733 run.go:72] "command failed" err="..."`
_KLOG = re.compile(r'^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.-]+:\d+\] (?:"command failed" err=)?(.*)$')


def _unklog(line: str) -> str:
    """The message of a klog line (``kubectl kustomize`` errors), without the timestamp, pid and quoting."""
    m = _KLOG.match(line.strip())
    if not m:
        return line
    msg = m.group(1)
    if len(msg) >= 2 and msg[0] == msg[-1] == '"':
        try:
            msg = json.loads(msg)
        except ValueError:
            msg = msg[1:-1]
    return str(msg)


def _run(cmd: list[str], *, root: Path) -> tuple[bool, str]:
    """(ok, stdout or a one-paragraph error) of a renderer run; temp paths are shown relative to the repo."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_timeout(), check=False,
                              stdin=subprocess.DEVNULL, cwd=root)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {_timeout():.0f}s (raise {TIMEOUT_ENV})"
    except OSError as e:
        raise RenderError(f"cannot run {cmd[0]}: {e.strerror}", hint="check that the binary exists and is executable",
                          ) from None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip()
        err = err.replace(str(root) + os.sep, "").replace(str(root), ".")
        lines = [_unklog(ln) for ln in err.splitlines() if ln.strip()]
        return False, " | ".join(lines[-6:]) or f"exit code {proc.returncode}"
    return True, proc.stdout


# --- containment and network (see the module doc) ---------------------------------------------------------

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
            child = _join(rel, e.name)
            if e.is_symlink():
                if not is_inside(root, root / child):
                    found.add(child)
                elif e.is_dir():
                    stack.append(child)
            elif e.is_dir(follow_symlinks=False):
                stack.append(child)
    return sorted(found)


def _link_problems(root: Path, folders: list[str], what: str) -> list[str]:
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
    out.problems.extend(_link_problems(root, out.folders, "kustomize"))
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


# --- render units -----------------------------------------------------------------------------------------


def _kustomize(root: Path, rel_dir: str, allow_remote: bool = False) -> _Out:
    out = _Out([], [])
    folder = root / rel_dir
    scan = scan_kustomization(root, rel_dir, allow_remote=allow_remote)
    if scan.problems:
        out.problems.extend(scan.problems)
        return out
    # The default restrictor, spelled out: each kustomization loads files from its own folder only.
    cmd = [*kustomize_command(rel_dir), str(folder), "--load-restrictor=LoadRestrictionsRootOnly"]
    if scan.helm:
        cmd += ["--enable-helm", "--helm-command", helm_binary(rel_dir)]
    ok, text = _run(cmd, root=root)
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

    _parse_yaml(out, text, origin, origin_for=origin_for)
    return out


def _helm(root: Path, rel_dir: str, opts: SourceOptions, namespace: str | None, used_values: set[str]) -> _Out:
    out = _Out([], [])
    folder = root / rel_dir
    helm = helm_binary(rel_dir)
    out.problems.extend(_link_problems(root, [rel_dir], "helm"))
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
    cmd = [helm, "template", release, str(folder), "--include-crds", "--skip-tests"]
    if namespace:
        cmd += ["--namespace", namespace]
    for v in opts.helm_values:
        p = Path(v).expanduser()
        p = p if p.is_absolute() else folder / v
        if p.is_file():
            used_values.add(v)
            cmd += ["-f", str(p)]
    ok, text = _run(cmd, root=root)
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

    _parse_yaml(out, text, Origin(rel_dir, None, "helm", detail), origin_for=origin_for)
    return out


def _plain_file(root: Path, rel: str, transform: Transform | None) -> _Out:
    out = _Out([], [])
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
        _parse_json(out, text, Origin(rel, None, "file"))
    else:
        _parse_yaml(out, text, Origin(rel, None, "file"))
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
    """(kind, repo-relative path) in a stable order: kind is file | kustomize | helm | link (a file or folder
    link whose real path leaves ``root``: never read nor walked)."""
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
            if e.is_symlink() and not is_inside(root, root / rel):
                if e.is_dir() or (e.name.endswith(MANIFEST_SUFFIXES) and e.name not in SUPPORT_FILES):
                    yield "link", rel  # a dangling link or one to a non-manifest file would not be read
            elif e.is_dir():
                yield from visit(rel)
            elif e.name.endswith(MANIFEST_SUFFIXES) and e.name not in SUPPORT_FILES and e.is_file():
                yield "file", rel

    yield from visit(start)


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
    # Kustomize and Helm runs are subprocesses: run them in parallel while plain files are parsed here.
    slots: list[_Out | Future[_Out]] = []
    used_values: set[str] = set()
    charts = 0
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        if (root / start).is_file():
            slots.append(_plain_file(root, start, transform))
        else:
            for kind, rel in _walk(root, start):
                inner = posixpath.relpath(rel, start) if start != "." else rel
                if inner != "." and not _selected(inner, opts):
                    continue
                if kind == "file":
                    slots.append(_plain_file(root, rel, transform))
                elif kind == "link":
                    slots.append(_Out([], [_outside_link_problem(root, rel)]))
                elif kind == "kustomize":
                    slots.append(pool.submit(_kustomize, root, rel, opts.allow_remote))
                else:
                    charts += 1
                    slots.append(pool.submit(_helm, root, rel, opts, namespace, used_values))
        results = [s.result() if isinstance(s, Future) else s for s in slots]
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
    return manifests, problems
