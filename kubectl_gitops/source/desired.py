"""The desired state, in one call: open the source, render it, validate it (all problems at once).

Every command that needs the repository's objects calls ``load_desired``; nothing below it needs to be
called directly. It raises ``SourceError``/``RenderError`` when the repository cannot be read at all, and
one ``ValidationError`` listing every problem (render problems, structural checks, then the caller's
``extra_checks``) when it can be read but is not valid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubectl_gitops.errors import ValidationError
from kubectl_gitops.model import Manifest, ResourceKey
from kubectl_gitops.settings import SourceOptions
from kubectl_gitops.source.render import Transform, render
from kubectl_gitops.source.repo import Checkout, open_source
from kubectl_gitops.source.validate import ScopeResolver, analyse, apply_defaults


@dataclass
class Desired:
    manifests: list[Manifest]
    checkout: Checkout  # what was read; its root may be gone (an export is removed on return)
    warnings: list[str] = field(default_factory=list)  # e.g. a sops file whose recipients differ from its rule
    # -l: objects rendered from the repository whose labels do not match, with where they are (still in Git)
    unselected: dict[ResourceKey, str] = field(default_factory=dict)
    # --image: the references replaced, "KIND NS/NAME: before -> after" (shown with -v, events of sync -o json)
    images: list[str] = field(default_factory=list)


def load_desired(source: SourceOptions, *, committed_only: bool, default_namespace: str,
                 resolve: ScopeResolver | None = None, transform: Transform | None = None,
                 extra_checks: Callable[[list[Manifest]], list[str]] | None = None) -> Desired:
    """Read, render and validate the desired objects described by ``source``.

    ``committed_only`` (sync) reads HEAD instead of the work tree when no ref is given. Namespaced objects
    without a namespace get ``default_namespace``; ``extra_checks`` sees the manifests with that default
    applied. With ``source.selector`` (``-l``) every object is rendered and validated, but only those whose
    labels match are returned. ``transform`` is applied to each plain file before parsing (sops decryption).
    """
    from kubectl_gitops.secrets import provenance

    warnings: list[str] = []
    replaced: list[Any] = []  # --image replacements (source.images.Replacement)
    unselected: dict[ResourceKey, str] = {}
    with open_source(source, committed_only=committed_only) as checkout, provenance.recording() as decrypted:
        manifests, problems = render(checkout.root, checkout.path, source, transform=transform,
                                     namespace=default_namespace or None)
        if source.images:  # --image: after every renderer, before validation (see source.images)
            from kubectl_gitops.source.images import override_images

            replaced, unmatched = override_images(manifests, source.images, source.image_fields)
            if unmatched and source.post_render is not None:  # a tree would drop them with the root: say it now
                raise ValidationError(problems + [f"{u}; in a tree of apps --image applies to the root's own "
                                                  "objects only: set a child's images in its app object"
                                                  for u in unmatched], hint="nothing was changed")
            problems.extend(unmatched)
        if decrypted.files:  # recipients are not under a sops file's MAC: compare them with .sops.yaml
            from kubectl_gitops.secrets.check import recipient_warnings

            warnings = recipient_warnings(checkout.root, decrypted.files)
    provenance.mark(manifests, decrypted)  # the fields whose values the transform decrypted (diffs mask them)
    if source.post_render is not None:  # a tree of apps: child apps split off, overrides applied
        manifests, more = source.post_render(manifests)
        problems.extend(more)
    result = analyse(manifests, default_namespace=default_namespace, resolve=resolve)
    problems.extend(result.problems)
    apply_defaults(manifests, result.namespaced, default_namespace)
    if source.selector:  # -l: the whole repository is validated above, only matching objects are desired
        from kubectl_gitops.source.labels import parse_selector

        selector = parse_selector(source.selector)
        unselected = {m.key: str(m.origin) for m in manifests if not selector.matches(m.obj)}
        manifests = [m for m in manifests if m.key not in unselected]
    if extra_checks is not None:
        problems.extend(extra_checks(manifests))
    if problems:
        raise ValidationError(problems, hint="fix these in the repository and run again")
    images = [f"{r.where}: {r.before} -> {r.after}" for r in replaced]
    return Desired(manifests, checkout, warnings, unselected, images)
