"""Argo CD ``Application`` objects read into ``ChildSpec``s: every field we support, and every other field an error.

An Application is data from the repository: each field is checked against the table of what we can honour
(docs/apps.md lists it). A field we cannot honour is a problem naming the object, the field and what to do —
all of them at once — because silently ignoring ``retry`` or ``kustomize.patches`` would sync something other
than what the repository says. Fields that only tune Argo CD's controller and change nothing in what is applied
(``project``, ``revisionHistoryLimit``, ``info``, ``automated.selfHeal``, the resources finalizer) are accepted
and listed as such in docs/apps.md.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from kubectl_gitops.errors import UsageError
from kubectl_gitops.model import Manifest
from kubectl_gitops.source.appspec import Chart, ChildSpec, FieldChecker
from kubectl_gitops.source.images import parse_override
from kubectl_gitops.source.jsonnet import from_argo
from kubectl_gitops.untrusted.yamldocs import load as load_yaml

TODO = "remove it, or pass --apps=apply to hand the Application to an installed Argo CD"

SPEC = {"source", "sources", "destination", "syncPolicy", "ignoreDifferences", "project", "revisionHistoryLimit",
        "info"}
SOURCE = {"repoURL", "targetRevision", "path", "chart", "helm", "directory", "kustomize", "ref", "name"}
HELM = {"valueFiles", "values", "valuesObject", "parameters", "releaseName", "version", "ignoreMissingValueFiles"}
KUSTOMIZE = {"images", "commonLabels", "commonAnnotations", "namespace", "version", "namePrefix", "nameSuffix",
             "patches", "replicas"}
DIRECTORY = {"recurse", "include", "exclude", "jsonnet"}
# Argo CD's build environment (values of directory.jsonnet may use it): what we know when reading the
# Application, and what only Argo's repo server knows (the resolved commit, the cluster's version)
BUILD_UNAVAILABLE = frozenset({"ARGOCD_APP_REVISION", "ARGOCD_APP_REVISION_SHORT", "ARGOCD_APP_REVISION_SHORT_8",
                               "KUBE_VERSION", "KUBE_API_VERSIONS"})
DESTINATION = {"server", "name", "namespace"}
SYNC_POLICY = {"automated", "syncOptions"}
AUTOMATED = {"prune", "selfHeal", "allowEmpty"}
# sync options and what they do here; others are errors
SYNC_OPTIONS = {"CreateNamespace", "PruneLast", "ServerSideApply", "ApplyOutOfSyncOnly", "PrunePropagationPolicy",
                "RespectIgnoreDifferences", "FailOnSharedResource"}


class _Checker(FieldChecker):
    todo = TODO

    def __init__(self, m: Manifest):
        super().__init__(m)
        self.jsonnet: tuple[Any, str] | None = None  # directory.jsonnet and where it is, read once the rest is

    def string(self, node: dict[str, Any], key: str, where: str) -> str:
        value = node.get(key)
        if value is None:
            return ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.bad(f"{where}.{key}", "expected a string; fix the Application")
            return ""
        return str(value)


def _set_path(values: dict[str, Any], name: str, value: Any) -> bool:
    """Helm's ``--set a.b[0].c=v``: dots (``\\.`` escapes one) and list indices. False when it cannot be read."""
    parts = [p.replace("\0", ".") for p in name.replace("\\.", "\0").split(".")]
    node: Any = values
    path: list[str | int] = []
    for part in parts:
        m = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", part)
        if not m:
            return False
        path.append(m.group(1))
        path.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    for i, step in enumerate(path):
        last = i == len(path) - 1
        nxt: Any = value if last else ([] if isinstance(path[i + 1], int) else {})
        if isinstance(step, int):
            if not isinstance(node, list):
                return False
            while len(node) <= step:
                node.append(None)
            if last or node[step] is None:
                node[step] = nxt
            node = node[step]
        else:
            if not isinstance(node, dict):
                return False
            if last or not isinstance(node.get(step), (dict, list)):
                node[step] = nxt
            node = node[step]
    return True


def _typed(text: str) -> Any:
    """A ``--set`` value as Helm types it: true/false, integers, null; everything else a string."""
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's values merge: mappings deeply, everything else replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def _helm(c: _Checker, spec: ChildSpec, helm: dict[str, Any], where: str, refs: dict[str, dict[str, Any]]) -> None:
    files = helm.get("valueFiles") or []
    if not isinstance(files, list):
        c.bad(f"{where}.valueFiles", "expected a list of paths; fix the Application")
        files = []
    for f in files:
        text = str(f)
        if text.startswith("$"):
            ref, _, rest = text[1:].partition("/")
            if ref not in refs:
                c.bad(f"{where}.valueFiles", f"{text!r} names source ref {ref!r}, which no source of spec.sources "
                      "declares (ref: NAME); add it")
                continue
            spec.value_files.append(f"${ref}/{rest}")
        else:
            spec.value_files.append(text)
    values: dict[str, Any] = {}
    raw = helm.get("values")
    if isinstance(raw, str) and raw.strip():
        try:
            parsed = load_yaml(raw)
        except yaml.YAMLError as e:
            c.bad(f"{where}.values", f"not valid YAML ({e}); fix the Application")
            parsed = None
        if parsed is not None and not isinstance(parsed, dict):
            c.bad(f"{where}.values", "must be a YAML mapping; fix the Application")
        elif parsed:
            values = parsed
    elif isinstance(raw, dict):
        values = raw
    elif raw not in (None, ""):
        c.bad(f"{where}.values", "expected a YAML string; fix the Application")
    obj = helm.get("valuesObject")
    if obj is not None:
        if isinstance(obj, dict):
            values = merge(values, obj)
        else:
            c.bad(f"{where}.valuesObject", "expected a mapping; fix the Application")
    params = helm.get("parameters") or []
    for i, p in enumerate(params if isinstance(params, list) else [None]):
        pw = f"{where}.parameters[{i}]"
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            c.bad(pw, "expected {name, value, forceString}; fix the Application")
            continue
        for key in p:
            if key not in ("name", "value", "forceString"):
                c.bad(f"{pw}.{key}", f"not supported by kubectl-gitops; {TODO}")
        value = "" if p.get("value") is None else str(p.get("value"))
        if not _set_path(values, p["name"], value if p.get("forceString") else _typed(value)):
            c.bad(pw, f"cannot read the parameter name {p['name']!r} (a.b[0].c); fix the Application")
    spec.values = values
    spec.release_name = c.string(helm, "releaseName", where) or spec.release_name


def _kustomize(c: _Checker, spec: ChildSpec, k: dict[str, Any], where: str) -> None:
    for i, image in enumerate(k.get("images") or []):
        # "name=newName:tag", "name:tag", "name@digest": kustomize edit set image's syntax, as Argo CD passes it
        try:
            spec.images.append(parse_override(str(image), flag="image override"))
        except UsageError as e:
            c.bad(f"{where}.images[{i}]", f"{e}; fix the Application")
    for key, target in (("commonLabels", spec.common_labels), ("commonAnnotations", spec.common_annotations)):
        node = k.get(key) or {}
        if not isinstance(node, dict):
            c.bad(f"{where}.{key}", "expected a mapping; fix the Application")
            continue
        target.update({str(a): str(b) for a, b in node.items()})
    spec.target_namespace = c.string(k, "namespace", where)
    spec.name_prefix = c.string(k, "namePrefix", where)
    spec.name_suffix = c.string(k, "nameSuffix", where)
    spec.patches = _patches(c, k.get("patches"), f"{where}.patches")
    for i, r in enumerate(k.get("replicas") or []):
        if not isinstance(r, dict) or not r.get("name") or "count" not in r:
            c.bad(f"{where}.replicas[{i}]", "expected {name, count}; fix the Application")
            continue
        try:
            spec.replicas.append({"name": str(r["name"]), "count": int(r["count"])})
        except (TypeError, ValueError):
            c.bad(f"{where}.replicas[{i}].count", "must be a whole number")


def _patches(c: Any, node: Any, where: str) -> list[dict[str, Any]]:
    """kustomize ``patches``: ``patch`` (inline; a ``path`` would read a file of the repository) and ``target``."""
    out = []
    for i, p in enumerate(node or []):
        if not isinstance(p, dict) or not isinstance(p.get("patch"), str):
            c.bad(f"{where}[{i}]", "expected {patch: <inline YAML or JSON patch>, target: {...}}; only inline "
                  "patches are supported")
            continue
        target = p.get("target")
        if target is not None and not isinstance(target, dict):
            c.bad(f"{where}[{i}].target", "expected a selector mapping (group, version, kind, name, namespace, "
                  "labelSelector, annotationSelector)")
            continue
        for key in p:
            if key not in ("patch", "target", "options"):
                c.bad(f"{where}[{i}].{key}", "not supported; use an inline patch with a target")
        out.append({k: v for k, v in p.items() if k in ("patch", "target", "options")})
    return out


def _glob_list(text: str) -> tuple[str, ...]:
    """Argo's include/exclude: a glob, ``{a,b}`` alternatives of globs."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        return tuple(p.strip() for p in text[1:-1].split(",") if p.strip())
    return (text,) if text else ()


def _source(c: _Checker, spec: ChildSpec, src: dict[str, Any], where: str,
            refs: dict[str, dict[str, Any]]) -> None:
    spec.repo_url = c.string(src, "repoURL", where)
    if not spec.repo_url:
        c.bad(f"{where}.repoURL", "missing; name the Git or Helm repository")
    rev = c.string(src, "targetRevision", where)
    chart = c.string(src, "chart", where)
    if chart:
        spec.chart = Chart(spec.repo_url, chart, "" if rev in ("", "HEAD", "*") else rev)
        if src.get("path"):
            c.bad(f"{where}.path", "a source has either chart or path; remove one")
        for key in ("directory", "kustomize"):
            if key in src:
                c.bad(f"{where}.{key}", "a chart source takes helm settings only; remove it")
    else:
        spec.ref = rev or "HEAD"
        spec.path = c.string(src, "path", where) or "."
    if "helm" in src:
        _helm(c, spec, c.known(src["helm"], HELM, f"{where}.helm"), f"{where}.helm", refs)
    if "kustomize" in src:
        _kustomize(c, spec, c.known(src["kustomize"], KUSTOMIZE, f"{where}.kustomize"), f"{where}.kustomize")
    if "directory" in src:
        d = c.known(src["directory"], DIRECTORY, f"{where}.directory")
        spec.include = _glob_list(c.string(d, "include", f"{where}.directory"))
        spec.exclude = _glob_list(c.string(d, "exclude", f"{where}.directory"))
        if d.get("jsonnet") is not None:
            c.jsonnet = (d["jsonnet"], f"{where}.directory.jsonnet")
        if not d.get("recurse"):
            spec.exclude += ("*/*",)  # Argo reads only the folder's own files unless recurse: true
    elif not chart:
        spec.exclude += ("*/*",) if not src.get("helm") and not src.get("kustomize") else ()


def _sync_policy(c: _Checker, spec: ChildSpec, policy: dict[str, Any]) -> None:
    auto = policy.get("automated")
    if auto is not None:
        auto = c.known(auto, AUTOMATED, "spec.syncPolicy.automated")
        spec.prune = auto.get("prune") is True
    options = policy.get("syncOptions") or []
    for i, opt in enumerate(options if isinstance(options, list) else [None]):
        name, sep, value = str(opt).partition("=")
        if not sep or name not in SYNC_OPTIONS:
            c.bad(f"spec.syncPolicy.syncOptions[{i}]", f"{opt!r} is not supported by kubectl-gitops; {TODO}")
            continue
        if name == "CreateNamespace":
            spec.create_namespace = value.lower() == "true"
        elif name == "PrunePropagationPolicy":
            if value not in ("foreground", "background", "orphan"):
                c.bad(f"spec.syncPolicy.syncOptions[{i}]", "use foreground, background or orphan")
            spec.propagation = value
        elif name in ("ServerSideApply", "ApplyOutOfSyncOnly", "RespectIgnoreDifferences",
                      "FailOnSharedResource") and value.lower() != "true":
            c.bad(f"spec.syncPolicy.syncOptions[{i}]",
                  f"{opt} cannot be turned off: kubectl-gitops always works this way (README Decisions); remove it")


def read_application(m: Manifest) -> tuple[ChildSpec, list[str]]:
    """The child app an Application describes, and every problem with it (file:line, field, what to do)."""
    c = _Checker(m)
    spec = ChildSpec(name=m.name, kind="Application", origin=str(m.origin), namespace=m.namespace,
                     release_name=m.name)
    spec.manifest = m
    body = c.known(m.obj.get("spec"), SPEC, "spec")
    for key in m.obj:
        if key not in ("apiVersion", "kind", "metadata", "spec", "status", "operation"):
            c.bad(key, f"not supported by kubectl-gitops; {TODO}")
    if "operation" in m.obj:
        c.bad("operation", "an operation asks a running Argo CD to sync; remove it from the repository")
    sources = body.get("sources")
    if sources is not None and "source" in body:
        c.bad("spec.sources", "an Application has source or sources, not both; remove one")
    if sources is None:
        _source(c, spec, c.known(body.get("source"), SOURCE - {"ref"}, "spec.source"), "spec.source", {})
    elif not isinstance(sources, list) or not sources:
        c.bad("spec.sources", "expected a non-empty list of sources; fix the Application")
    else:
        refs = {str(s["ref"]): s for s in sources if isinstance(s, dict) and s.get("ref")}
        rendering = [i for i, s in enumerate(sources) if isinstance(s, dict) and not s.get("ref")]
        if len(rendering) != 1:
            c.bad("spec.sources", f"{len(rendering)} sources render manifests; kubectl-gitops renders exactly one "
                  "per Application (others may only be `ref:` sources of $values files): split the Application "
                  "into one per source")
        for i, s in enumerate(sources):
            if isinstance(s, dict) and s.get("ref"):
                c.known(s, {"repoURL", "targetRevision", "ref", "name"}, f"spec.sources[{i}]")
        if rendering:
            i = rendering[0]
            _source(c, spec, c.known(sources[i], SOURCE, f"spec.sources[{i}]"), f"spec.sources[{i}]", refs)
        spec.value_refs = {name: (c.string(s, "repoURL", "spec.sources"),
                                  c.string(s, "targetRevision", "spec.sources") or "HEAD")
                           for name, s in refs.items()}
    dest = c.known(body.get("destination"), DESTINATION, "spec.destination")
    if dest.get("server") and dest.get("name"):
        c.bad("spec.destination", "give server or name, not both")
    spec.server = c.string(dest, "server", "spec.destination") or c.string(dest, "name", "spec.destination")
    spec.dest_namespace = c.string(dest, "namespace", "spec.destination")
    _sync_policy(c, spec, c.known(body.get("syncPolicy"), SYNC_POLICY, "spec.syncPolicy"))
    if c.jsonnet is not None:
        env = {"ARGOCD_APP_NAME": m.name, "ARGOCD_APP_NAMESPACE": spec.dest_namespace,
               "ARGOCD_APP_PROJECT_NAME": str(body.get("project") or ""), "ARGOCD_APP_SOURCE_PATH": spec.path,
               "ARGOCD_APP_SOURCE_REPO_URL": spec.repo_url, "ARGOCD_APP_SOURCE_TARGET_REVISION": spec.ref}
        spec.jsonnet, problems = from_argo(c.jsonnet[0], env, where=c.jsonnet[1], unavailable=BUILD_UNAVAILABLE)
        c.problems.extend(f"{m.origin}: Application {m.name}: {p}" for p in problems)
    ignore = body.get("ignoreDifferences")
    if ignore is not None:
        spec.ignore_differences = ignore if isinstance(ignore, list) else [ignore]
    for key in ("argocd.argoproj.io/hook", "helm.sh/hook"):
        if key in m.annotations:
            c.bad(f"metadata.annotations[{key}]", f"an Application as a hook is not supported; {TODO}")
    for f in m.metadata.get("finalizers") or []:
        if not str(f).startswith("resources-finalizer.argocd.argoproj.io"):
            c.bad("metadata.finalizers", f"{f!r}: only Argo CD's resources finalizer is understood; {TODO}")
    return spec, c.problems
