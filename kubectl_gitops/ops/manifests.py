"""``run_manifests``: the rendered objects a sync would apply (``kubectl gitops manifests``), secrets masked.

Rendered offline like ``waves`` (no kubeconfig is read: objects that name no namespace get ``-n``, else
"default"), sops files decrypted as for a sync, so that the fields they provide can be masked by provenance
(``engine.diff.mask.mask_change``: Secret ``data``/``stringData``, last-applied, every decrypted field, in
any kind). Vault placeholders are left as written unless ``reveal``: a masked placeholder tells less than
its path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubectl_gitops.engine.diff.mask import mask_change
from kubectl_gitops.engine.diff.tree import copy_tree
from kubectl_gitops.engine.plan import plan_annotation_checks
from kubectl_gitops.model import Manifest, Obj
from kubectl_gitops.secrets import decrypt_if_encrypted
from kubectl_gitops.settings import Settings
from kubectl_gitops.source.desired import load_desired
from kubectl_gitops.source.repo import Checkout


@dataclass
class ManifestsResult:
    objects: list[Obj]  # masked unless reveal
    manifests: list[Manifest]
    checkout: Checkout
    masked: int = 0  # objects with at least one masked field
    warnings: list[str] = field(default_factory=list)


def run_manifests(settings: Settings, *, committed_only: bool = False, reveal: bool = False) -> ManifestsResult:
    desired = load_desired(settings.source, committed_only=committed_only,
                           default_namespace=settings.cluster.namespace or "default", resolve=None,
                           transform=decrypt_if_encrypted, extra_checks=plan_annotation_checks)
    if reveal:
        from kubectl_gitops.ops.common import resolve_secret_placeholders

        resolve_secret_placeholders(desired, allow=settings.source.vault_allow)
    objects: list[Obj] = []
    masked = 0
    for m in desired.manifests:
        if reveal:
            objects.append(copy_tree(m.obj))
            continue
        _, after, fields, _ = mask_change(m, None, copy_tree(m.obj))
        assert after is not None
        if fields or after != m.obj:
            masked += 1
        objects.append(after)
    return ManifestsResult(objects, desired.manifests, desired.checkout, masked, list(desired.warnings))
