"""The overrides of an app object that need kustomize itself: ``namePrefix``/``nameSuffix`` (references to the
renamed objects are rewritten too), ``patches`` (strategic merge or JSON 6902, with ``target`` selectors) and
Argo CD's ``replicas`` (with them, the target namespace too: kustomize sets it after the patches) — run by
``kustomize build`` over the child's rendered objects, as Flux runs its generated kustomization over the source
folder.

Why not in Python: renaming an object means rewriting every reference to it (a Deployment's ConfigMap volume,
a RoleBinding's subject, ...) and strategic merge patches follow each field's merge key — kustomize knows both.

The rendered objects (sops-decrypted Secrets included) are written to a private folder (``plaintmp``: 0700,
removed however the run ends) and read back; each object carries a temporary index annotation through the
build, so its origin (file:line) and the provenance of its decrypted fields (what diffs mask) are restored.
"""

from __future__ import annotations

from collections.abc import Callable

import yaml

from kubectl_gitops.model import Manifest, Origin
from kubectl_gitops.secrets.plaintmp import private_tempdir
from kubectl_gitops.source.appspec import ChildSpec
from kubectl_gitops.source.binaries import kustomize_command, run_renderer
from kubectl_gitops.source.parse import Out, parse_yaml

INDEX = "kubectl-gitops.dev/tree-index"
PostRender = Callable[[list[Manifest]], tuple[list[Manifest], list[str]]]


def needs_kustomize(spec: ChildSpec) -> bool:
    return bool(spec.name_prefix or spec.name_suffix or spec.patches or spec.replicas)


def kustomize_pass(spec: ChildSpec) -> PostRender:
    """A ``post_render`` running the spec's kustomize overrides over the rendered objects."""

    def post(manifests: list[Manifest]) -> tuple[list[Manifest], list[str]]:
        if not manifests:
            return manifests, []
        docs = []
        for i, m in enumerate(manifests):
            obj = dict(m.obj)
            meta = dict(obj.get("metadata") or {})
            meta["annotations"] = {**(meta.get("annotations") or {}), INDEX: str(i)}
            obj["metadata"] = meta
            docs.append(obj)
        kustomization: dict[str, object] = {"resources": ["objects.yaml"]}
        if spec.name_prefix:
            kustomization["namePrefix"] = spec.name_prefix
        if spec.name_suffix:
            kustomization["nameSuffix"] = spec.name_suffix
        if spec.patches:
            kustomization["patches"] = spec.patches
        if spec.replicas:
            kustomization["replicas"] = spec.replicas
        if spec.target_namespace:  # after the patches, as in Flux: patches name objects without a namespace
            kustomization["namespace"] = spec.target_namespace
        where = f"{spec.kind} {spec.name} ({spec.origin})"
        with private_tempdir("kubectl-gitops-overlay-") as folder:
            (folder / "objects.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
            (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
            ok, text = run_renderer([*kustomize_command(where), str(folder),
                                     "--load-restrictor=LoadRestrictionsRootOnly"], root=folder)
        if not ok:
            return manifests, [f"{where}: its namePrefix/nameSuffix/patches/replicas failed in kustomize: {text}; "
                               "fix them in the app object"]
        out = Out([], [])
        parse_yaml(out, text, Origin(spec.origin, None, "kustomize", f"overrides of {spec.name}"))
        result = []
        for new in out.manifests:
            ann = new.metadata.get("annotations") or {}
            index = ann.pop(INDEX, None)
            if not ann:
                new.metadata.pop("annotations", None)
            if index is not None and str(index).isdigit() and int(index) < len(manifests):
                old = manifests[int(index)]
                new.origin, new.secret_fields = old.origin, old.secret_fields
            result.append(new)
        return result, out.problems

    return post
