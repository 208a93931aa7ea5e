"""Flux ``Kustomization`` and ``HelmRelease`` objects (with the ``GitRepository``/``HelmRepository`` they name)
read into ``ChildSpec``s; every field we cannot honour is a problem naming the object and the field.

Sources are looked up among the objects of the same render (a ``sourceRef`` to a source the repository does
not define is an error: without Flux in the cluster nothing else could define it). ``substituteFrom`` and
``valuesFrom`` read ConfigMaps and Secrets of the same render (sops-decrypted like every Secret); a missing one
is an error unless ``optional: true``. Controller-only fields (``interval``, ``retryInterval``, a source's
``secretRef`` — Git and Helm use the credentials of the person running the command —, ``decryption``: our sops
layer decrypts with the runner's keys) are accepted and listed in docs/apps.md.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import yaml

from kubectl_gitops.errors import InvalidInputError, UsageError
from kubectl_gitops.model import Manifest
from kubectl_gitops.settings import parse_duration
from kubectl_gitops.source.appspec import Chart, ChildSpec, FieldChecker
from kubectl_gitops.source.argoapp import _patches, merge
from kubectl_gitops.source.images import override_from_fields
from kubectl_gitops.source.semver import matcher
from kubectl_gitops.untrusted.yamldocs import load as load_yaml

TODO = "remove it, or pass --apps=apply to hand the object to an installed Flux"

KUSTOMIZATION = {"sourceRef", "path", "prune", "interval", "retryInterval", "dependsOn", "targetNamespace", "images",
                 "commonMetadata", "postBuild", "decryption", "wait", "timeout", "suspend", "patches", "namePrefix",
                 "nameSuffix"}
HELMRELEASE = {"chart", "values", "valuesFrom", "releaseName", "targetNamespace", "install", "dependsOn", "interval",
               "timeout", "suspend", "upgrade"}
CHART_SPEC = {"chart", "version", "sourceRef", "valuesFiles", "reconcileStrategy", "interval"}
GITREPO = {"url", "ref", "interval", "secretRef", "timeout"}
HELMREPO = {"url", "type", "interval", "secretRef", "timeout", "insecure"}


class _Checker(FieldChecker):
    todo = TODO


def _find(objects: list[Manifest], kind: str, name: str, namespace: str) -> Manifest | None:
    for m in objects:
        if m.kind == kind and m.name == name and (m.namespace or namespace) == namespace:
            return m
    return None


def _data(m: Manifest) -> dict[str, str]:
    """A ConfigMap's or Secret's data as text (Secret ``data`` is base64)."""
    out = {str(k): str(v) for k, v in (m.obj.get("data") or {}).items()} if m.kind == "ConfigMap" else {}
    if m.kind == "Secret":
        for k, v in (m.obj.get("data") or {}).items():
            try:
                out[str(k)] = base64.b64decode(str(v)).decode()
            except (ValueError, UnicodeDecodeError):
                continue
        out.update({str(k): str(v) for k, v in (m.obj.get("stringData") or {}).items()})
    return out


def _refs(c: _Checker, refs: Any, where: str, objects: list[Manifest],
          ns: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    out = []
    for i, ref in enumerate(refs or []):
        w = f"{where}[{i}]"
        if not isinstance(ref, dict) or ref.get("kind") not in ("ConfigMap", "Secret") or not ref.get("name"):
            c.bad(w, "expected {kind: ConfigMap|Secret, name}; fix the object")
            continue
        found = _find(objects, str(ref["kind"]), str(ref["name"]), ns)
        if found is None:
            if not ref.get("optional"):
                c.bad(w, f"{ref['kind']} {ns}/{ref['name']} is not in the repository; add it to the same folder, "
                      "or mark the reference optional: true")
            continue
        out.append((ref, _data(found)))
    return out


def _depends(c: _Checker, spec: ChildSpec, deps: Any) -> None:
    for i, d in enumerate(deps or []):
        if not isinstance(d, dict) or not d.get("name"):
            c.bad(f"spec.dependsOn[{i}]", "expected {name, namespace}; fix the object")
            continue
        spec.depends_on.append(f"{d.get('namespace') or spec.namespace}/{d['name']}")


def _common(c: _Checker, spec: ChildSpec, body: dict[str, Any]) -> None:
    spec.prune = body.get("prune") is True
    spec.target_namespace = str(body.get("targetNamespace") or "")
    spec.suspend = body.get("suspend") is True
    if body.get("timeout"):
        try:
            spec.timeout = parse_duration(str(body["timeout"]).replace("m0s", "m").replace("h0m", "h"))
        except Exception:
            c.bad("spec.timeout", f"{body['timeout']!r} is not a duration such as 5m; fix the object")


def _git_source(c: _Checker, spec: ChildSpec, ref: Any, objects: list[Manifest], where: str) -> None:
    ref = ref if isinstance(ref, dict) else {}
    ns = str(ref.get("namespace") or spec.namespace)
    if ref.get("kind") != "GitRepository":
        c.bad(f"{where}.kind", f"{ref.get('kind')!r} sources are not supported (GitRepository only); {TODO}")
        return
    repo = _find(objects, "GitRepository", str(ref.get("name")), ns)
    if repo is None:
        c.bad(where, f"GitRepository {ns}/{ref.get('name')} is not in the repository; add it next to the "
              f"{spec.kind}")
        return
    rc = _Checker(repo)
    body = rc.known(repo.obj.get("spec"), GITREPO, "spec")
    spec.repo_url = str(body.get("url") or "")
    if not spec.repo_url:
        rc.bad("spec.url", "missing; name the Git repository")
    gref = rc.known(body.get("ref"), {"branch", "tag", "semver", "commit", "name"}, "spec.ref")
    # Flux's precedence: commit, name, semver, tag, branch
    if gref.get("semver") and not (gref.get("commit") or gref.get("name")):
        spec.semver = str(gref["semver"])
        try:
            matcher(spec.semver)
        except InvalidInputError as e:
            rc.bad("spec.ref.semver", e.message)
    spec.ref = str(gref.get("commit") or gref.get("name") or gref.get("tag") or gref.get("branch") or "HEAD")
    c.problems.extend(p for p in rc.problems if p not in c.problems)


def read_kustomization(m: Manifest, objects: list[Manifest]) -> tuple[ChildSpec, list[str]]:
    c = _Checker(m)
    spec = ChildSpec(name=m.name, kind="Kustomization", origin=str(m.origin), namespace=m.namespace or "flux-system",
                     manifest=m)
    body = c.known(m.obj.get("spec"), KUSTOMIZATION, "spec")
    _git_source(c, spec, body.get("sourceRef"), objects, "spec.sourceRef")
    spec.path = str(body.get("path") or ".")
    _common(c, spec, body)
    _depends(c, spec, body.get("dependsOn"))
    for i, img in enumerate(body.get("images") or []):
        if not isinstance(img, dict) or not img.get("name"):
            c.bad(f"spec.images[{i}]", "expected {name, newName, newTag, digest}; fix the object")
            continue
        c.known(img, {"name", "newName", "newTag", "digest"}, f"spec.images[{i}]")
        try:
            spec.images.append(override_from_fields(*(str(img.get(k) or "") for k in
                                                      ("name", "newName", "newTag", "digest")),
                                                    where="image override"))
        except UsageError as e:
            c.bad(f"spec.images[{i}]", f"{e}; fix the object")
    meta = c.known(body.get("commonMetadata"), {"labels", "annotations"}, "spec.commonMetadata")
    spec.common_labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    spec.common_annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    post = c.known(body.get("postBuild"), {"substitute", "substituteFrom"}, "spec.postBuild")
    subst: dict[str, str] = {}
    for _ref, data in _refs(c, post.get("substituteFrom"), "spec.postBuild.substituteFrom", objects, spec.namespace):
        subst.update(data)
    subst.update({str(k): str(v) for k, v in (post.get("substitute") or {}).items()})
    for name in subst:
        if not re.fullmatch(r"[_a-zA-Z][_a-zA-Z0-9]*", name):
            c.bad("spec.postBuild", f"variable name {name!r} must match ^[_a-zA-Z][_a-zA-Z0-9]*$")
    spec.substitute = subst
    dec = c.known(body.get("decryption"), {"provider", "secretRef"}, "spec.decryption")
    if dec and dec.get("provider") != "sops":
        c.bad("spec.decryption.provider", "only sops is supported")
    spec.exclude = ()  # Flux reads the whole folder, sub-folders included
    spec.name_prefix = str(body.get("namePrefix") or "")
    spec.name_suffix = str(body.get("nameSuffix") or "")
    spec.patches = _patches(c, body.get("patches"), "spec.patches")
    return spec, c.problems


def read_helmrelease(m: Manifest, objects: list[Manifest]) -> tuple[ChildSpec, list[str]]:
    c = _Checker(m)
    spec = ChildSpec(name=m.name, kind="HelmRelease", origin=str(m.origin), namespace=m.namespace or "flux-system",
                     manifest=m)
    body = c.known(m.obj.get("spec"), HELMRELEASE, "spec")
    _common(c, spec, body)
    _depends(c, spec, body.get("dependsOn"))
    spec.dest_namespace = spec.target_namespace or spec.namespace
    spec.target_namespace = ""  # helm renders into the release namespace
    spec.release_name = str(body.get("releaseName") or "") or (
        f"{body['targetNamespace']}-{m.name}" if body.get("targetNamespace") else m.name)
    install = c.known(body.get("install"), {"createNamespace", "remediation", "crds"}, "spec.install")
    spec.create_namespace = install.get("createNamespace") is True
    c.known(body.get("upgrade"), {"remediation", "crds"}, "spec.upgrade")
    chart_node = body.get("chart") if isinstance(body.get("chart"), dict) else {}
    chart = c.known(c.known(chart_node, {"spec"}, "spec.chart").get("spec"), CHART_SPEC, "spec.chart.spec")
    ref: dict[str, Any] = chart["sourceRef"] if isinstance(chart.get("sourceRef"), dict) else {}
    ns = str(ref.get("namespace") or spec.namespace)
    if ref.get("kind") == "HelmRepository":
        repo = _find(objects, "HelmRepository", str(ref.get("name")), ns)
        if repo is None:
            c.bad("spec.chart.spec.sourceRef",
                  f"HelmRepository {ns}/{ref.get('name')} is not in the repository; add it")
        else:
            rc = _Checker(repo)
            rbody = rc.known(repo.obj.get("spec"), HELMREPO, "spec")
            url = str(rbody.get("url") or "")
            if rbody.get("type") == "oci" and not url.startswith("oci://"):
                url = "oci://" + url.split("://", 1)[-1]
            if url.startswith("oci://") and rbody.get("insecure") is True:  # a registry without TLS
                url = "oci+http://" + url[len("oci://"):]
            spec.chart = Chart(url, str(chart.get("chart") or ""), str(chart.get("version") or "").strip("*"))
            c.problems.extend(rc.problems)
    elif ref.get("kind") == "GitRepository":
        _git_source(c, spec, ref, objects, "spec.chart.spec.sourceRef")
        spec.path = str(chart.get("chart") or ".")
    else:
        c.bad("spec.chart.spec.sourceRef", f"{ref.get('kind')!r}: use a HelmRepository or GitRepository; {TODO}")
    spec.value_files = [str(f) for f in chart.get("valuesFiles") or []]
    values: dict[str, Any] = {}
    for ref_, data in _refs(c, body.get("valuesFrom"), "spec.valuesFrom", objects, spec.namespace):
        key = str(ref_.get("valuesKey") or "values.yaml")
        if key not in data:
            if not ref_.get("optional"):
                c.bad("spec.valuesFrom", f"{ref_['kind']} {ref_['name']} has no key {key!r}")
            continue
        if ref_.get("targetPath"):
            from kubectl_gitops.source.argoapp import _set_path
            _set_path(values, str(ref_["targetPath"]), data[key])
            continue
        try:
            parsed = load_yaml(data[key]) or {}
        except yaml.YAMLError:
            parsed = None
        if not isinstance(parsed, dict):
            c.bad("spec.valuesFrom", f"{ref_['kind']} {ref_['name']} key {key!r} is not a YAML mapping")
            continue
        values = merge(values, parsed)
    if isinstance(body.get("values"), dict):
        values = merge(values, body["values"])
    spec.values = values
    return spec, c.problems
