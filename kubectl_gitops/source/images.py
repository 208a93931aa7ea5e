"""Image overrides at render time (``--image NAME=REF``), with kustomize's ``images:`` rules, on any render.

A CI deploy step knows the image it just built; the repository names an older one. ``--image`` rewrites the
image references of the rendered objects — plain files, kustomize and Helm alike — exactly as a kustomization's
``images:`` entry (``kustomize edit set image``) would rewrite them:

- the argument is parsed like ``kustomize edit set image``: ``NAME=NEWNAME:TAG``, ``NAME=NEWNAME@DIGEST``,
  ``NAME=NEWNAME:TAG@DIGEST``, ``NAME=NEWNAME``, ``NAME:TAG``, ``NAME:TAG@DIGEST``, ``NAME@DIGEST``;
- a reference matches ``NAME`` when it is ``NAME`` followed by an optional ``:tag`` and an optional
  ``@sha256:…`` (``nginx`` matches ``nginx``, ``nginx:1.25``, ``nginx@sha256:…``, not ``my/nginx`` nor
  ``docker.io/library/nginx``: no registry normalisation, as in kustomize). kustomize puts ``NAME`` into a
  regular expression unescaped (a ``.`` in it matches any character); we match it literally;
- a new tag replaces tag and digest, a new digest replaces both, both together set both; a new name keeps
  the reference's tag and digest unless new ones are given;
- where: the ``image`` of every element of a ``containers``/``initContainers`` list anywhere in an object
  (kustomize's walk: Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod, ReplicaSet and custom resources
  embedding a pod template such as Argo Rollouts), plus ``ephemeralContainers`` (kustomize skips them),
  plus image volumes (``spec/volumes[]/image/reference`` and the same under ``spec/template``), plus the
  field paths given with ``--image-field [KIND[.GROUP]:]PATH`` in kustomize's fieldSpec path syntax
  (``spec/runner/image``, ``spec/steps[]/image``). CustomResourceDefinitions are never touched.

Several overrides apply one after the other, in the order given (as kustomize applies its entries). An override
that matches no reference at all is an error (exit 3, naming the images the render does hold): a typo in a CI
variable must not deploy the old image while reporting success. A malformed ``--image``/``--image-field`` is a
usage error (exit 2).

App objects of a tree (source/appsource.py) use the same rules for their image overrides: Argo CD's
``kustomize.images`` strings through ``parse_override``, Flux's ``spec.images`` fields through
``override_from_fields``; there an override that matches nothing is not an error (as in kustomize, Argo CD
and Flux; docs/apps.md).

Hand-written rather than calling kustomize: the overrides apply to Helm and plain renders too, need no
kustomization file and no subprocess; ``tests/unit/test_images.py`` compares the result with the real kustomize
binary (``kustomize edit set image`` + ``kustomize build``) on the same inputs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kubectl_gitops.errors import UsageError
from kubectl_gitops.model import Manifest, Obj

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._/:-]*$")
_MATCH_SUFFIX = r"(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$"
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
DEFAULT_FIELD_PATHS = ("spec/volumes[]/image/reference", "spec/template/spec/volumes[]/image/reference")
USAGE = ("use NAME=NEWNAME:TAG, NAME=NEWNAME@sha256:DIGEST, NAME=NEWNAME, NAME:TAG or NAME@sha256:DIGEST "
         "(as `kustomize edit set image`)")


@functools.lru_cache(maxsize=256)
def _pattern(name: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(name) + _MATCH_SUFFIX)


def split_reference(ref: str) -> tuple[str, str, str]:
    """``(name, tag, digest)`` of an image reference, as kustomize splits it: a ``:`` before the first ``/``
    is a registry port, not a tag. ``registry:5000/app:1.2@sha256:ab`` -> (``registry:5000/app``, ``1.2``,
    ``sha256:ab``)."""
    slash = ref.find("/")
    offset = slash if slash > 0 else 0
    search = ref[offset:]
    at, colon = search.find("@"), search.find(":")
    if colon < 0 and at < 0:
        return ref, "", ""
    if at >= 0 and (at < colon or colon < 0):
        return ref[:offset + at], "", ref[offset + at + 1:]
    if at >= 0 and colon >= 0:
        return ref[:offset + colon], ref[offset + colon + 1:offset + at], ref[offset + at + 1:]
    return ref[:offset + colon], ref[offset + colon + 1:], ""


@dataclass(frozen=True)
class ImageOverride:
    """One ``images:`` entry: references named ``name`` get ``new_name``/``new_tag``/``digest``."""

    name: str
    new_name: str = ""
    new_tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        ref = (self.new_name or "") + (f":{self.new_tag}" if self.new_tag else "") + (
            f"@{self.digest}" if self.digest else "")
        return f"{self.name}={ref}" if self.new_name else f"{self.name}{ref}"

    def matches(self, ref: str) -> bool:
        return _pattern(self.name).match(ref) is not None

    def apply(self, ref: str) -> str:
        """The new reference for ``ref`` (which ``matches``)."""
        name, tag, digest = split_reference(ref)
        name = self.new_name or name
        if self.new_tag or self.digest:
            tag, digest = self.new_tag, self.digest
        return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def parse_override(arg: str, *, flag: str = "--image") -> ImageOverride:
    """``kustomize edit set image``'s syntax (see the module docstring); raises ``UsageError``."""
    text = arg.strip()
    key, sep, value = text.partition("=")
    if not sep:
        key, value = "", text
    name, tag, digest = split_reference(value)
    bad = (not value or name == text or (sep and not key) or "*" in text
           or not _NAME.match(key or name) or (sep and not _NAME.match(name))
           or (tag and not _TAG.match(tag)) or (digest and not _DIGEST.match(digest)))
    if bad:
        raise UsageError(f"invalid {flag} {arg!r}: {USAGE}")
    if key:
        return ImageOverride(key, name, tag, digest)
    return ImageOverride(name, "", tag, digest)


def override_from_fields(name: str, new_name: str = "", new_tag: str = "", digest: str = "", *,
                         where: str = "images") -> ImageOverride:
    """A kustomization's ``images:`` entry as fields (Flux's ``spec.images``: ``name``/``newName``/``newTag``/
    ``digest``), checked with ``parse_override``'s rules; raises ``UsageError`` naming ``where``."""
    bad = (not name or "*" in name + new_name or not _NAME.match(name) or (new_name and not _NAME.match(new_name))
           or (new_tag and not _TAG.match(new_tag)) or (digest and not _DIGEST.match(digest)))
    if bad:
        raise UsageError(f"invalid {where} {{name: {name!r}, newName: {new_name!r}, newTag: {new_tag!r}, "
                         f"digest: {digest!r}}}: a name, and a newName, a newTag (1-128 of A-Za-z0-9_.-) "
                         "and/or a digest (sha256:HEX)")
    return ImageOverride(name, "" if new_name == name else new_name, new_tag, digest)


@dataclass(frozen=True)
class FieldSpec:
    """Where a custom resource keeps an image reference: kustomize's fieldSpec (``kind``/``group`` empty: any)."""

    path: tuple[str, ...]
    kind: str = ""
    group: str = ""

    def selects(self, obj: Obj) -> bool:
        api = str(obj.get("apiVersion") or "")
        group = api.split("/", 1)[0] if "/" in api else ""
        return (not self.kind or obj.get("kind") == self.kind) and (not self.group or group == self.group)


def parse_field_spec(arg: str, *, flag: str = "--image-field") -> FieldSpec:
    """``[KIND[.GROUP]:]PATH`` with a kustomize fieldSpec path: ``Workflow.argoproj.io:spec/steps[]/image``."""
    head, sep, path = arg.strip().rpartition(":")
    kind, _, group = head.partition(".")
    parts = tuple(path.strip("/").split("/"))
    ok = all(re.match(r"^[A-Za-z0-9_-]+(\[\])?$", p) for p in parts) and (not sep or re.match(r"^[A-Za-z0-9]+$", kind))
    if not ok:
        raise UsageError(f"invalid {flag} {arg!r}: use [KIND[.GROUP]:]PATH, e.g. "
                         "Workflow.argoproj.io:spec/templates[]/container/image")
    return FieldSpec(parts, kind, group)


# --- where the references are ----------------------------------------------------------------------------

Slot = tuple[dict, str]  # (mapping, key) holding an image reference string


def _container_slots(node: object) -> Iterator[Slot]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _container_slots(value)
            if key in CONTAINER_LISTS and isinstance(value, list):
                for c in value:
                    if isinstance(c, dict) and isinstance(c.get("image"), str):
                        yield c, "image"
    elif isinstance(node, list):
        for item in node:
            yield from _container_slots(item)


def _path_slots(node: object, path: tuple[str, ...]) -> Iterator[Slot]:
    if not path or not isinstance(node, dict):
        return
    head, rest = path[0], path[1:]
    if head.endswith("[]"):
        items = node.get(head[:-2])
        for item in items if isinstance(items, list) else ():
            yield from _path_slots(item, rest) if rest else ()
    elif not rest:
        if isinstance(node.get(head), str):
            yield node, head
    else:
        yield from _path_slots(node.get(head), rest)


def image_slots(obj: Obj, fields: Iterable[FieldSpec] = ()) -> list[Slot]:
    """Every place in ``obj`` holding an image reference (see the module docstring), each once."""
    if obj.get("kind") == "CustomResourceDefinition":
        return []
    specs = [FieldSpec(tuple(p.split("/"))) for p in DEFAULT_FIELD_PATHS] + list(fields)
    seen: set[tuple[int, str]] = set()
    out: list[Slot] = []
    by_path = (s for spec in specs if spec.selects(obj) for s in _path_slots(obj, spec.path))
    for slot in [*_container_slots(obj), *by_path]:
        ident = (id(slot[0]), slot[1])
        if ident not in seen:
            seen.add(ident)
            out.append(slot)
    return out


@dataclass(frozen=True)
class Replacement:
    where: str  # the object, e.g. "Deployment.apps demo/web"
    before: str
    after: str


def apply_overrides(manifests: list[Manifest], overrides: Iterable[ImageOverride],
                    fields: Iterable[FieldSpec] = ()) -> tuple[list[Replacement], list[str]]:
    """Rewrite the image references of ``manifests`` in place, each override in turn. Returns the references
    changed and one problem per override that matched nothing (naming the images the render holds)."""
    overrides, fields = list(overrides), list(fields)
    slots = [(m, s) for m in manifests for s in image_slots(m.obj, fields)]
    found = sorted({holder[key] for _, (holder, key) in slots})
    changed: list[Replacement] = []
    problems: list[str] = []
    for o in overrides:
        hits = 0
        for m, (holder, key) in slots:
            ref = holder[key]
            if o.matches(ref):
                hits += 1
                new = o.apply(ref)
                if new != ref:
                    holder[key] = new
                    changed.append(Replacement(str(m.key), ref, new))
        if not hits:
            problems.append(f"--image {o}: no image named {o.name!r} in the rendered objects "
                            f"(images: {', '.join(found[:20]) or 'none'}{', …' if len(found) > 20 else ''}); "
                            "give the name the manifests use (without tag or digest), or --image-field for "
                            "a custom resource's image field")
    return changed, problems


def override_images(manifests: list[Manifest], images: Iterable[str],
                    fields: Iterable[str] = ()) -> tuple[list[Replacement], list[str]]:
    """``apply_overrides`` with the flags' texts (``SourceOptions.images``/``image_fields``)."""
    return apply_overrides(manifests, [parse_override(i) for i in images], [parse_field_spec(f) for f in fields])


def canonical(images: Iterable[str]) -> tuple[str, ...]:
    """The flags' texts in one spelling (``nginx=nginx:1.2`` and ``nginx:1.2`` are the same override)."""
    return tuple(str(parse_override(i)) for i in images)


def reverted(previous: Iterable[str], current: Iterable[str]) -> list[str]:
    """The recorded overrides of the last sync (canonical text) whose image ``current`` does not override:
    a sync without them gives those objects the repository's image again."""
    names = {parse_override(i).name for i in current}
    out = []
    for text in previous:
        try:
            if parse_override(text).name not in names:
                out.append(text)
        except UsageError:  # a record written by hand or a future version: shown as it is
            out.append(text)
    return out
