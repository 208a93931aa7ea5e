"""promote: image references (and nothing else) from one environment to the next; folders and branches."""

from __future__ import annotations

from pathlib import Path

import pytest
from source_helpers import GitRepo

from kubectl_gitops.errors import InvalidInputError
from kubectl_gitops.ops.image import WriteTarget
from kubectl_gitops.ops.promote import PromoteRequest, run_promote

STAGING = """\
resources: [../../base]
images:
- name: app
  newName: registry/app
  newTag: "1.5.0"
- name: worker
  newTag: "2.0"
replicas:
- name: app
  count: 2
"""

PROD = """\
# production: reviewed by humans
resources:
  - ../../base
images:
  - name: app
    newName: mirror.prod/app   # prod pulls from its mirror... until promoted
    newTag: "1.4.1"
    digest: sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
replicas:
  - name: app
    count: 10   # not promoted
"""


def repo(tmp_path: Path, files: dict[str, str], name: str = "repo") -> GitRepo:
    r = GitRepo.create(tmp_path / name)
    for rel, text in files.items():
        r.write(rel, text)
    r.commit("init")
    return r


def promote(r: GitRepo, frm: str, to: str, *images: str, from_ref: str | None = None, to_ref: str | None = None,
            **kw):
    return run_promote(PromoteRequest(WriteTarget(r.path, to, **kw), frm, images, from_ref, to_ref))[0]


def test_kustomization_entries_are_copied_exactly_and_nothing_else(tmp_path: Path):
    r = repo(tmp_path, {"overlays/staging/kustomization.yaml": STAGING, "overlays/prod/kustomization.yaml": PROD})
    result = promote(r, "overlays/staging", "overlays/prod", commit=True)
    text = (r.path / "overlays/prod/kustomization.yaml").read_text()
    assert text == PROD.replace("mirror.prod/app   #", "registry/app   #").replace('"1.4.1"', '"1.5.0"').replace(
        "    digest: sha256:" + "c" * 64 + "\n", '  - name: worker\n    newTag: "2.0"\n')
    subject = r.git("log", "-1", "--format=%s")
    assert subject.startswith("promote overlays/staging -> overlays/prod: app, worker")
    assert result.commit == r.head()
    again = promote(r, "overlays/staging", "overlays/prod", commit=True)
    assert not again.changed and again.commit is None


def test_one_image_only_and_unknown_names_are_refused(tmp_path: Path):
    r = repo(tmp_path, {"overlays/staging/kustomization.yaml": STAGING, "overlays/prod/kustomization.yaml": PROD})
    promote(r, "overlays/staging", "overlays/prod", "worker")
    text = (r.path / "overlays/prod/kustomization.yaml").read_text()
    assert '"1.4.1"' in text and "worker" in text
    with pytest.raises(InvalidInputError, match="no image named nope"):
        promote(r, "overlays/staging", "overlays/prod", "nope", allow_dirty=True)


def test_manifest_environments_copy_their_references(tmp_path: Path):
    dep = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {n}\n  template:\n"
           "    spec:\n      containers:\n      - name: web\n        image: registry/web:{tag}  # the app\n")
    r = repo(tmp_path, {"staging/web.yaml": dep.format(n=1, tag="2.0"), "prod/web.yaml": dep.format(n=5, tag="1.9")})
    promote(r, "staging", "prod")
    assert (r.path / "prod/web.yaml").read_text() == dep.format(n=5, tag="2.0")


def test_branch_environments_promote_through_a_bare_remote_without_switching_the_checkout(tmp_path: Path):
    remote = GitRepo.create(tmp_path / "remote.git", bare=True)
    seed = repo(tmp_path, {"deploy/kustomization.yaml": PROD}, "seed")
    seed.git("remote", "add", "origin", str(remote.path))
    seed.git("push", "-q", "origin", "HEAD:prod")
    seed.write("deploy/kustomization.yaml", STAGING.replace("../../base", "../base"))
    seed.commit("staging")
    seed.git("push", "-q", "origin", "HEAD:staging")
    ci = GitRepo.clone(str(remote.path), tmp_path / "ci")
    ci.git("checkout", "-q", "staging")
    result = promote(ci, "deploy", "deploy", "app", from_ref="origin/staging", to_ref="prod", push=True)
    assert result.pushed
    prod = remote.git("show", "prod:deploy/kustomization.yaml")
    assert "newName: registry/app   #" in prod and '"1.5.0"' in prod and "count: 10   # not promoted" in prod
    assert ci.git("rev-parse", "--abbrev-ref", "HEAD") == "staging" and ci.status() == ""
    assert ci.git("worktree", "list").count("\n") == 0  # the temporary worktree is gone
