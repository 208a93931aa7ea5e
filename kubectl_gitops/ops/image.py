"""``image set`` and ``promote``: edit image references in the repository, then (optionally) commit and push.

The edits themselves are source.writeback's; this module picks where (the folder's kustomization, a Helm
values key, or its manifests), refuses a dirty work tree unless allowed, writes the files, and commits with a
message saying what changed, from what, to what. With ``push`` a non-fast-forward is retried by redoing the
edit on top of the remote (source.gitwrite). Setting what is already there writes and commits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kubectl_gitops.errors import InvalidInputError, UsageError
from kubectl_gitops.source import gitwrite, writeback
from kubectl_gitops.source.images import ImageOverride
from kubectl_gitops.source.writeback import Edit


@dataclass(frozen=True)
class WriteTarget:
    """Where and how to write: the repository folder, the app folder inside it, Helm value keys (``(key,
    part)``), a values file (default: the folder's values.yaml), and the git steps."""

    repo: Path
    path: str = "."
    helm_values: tuple[tuple[str, str], ...] = ()
    values_file: str | None = None
    commit: bool = False
    push: bool = False
    allow_dirty: bool = False
    dry_run: bool = False
    message: str | None = None
    exact: bool = False  # promote: a kustomization entry becomes exactly the given one (no newName kept)
    skip_missing: bool = False  # promote of every image: names the target's manifests do not use are skipped


@dataclass
class WriteResult:
    edits: list[Edit]
    where: str  # kustomization | helm | manifests
    folder: str
    summary: list[str] = field(default_factory=list)  # "app: a:1 -> a:2" per image
    commit: str | None = None
    pushed: bool = False
    attempts: int = 0
    root: Path | None = None  # the work tree the files are in (for their relative names)

    @property
    def changed(self) -> bool:
        return any(e.changed for e in self.edits)


def parse_helm_value(text: str) -> tuple[str, str]:
    """``image.tag`` or ``image.repository=name``: (dotted key, part of the reference)."""
    key, _, part = text.partition("=")
    part = part or "tag"
    if not key or part not in writeback.PARTS:
        raise UsageError(f"invalid --helm-value {text!r}: use KEY or KEY=PART, PART one of "
                         f"{', '.join(writeback.PARTS)} (e.g. image.tag, image.repository=name)")
    return key, part


def _folder(t: WriteTarget) -> tuple[Path, Path]:
    root = gitwrite.top_level(t.repo)
    folder = Path(t.repo, t.path).resolve() if not Path(t.path).is_absolute() else Path(t.path)
    if not folder.is_dir() or not writeback.is_inside(root, folder):
        raise InvalidInputError(f"--path {t.path!r} is not a folder inside the repository {root}",
                                hint="give the app's folder, relative to the repository (or the current folder)")
    return root, folder


def compute_edits(root: Path, folder: Path, t: WriteTarget, overrides: list[ImageOverride]) -> tuple[str, list[Edit]]:
    """Where the references live and the edits setting them (nothing written)."""
    if t.helm_values:
        if len(overrides) != 1:
            raise UsageError("--helm-value takes exactly one NAME=REF (its parts go to the keys)")
        o = overrides[0]
        ref = (o.new_name or o.name) + (f":{o.new_tag}" if o.new_tag else "") + (f"@{o.digest}" if o.digest else "")
        values = Path(folder, t.values_file or "values.yaml")
        if not values.is_file():
            raise InvalidInputError(f"no values file {values}", hint="give --values-file, relative to --path")
        edit: Edit | None = None
        for key, part in t.helm_values:
            step = writeback.set_helm_value(root, values, key, writeback.part_of(ref, part),
                                            text=edit.new if edit else None)
            edit = edit.then(step) if edit else step
        return "helm", [edit] if edit else []
    if (folder / "Chart.yaml").is_file():
        raise UsageError(f"{folder.relative_to(root)} is a Helm chart: its templates are not YAML to edit",
                         hint="give --helm-value KEY (e.g. --helm-value image.tag) to set the chart's values")
    if writeback.kustomization_file(folder) is not None:
        edit = None
        for o in overrides:
            step = writeback.set_kustomization_image(root, folder, o, text=edit.new if edit else None, exact=t.exact)
            edit = edit.then(step) if edit else step
        return "kustomization", [edit] if edit else []
    by_path: dict[Path, Edit] = {}
    for o in overrides:
        found = writeback.set_manifest_images(root, folder, o, texts={p: e.new for p, e in by_path.items()})
        if not found and t.skip_missing:
            continue
        if not found:
            images = sorted({ref for _, ref in writeback.manifest_images(root, folder)})
            raise InvalidInputError(f"no image named {o.name!r} in the manifests under {folder.relative_to(root)} "
                                    f"(images: {', '.join(images[:20]) or 'none'})",
                                    hint="give the name the manifests use, without tag or digest")
        for e in found:
            by_path[e.path] = by_path[e.path].then(e) if e.path in by_path else e
    return "manifests", list(by_path.values())


def describe(edits: list[Edit]) -> list[str]:
    """One line per value that changes: what, from, to (references of one name in several places merged)."""
    olds: dict[str, list[str]] = {}
    news: dict[str, list[str]] = {}
    for e in edits:
        for what, before, after in e.changes:
            if before != after:
                for d, v in ((olds, before or "(new entry)"), (news, after)):
                    if v not in d.setdefault(what, []):
                        d[what].append(v)
    return [f"{what}: {', '.join(olds[what])} -> {', '.join(news[what])}" for what in news]


def run_write(t: WriteTarget, overrides: list[ImageOverride], *, verb: str = "image set") -> WriteResult:
    """Edit, write, commit and push as ``t`` says (see the module docstring)."""
    root, folder = _folder(t)
    rel = folder.relative_to(root).as_posix() or "."
    if not t.dry_run and not t.allow_dirty:
        gitwrite.refuse_dirty(root)
    where, edits = compute_edits(root, folder, t, overrides)
    result = WriteResult(edits, where, rel, describe(edits), root=root)
    if t.dry_run or not result.changed:
        return result
    up = gitwrite.upstream(root) if t.push else None  # a detached HEAD refuses before anything is written
    writeback.write(edits)
    if not (t.commit or t.push):
        return result
    message = t.message or _message(verb, rel, result.summary)

    def redo() -> str | None:
        _, again = compute_edits(root, folder, t, overrides)
        if not any(e.changed for e in again):
            return None
        writeback.write(again)
        return gitwrite.commit(root, [e.path for e in again if e.changed], message)

    result.commit = gitwrite.commit(root, [e.path for e in edits if e.changed], message)
    if up is not None:
        pushed = gitwrite.push(root, up, reapply=redo)
        result.pushed, result.attempts = True, pushed.attempts
        result.commit = pushed.commit or result.commit
    return result


def _message(verb: str, folder: str, summary: list[str]) -> str:
    head = f"{verb} {folder}: " + "; ".join(summary)
    if len(head) <= 72:
        return head
    names = ", ".join(line.split(": ", 1)[0] for line in summary)
    return f"{verb} {folder}: {names}\n\n" + "\n".join(summary)
