"""``promote``: copy image references (and nothing else) from one environment to the next, then commit.

The images of ``--from`` are read where a person keeps them: the folder's kustomization ``images:`` entries,
else the image references of its manifests. They are written into ``--to`` with ``image set``'s editors
(ops.image): a kustomization target gets the same entries, field for field; a manifests target gets its
references of those names rewritten. Every other line of ``--to`` stays as it is: replicas, resources and
patches are the environment's own.

Branch environments: ``--from-ref`` reads ``--from`` at a branch, tag or commit; ``--to-ref BRANCH`` edits
``--to`` on that branch. Both use temporary ``git worktree``s, so the user's work tree and current branch are
never switched; ``--to-ref`` implies ``--commit`` (the edit lives only in the temporary worktree otherwise).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from kubectl_gitops.errors import InvalidInputError
from kubectl_gitops.ops.image import WriteResult, WriteTarget, run_write
from kubectl_gitops.source import gitwrite, writeback
from kubectl_gitops.source.images import ImageOverride, split_reference


@dataclass(frozen=True)
class PromoteRequest:
    target: WriteTarget  # repo, path (= --to), git steps
    from_path: str
    images: tuple[str, ...] = ()  # names to promote; empty: every image of --from
    from_ref: str | None = None
    to_ref: str | None = None


def source_images(root: Path, folder: Path) -> dict[str, ImageOverride]:
    """The image references ``folder`` holds, by name, as overrides that reproduce them."""
    if not folder.is_dir():
        raise InvalidInputError(f"--from {folder} is not a folder", hint="give the source environment's folder")
    if writeback.kustomization_file(folder) is not None:
        return writeback.read_kustomization_images(root, folder)
    if (folder / "Chart.yaml").is_file():
        raise InvalidInputError(f"--from {folder.relative_to(root)} is a Helm chart: promote copies kustomization "
                                "images: entries and manifests' references",
                                hint="set the target chart's value with `image set --helm-value`")
    out: dict[str, ImageOverride] = {}
    for path, ref in writeback.manifest_images(root, folder):
        name, tag, digest = split_reference(ref)
        o = ImageOverride(name, "", tag, digest)
        if name in out and out[name] != o:
            raise InvalidInputError(f"--from {folder.relative_to(root)} uses {name} with two references "
                                    f"({out[name]} and {o}, in {path.relative_to(root)}): which one to promote?",
                                    hint="make the source environment consistent first")
        out[name] = o
    return out


@contextlib.contextmanager
def _at(root: Path, ref: str | None, *, branch: bool) -> Iterator[Path]:
    if ref is None:
        yield root
    else:
        with gitwrite.worktree(root, ref, branch=branch) as tree:
            yield tree


def run_promote(req: PromoteRequest) -> tuple[WriteResult, dict[str, ImageOverride]]:
    root = gitwrite.top_level(req.target.repo)
    base = Path(req.target.repo).resolve()
    with _at(root, req.from_ref, branch=False) as src:
        from_dir = (src / base.relative_to(root) / req.from_path).resolve()
        found = source_images(src, from_dir)
    missing = [n for n in req.images if n not in found]
    if missing:
        raise InvalidInputError(f"--from {req.from_path} has no image named {', '.join(missing)} "
                                f"(it has: {', '.join(sorted(found)) or 'none'})", hint="check --image")
    if not found:
        raise InvalidInputError(f"--from {req.from_path} holds no image references",
                                hint="point --from at an environment folder (kustomization or manifests)")
    chosen = {n: o for n, o in found.items() if not req.images or n in req.images}
    t = replace(req.target, exact=True, skip_missing=not req.images,
                commit=req.target.commit or req.target.push or req.to_ref is not None)
    with _at(root, req.to_ref, branch=True) as dst:
        t = replace(t, repo=dst / base.relative_to(root)) if req.to_ref else t
        origin = req.from_path + (f"@{req.from_ref}" if req.from_ref else "")
        result = run_write(t, list(chosen.values()), verb=f"promote {origin} ->")
    return result, chosen
