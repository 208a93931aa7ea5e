"""Where a child app's manifests come from, and what its app object changes in them.

* ``resolve_url``: ``--repo-mirror URL=PATH_OR_URL`` maps a source URL (Git or Helm repository) to a local
  clone or another address — air-gapped clusters and tests need it. URLs compare without a trailing ``/``
  or ``.git``.
* ``fetch_chart``: a chart from a Helm repository (http(s) with ``index.yaml``, or an OCI registry: ``oci://``,
  or Argo CD's scheme-less ``registry/path``) is pulled with ``helm pull`` into ``$KUBECTL_GITOPS_CACHE/charts/``
  (helm's repository list and caches live there too, so the user's Helm setup is not changed; registry logins
  are the user's); an exact version is pulled once, a range every time. A mirror written ``oci+http://host/path``
  is a registry without TLS (``helm pull --plain-http``), for local mirrors.
* ``child_source``: the ``SourceOptions`` of a child: Git sources go through the same Git layer and cache as
  ``--repo``; inline Helm values (``values``, ``valuesObject``, ``parameters``) become one values file in the
  tree's private folder, given last, as Argo CD gives them.
* ``apply_overrides`` (the child's ``post_render``): images, common labels/annotations, the target namespace,
  Flux ``postBuild`` substitution, and the Namespace of ``CreateNamespace=true``. Done on the rendered objects
  in Python, so the provenance of decrypted fields (what diffs mask) is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kubectl_gitops.errors import InvalidInputError, SourceError
from kubectl_gitops.model import Manifest, Origin
from kubectl_gitops.settings import SourceOptions, environment
from kubectl_gitops.source import images as image_rules
from kubectl_gitops.source.appspec import ChildSpec, is_app, is_flux_source
from kubectl_gitops.source.binaries import helm_binary
from kubectl_gitops.source.cache import _private_dir, safe_url
from kubectl_gitops.source.poll import tags
from kubectl_gitops.source.semver import newest
from kubectl_gitops.source.validate import CLUSTER_SCOPED
from kubectl_gitops.untrusted.pathguard import is_inside

PostRender = Callable[[list[Manifest]], tuple[list[Manifest], list[str]]]


def _norm(url: str) -> str:
    return url.strip().rstrip("/").removesuffix(".git").rstrip("/")


def resolve_url(url: str, mirrors: tuple[tuple[str, str], ...]) -> str:
    """``url`` as ``--repo-mirror`` maps it (the longest matching prefix wins), else unchanged."""
    n = _norm(url)
    best: tuple[int, str] | None = None
    for src, dst in mirrors:
        s = _norm(src)
        if (n == s or n.startswith(s + "/")) and (best is None or len(s) > best[0]):
            best = (len(s), dst + n[len(s):])
    return best[1] if best else url


def _charts_dir() -> Path:
    base = environment().cache or os.path.join("~", ".cache", "kubectl-gitops")
    return Path(base).expanduser() / "charts"


PLAIN_OCI = "oci+http://"
_EXACT = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")


def fetch_chart(spec: ChildSpec, mirrors: tuple[tuple[str, str], ...]) -> Path:
    """The chart folder of ``spec.chart``, pulled with helm into the chart cache (see the module docstring)."""
    assert spec.chart is not None
    chart = spec.chart
    url = resolve_url(chart.repo_url, mirrors)
    plain_http = url.startswith(PLAIN_OCI)  # a mirror registry without TLS (--repo-mirror URL=oci+http://...)
    if plain_http:
        url = "oci://" + url[len(PLAIN_OCI):]
    elif "://" not in url:  # Argo CD's spelling of an OCI registry: no scheme
        url = "oci://" + url
    oci = url.startswith("oci://")
    key = hashlib.sha256(json.dumps([url, chart.name, chart.version]).encode()).hexdigest()[:16]
    top = _charts_dir()
    _private_dir(top)
    target = top / key
    if _EXACT.match(chart.version) and (target / chart.name / "Chart.yaml").is_file():
        return target / chart.name
    helm = helm_binary(spec.name)
    # helm's repository list and caches stay ours; registry logins (`helm registry login`) stay the user's
    config = os.environ.get("HELM_CONFIG_HOME") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config"), "helm")
    env = dict(os.environ, HELM_CACHE_HOME=str(top / ".helm" / "cache"), HELM_CONFIG_HOME=str(top / ".helm" / "config"),
               HELM_DATA_HOME=str(top / ".helm" / "data"),
               HELM_REGISTRY_CONFIG=os.environ.get("HELM_REGISTRY_CONFIG") or os.path.join(config, "registry",
                                                                                           "config.json"))
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=top))
    try:
        ref = f"{url.rstrip('/')}/{chart.name}" if oci else chart.name
        cmd = [helm, "pull", ref, "--untar", "--untardir", str(tmp)]
        if not oci:
            cmd += ["--repo", url]
        if plain_http:
            cmd.append("--plain-http")
        if chart.version:
            cmd += ["--version", chart.version]
        timeout = environment().render_timeout
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                                  stdin=subprocess.DEVNULL, env=env)
        except subprocess.TimeoutExpired as e:
            raise SourceError(f"app {spec.name}: helm pull of chart {chart.name} from {safe_url(url)} timed out "
                              f"after {timeout:.0f}s", hint="check the chart repository, or map it with "
                              "--repo-mirror URL=MIRROR") from e
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            raise SourceError(f"app {spec.name} ({spec.origin}): cannot fetch chart {chart.name} "
                              f"{chart.version or '(newest)'} from {safe_url(url)}: {last[0]}",
                              hint="check the chart name, version and repository URL, or map the URL to a "
                                   "reachable mirror with --repo-mirror URL=MIRROR")
        if not (tmp / chart.name / "Chart.yaml").is_file():
            raise SourceError(f"app {spec.name}: helm pull of {chart.name} gave no chart folder {chart.name}/",
                              hint="check the chart's name in its repository")
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / chart.name


def _values_file(spec: ChildSpec, private: Path, parent: SourceOptions,
                 mirrors: tuple[tuple[str, str], ...]) -> list[str]:
    """The child's ``--values``: its files (``$ref/...`` copied from the ref source), then the inline values."""
    out: list[str] = []
    for i, f in enumerate(spec.value_files):
        if not f.startswith("$"):
            out.append(f)
            continue
        name, _, rel = f[1:].partition("/")
        url, rev = spec.value_refs[name]
        from kubectl_gitops.source.repo import open_source

        opts = SourceOptions(repo=resolve_url(url, mirrors), ref=rev, path=".", allow_remote=parent.allow_remote)
        with open_source(opts, committed_only=True) as co:
            src = co.root / rel
            if not is_inside(co.root, src) or not src.is_file():
                raise SourceError(f"app {spec.name} ({spec.origin}): values file {f} is not a file of "
                                  f"{safe_url(url)} @ {rev}", hint="fix spec.source.helm.valueFiles")
            dest = private / f"{spec.name}-ref-{i}.yaml"
            dest.write_bytes(src.read_bytes())
        out.append(str(dest))
    if spec.values:
        dest = private / f"{spec.name}-values.json"  # JSON is YAML: helm reads it
        dest.write_text(json.dumps(spec.values))
        out.append(str(dest))
    return out


def _semver_tag(spec: ChildSpec, repo: str) -> str:
    """The newest tag of ``repo`` that satisfies the child's ``ref.semver`` (Flux reads it at every reconcile)."""
    listed = tags(repo)
    tag = newest(listed, spec.semver)
    if tag is None:
        shown = ", ".join(sorted(listed)[:10]) or "none"
        raise InvalidInputError(f"{spec.origin}: {spec.kind} {spec.name}: no tag of {safe_url(spec.repo_url)} "
                                f"satisfies ref.semver {spec.semver!r} (tags: {shown})",
                                hint="push a matching tag or change the constraint")
    return tag


def child_source(spec: ChildSpec, parent: SourceOptions, mirrors: tuple[tuple[str, str], ...], private: Path,
                 post_render: PostRender | None) -> SourceOptions:
    """The source options of the child: as if `--repo`, `--ref`, `--path`, `--values`, ... were given."""
    if spec.chart is not None:
        folder = fetch_chart(spec, mirrors)
        repo, ref, path = str(folder), None, "."
    else:
        repo, ref, path = resolve_url(spec.repo_url, mirrors), spec.ref, spec.path
        if spec.semver:
            ref = _semver_tag(spec, repo)
    # The command's --image/--set/-k/--jsonnet-* are for the root's own objects: a child gets what its app object
    # says (an Application's directory.jsonnet).
    return replace(parent, repo=repo, ref=ref, path=path, include=spec.include, exclude=spec.exclude,
                   helm_values=tuple(_values_file(spec, private, parent, mirrors)),
                   helm_release=spec.release_name or spec.name, work_tree=False, post_render=post_render,
                   images=(), image_fields=(), helm_set=(), helm_set_string=(), helm_set_file=(), kustomize=False,
                   jsonnet=spec.jsonnet)


# --- overrides ----------------------------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?[=-])([^}]*))?\}")
SUBSTITUTE_DISABLED = "kustomize.toolkit.fluxcd.io/substitute"


def _substitute(node: Any, values: dict[str, str]) -> Any:
    """Flux's ``envsubst`` on every string: ``${var}``, ``${var:=default}``, ``${var:-default}``; an unknown
    variable without a default becomes empty, as in Flux (non-strict mode)."""
    if isinstance(node, dict):
        return {_substitute(k, values): _substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, values) for v in node]
    if isinstance(node, str) and "${" in node:
        def repl(m: re.Match[str]) -> str:
            value = values.get(m.group(1))
            if value is None or (value == "" and m.group(2) and m.group(2).startswith(":")):
                return m.group(3) or ""
            return value
        return _VAR.sub(repl, node)
    return node


def _namespaced(m: Manifest) -> bool:
    return (m.group, m.kind) not in CLUSTER_SCOPED and m.kind != "CustomResourceDefinition"


def apply_overrides(spec: ChildSpec, *, middle: PostRender | None = None) -> PostRender:
    """The child's ``post_render``: its app object's overrides on the rendered objects (module docstring), in
    Flux's order: images, labels, annotations and the target namespace; then ``middle`` (the kustomize pass of
    ``ops.apptree_kustomize``: prefixes, patches); then ``postBuild`` substitution; then the Namespace of
    ``CreateNamespace=true``."""

    def post(manifests: list[Manifest]) -> tuple[list[Manifest], list[str]]:
        out = []
        if spec.images:  # kustomize's rules (source.images); one that matches nothing is no error (docs/apps.md)
            image_rules.apply_overrides(manifests, spec.images)
        for m in manifests:
            md = m.metadata
            if spec.common_labels:
                md["labels"] = {**(md.get("labels") or {}), **spec.common_labels}
            if spec.common_annotations:
                md["annotations"] = {**(md.get("annotations") or {}), **spec.common_annotations}
            if spec.target_namespace and _namespaced(m) and middle is None:  # else kustomize sets it, after patches
                md["namespace"] = spec.target_namespace
            out.append(m)
        problems: list[str] = []
        if middle is not None:
            out, problems = middle(out)
        if spec.substitute:
            for m in out:
                if m.annotations.get(SUBSTITUTE_DISABLED) != "disabled":
                    m.obj = _substitute(m.obj, spec.substitute)
        ns = spec.target_namespace or spec.dest_namespace
        if spec.create_namespace and ns and not any(m.kind == "Namespace" and m.name == ns for m in out):
            out.insert(0, Manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                "name": ns, "annotations": {"argocd.argoproj.io/sync-options": "Prune=false"}}},
                Origin(spec.origin, None, "file", f"CreateNamespace=true of {spec.kind} {spec.name}")))
        return out, problems

    return post


def split_apps(manifests: list[Manifest], *, flux_sources: bool) -> tuple[list[Manifest], list[Manifest]]:
    """(the objects of the app itself, its child app objects and the Flux sources they use)."""
    own: list[Manifest] = []
    apps: list[Manifest] = []
    for m in manifests:
        (apps if is_app(m) or (flux_sources and is_flux_source(m)) else own).append(m)
    return own, apps
