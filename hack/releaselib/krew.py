"""krew-manifest.yaml: rendering it from a build, and checking it the way krew and krew-index do.

The rules (kubernetes-sigs/krew: internal/index/validation/validate.go, cmd/validate-krew-manifest,
internal/installation/move.go and install.go; summarised in shared/reference/compat.md):

* apiVersion krew.googlecontainertools.github.com/v1alpha2, kind Plugin
* metadata.name matches ``^[\\w-]+$``, is not a Windows device name (CON, NUL, COM1, ...)
* spec.shortDescription set, one line; spec.version set, semver with a leading ``v``
* at least one platform; each: uri set (ours: .tar.gz or .zip), sha256 = 64 lowercase hex, bin set,
  files unset or non-empty with from/to set and ``to`` a clean relative path, selector set and not
  empty, keys only ``os``/``arch``, matchLabels/matchExpressions not specified-but-empty
* every platform matches at least one <os,arch> krew knows, and no <os,arch> matches two platforms
* the archive, installed, contains a LICENSE-like file (krew-index's check); the bin exists in it
* krew-index warns about lines over 70 (shortDescription) / 80 (description, caveats) characters;
  here those are errors, and homepage, description and caveats are required (our own bar)

``validate(text)`` returns the problems found (empty list: valid); ``check_archive`` adds the checks
that need the archive file.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import posixpath
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from . import config

API_VERSION = "krew.googlecontainertools.github.com/v1alpha2"
SAFE_NAME = re.compile(r"^[\w-]+$")
SHA256 = re.compile(r"^[a-f0-9]{64}$")
WINDOWS_FORBIDDEN = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
# k8s.io/apimachinery ParseSemantic, with krew's mandatory "v"
SEMVER = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
# cmd/validate-krew-manifest allPlatforms()
KREW_PLATFORMS = [("windows", "386"), ("windows", "amd64"), ("windows", "arm64"), ("linux", "386"),
                  ("linux", "amd64"), ("linux", "arm"), ("linux", "arm64"), ("linux", "ppc64le"),
                  ("darwin", "386"), ("darwin", "amd64"), ("darwin", "arm64")]
LICENSE_FILES = {"license", "license.txt", "license.md", "licenses", "licenses.txt", "licenses.md", "copying",
                 "copying.txt"}
LINE_LIMITS = {"shortDescription": 70, "description": 80, "caveats": 80}

SHORT_DESCRIPTION = "Push-based GitOps: diff, sync in Argo CD waves, prune, secrets"
DESCRIPTION = """\
Push-based GitOps from your laptop, CI or a runbook, with no server in the
cluster. It reads manifests from a Git repository (plain YAML, kustomize,
Helm), shows what would change in the cluster, applies them in Argo CD phases
and sync waves while waiting for health, prunes what left Git, and keeps
sops-encrypted secrets out of every output. Repositories written for Argo CD
work unchanged: it reads the argocd.argoproj.io annotations.

  kubectl gitops waves ./deploy    # the ordered plan, offline
  kubectl gitops diff ./deploy     # what would change (exit 1 if anything)
  kubectl gitops sync ./deploy     # apply wave by wave, wait for health
"""
CAVEATS = """\
This plugin is a Python program: it needs Python {min_python} or newer as
`python3` on your PATH (check: python3 --version).

On first run it unpacks itself into ~/.cache/kubectl-gitops/runtime/
(about 50 MB; safe to delete, it is re-made when needed).

Shell completion of `kubectl gitops <TAB>` (kubectl 1.26+):
  ln -sf "$(command -v kubectl-gitops)" \\
    "$(dirname "$(command -v kubectl-gitops)")/kubectl_complete-gitops"
"""


def render(version: str, archives: list[tuple[str, str, str]]) -> str:
    """The manifest for ``version`` and its archives: [(platform "os/arch", archive file name, sha256)]."""
    def block(text: str, indent: str = "    ") -> str:
        return "".join(indent + line if line.strip() else "\n" for line in text.splitlines(keepends=True))

    out = [
        f"apiVersion: {API_VERSION}\n",
        "kind: Plugin\n",
        "metadata:\n",
        f"  name: {config.PLUGIN}\n",
        "spec:\n",
        f"  version: {version}\n",
        f"  homepage: {config.HOMEPAGE}\n",
        f"  shortDescription: {yaml.safe_dump(SHORT_DESCRIPTION, default_style=None, width=1000).splitlines()[0]}\n",
        "  description: |\n",
        block(DESCRIPTION),
        "  caveats: |\n",
        block(CAVEATS.format(min_python=".".join(map(str, config.MIN_PYTHON)))),
        "  platforms:\n",
    ]
    for platform, archive, sha in sorted(archives):
        os_, arch = platform.split("/")
        out += [
            "  - selector:\n",
            "      matchLabels:\n",
            f"        os: {os_}\n",
            f"        arch: {arch}\n",
            f"    uri: {config.RELEASE_URL.format(version=version, archive=archive)}\n",
            f"    sha256: {sha}\n",
            f"    bin: {config.EXECUTABLE}\n",
            "    files:\n",
            *(f"    - from: {name}\n      to: .\n" for name in (config.EXECUTABLE, "LICENSE", "README.md")),
        ]
    return "".join(out)


def _selector_matches(sel: dict[str, Any], labels: dict[str, str]) -> bool:
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in sel.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _selector_problems(sel: Any) -> list[str]:
    if not isinstance(sel, dict):
        return ["nil selector is not supported"]
    labels, exprs = sel.get("matchLabels"), sel.get("matchExpressions")
    if labels is None and not exprs:
        return ["empty selector is not supported"]
    keys = list(labels or {}) + [e.get("key") for e in exprs or [] if isinstance(e, dict)]
    out = [f"key {k!r} not supported (only os and arch)" for k in keys if k not in ("os", "arch")]
    if labels is not None and not labels:
        out.append("`matchLabels` specified but empty")
    if exprs is not None and not exprs:
        out.append("`matchExpressions` specified but empty")
    for e in exprs or []:
        if not isinstance(e, dict) or e.get("operator") not in ("In", "NotIn", "Exists", "DoesNotExist"):
            out.append(f"matchExpressions entry {e!r} has no valid operator")
    return out


def _long_lines(text: str, limit: int) -> list[str]:
    # krew-index lets a line run long when it is a single word (a URL)
    return [line for line in text.split("\n") if len(line) > limit and " " in line.strip()]


def validate(text: str, *, expect_name: str | None = config.PLUGIN) -> list[str]:
    """Problems of a manifest, in krew's words where krew has words for them; [] when valid."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return [f"not YAML: {e}"]
    if not isinstance(doc, dict):
        return ["the manifest is not a mapping"]
    problems: list[str] = []
    if doc.get("apiVersion") != API_VERSION:
        problems.append(f"apiVersion={doc.get('apiVersion')!r}, krew supports only {API_VERSION!r}")
    if doc.get("kind") != "Plugin":
        problems.append(f"kind={doc.get('kind')!r}, only 'Plugin' is supported")
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not SAFE_NAME.match(name) or name.upper() in WINDOWS_FORBIDDEN:
        problems.append(f"the plugin name {name!r} is not allowed, must match {SAFE_NAME.pattern}")
    elif expect_name is not None and name != expect_name:
        problems.append(f"plugin should be named {expect_name!r}, not {name!r}")
    spec = doc.get("spec") or {}
    short = spec.get("shortDescription")
    if not short:
        problems.append("should have a short description")
    elif "\n" in str(short) or "\r" in str(short):
        problems.append("should not have line breaks in short description")
    version = spec.get("version")
    if not version:
        problems.append("should have a version specified")
    elif not SEMVER.match(str(version)):
        problems.append(f"version {version!r} is not semver with a leading 'v' (e.g. v1.2.3)")
    for field in ("homepage", "description", "caveats"):
        if not spec.get(field):
            problems.append(f"spec.{field} is missing")
    for field, limit in LINE_LIMITS.items():
        for line in _long_lines(str(spec.get(field) or ""), limit):
            problems.append(f"spec.{field}: line longer than {limit} characters: {line!r}")
    platforms = spec.get("platforms")
    if not platforms:
        problems.append("should have a platform specified")
        return problems
    for i, p in enumerate(platforms):
        where = f"spec.platforms[{i}]"
        if not isinstance(p, dict):
            problems.append(f"{where} is not a mapping")
            continue
        uri = p.get("uri")
        if not uri:
            problems.append(f"{where}: `uri` has to be set")
        elif not str(uri).endswith((".tar.gz", ".tgz", ".zip")):
            problems.append(f"{where}: uri {uri!r} is not a .tar.gz or .zip archive")
        sha = p.get("sha256")
        if not sha:
            problems.append(f"{where}: `sha256` sum has to be set")
        elif not SHA256.match(str(sha)):
            problems.append(f"{where}: `sha256` value {sha} is not valid, must match pattern {SHA256.pattern}")
        if not p.get("bin"):
            problems.append(f"{where}: `bin` has to be set")
        files = p.get("files")
        if files is not None:
            if not files:
                problems.append(f"{where}: `files` has to be unspecified or non-empty")
            for f in files or []:
                if not isinstance(f, dict) or not f.get("from"):
                    problems.append(f"{where}: `from` field has to be set")
                elif not f.get("to"):
                    problems.append(f"{where}: `to` field has to be set")
                elif posixpath.normpath(str(f["to"])) != str(f["to"]) or str(f["to"]).startswith(("/", "..")):
                    problems.append(f"{where}: the provided path is not clean or leaves the plugin folder: {f['to']!r}")
        sel_problems = _selector_problems(p.get("selector"))
        problems += [f"{where}: invalid platform selector: {m}" for m in sel_problems]
        if not sel_problems and not any(_selector_matches(p["selector"], {"os": o, "arch": a})
                                        for o, a in KREW_PLATFORMS):
            problems.append(f"{where}: selector {p['selector']} doesn't match any supported platforms")
    for os_, arch in KREW_PLATFORMS:
        hits = [i for i, p in enumerate(platforms) if isinstance(p, dict) and not _selector_problems(p.get("selector"))
                and _selector_matches(p["selector"], {"os": os_, "arch": arch})]
        if len(hits) > 1:
            problems.append(f"multiple spec.platforms (at indexes {hits}) have overlapping selectors that select "
                            f"os={os_}/arch={arch}")
    return problems


def archive_members(data: bytes, name: str) -> dict[str, int]:
    """File name -> mode of the regular files in a .tar.gz or .zip archive."""
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist() if not i.is_dir()}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
        return {m.name: m.mode for m in tf.getmembers() if m.isfile()}


def installed_files(members: dict[str, int], files: list[dict[str, str]] | None) -> dict[str, int]:
    """Where krew puts each archive member (path in the plugin folder -> mode), after ``files`` moves."""
    if files is None:
        return dict(members)
    out: dict[str, int] = {}
    for op in files:
        src, to = op["from"].strip("/"), op["to"]
        for m in _matching(members, src):
            if m == src:  # a file named directly is renamed to `to` ("." keeps its name)
                dest = posixpath.basename(m) if posixpath.normpath(to) == "." else to
            else:  # a glob's matches go into the folder `to`
                dest = posixpath.join(to, posixpath.basename(m))
            out[posixpath.normpath(dest)] = members[m]
    return out


def _matching(members: dict[str, int], pattern: str) -> list[str]:
    # Go's filepath.Glob: `*` does not cross "/"
    return [m for m in members if m == pattern or (m.count("/") == pattern.count("/")
                                                    and fnmatch.fnmatchcase(m, pattern))]


def check_archive(platform_entry: dict[str, Any], archive: Path) -> list[str]:
    """The checks krew and krew-index make when installing ``archive`` for this platform entry."""
    data = archive.read_bytes()
    problems = []
    sha = hashlib.sha256(data).hexdigest()
    if sha != platform_entry.get("sha256"):
        problems.append(f"{archive.name}: sha256 {sha} differs from the manifest's {platform_entry.get('sha256')}")
    if not str(platform_entry.get("uri", "")).endswith("/" + archive.name):
        problems.append(f"{archive.name}: the manifest's uri {platform_entry.get('uri')} names another file")
    members = archive_members(data, archive.name)
    for op in platform_entry.get("files") or []:
        if not _matching(members, op["from"].strip("/")):
            problems.append(f"{archive.name}: no files in the plugin archive matched {op['from']!r}")
    installed = installed_files(members, platform_entry.get("files"))
    bin_ = platform_entry.get("bin", "")
    if bin_ not in installed:
        problems.append(f"{archive.name}: bin {bin_!r} is not in the installed files {sorted(installed)}")
    elif not installed[bin_] & 0o111:
        problems.append(f"{archive.name}: bin {bin_!r} is not executable")
    if not any(posixpath.basename(p).lower() in LICENSE_FILES for p in installed):
        problems.append(f"{archive.name}: LICENSE (or alike) file is not extracted from the archive")
    return problems


def check(manifest: Path, archives_dir: Path | None = None) -> list[str]:
    """``validate`` plus, for every platform whose archive is in ``archives_dir``, ``check_archive``."""
    text = manifest.read_text()
    problems = validate(text)
    if archives_dir is None or problems:
        return problems
    for p in yaml.safe_load(text)["spec"]["platforms"]:
        archive = archives_dir / str(p["uri"]).rsplit("/", 1)[-1]
        if archive.exists():
            problems += check_archive(p, archive)
    return problems
