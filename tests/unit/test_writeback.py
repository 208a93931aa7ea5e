"""image set: write-back edits keep every byte outside the edited value; commit, push with retry, idempotence
(real git, a bare repository as the remote)."""

from __future__ import annotations

from pathlib import Path

import pytest
from source_helpers import GitRepo

from kubectl_gitops.errors import InvalidInputError, RefusedError, UsageError
from kubectl_gitops.ops.image import WriteTarget, run_write
from kubectl_gitops.source.images import parse_override
from kubectl_gitops.source.yamledit import EditError

KUSTOMIZATION = """\
# dev overlay: CI bumps the app
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
    - ../base      # odd indentation on purpose
images:
- name: app        # built by CI
  newName: registry.example.com/team/app
  newTag: '1.4.1'  # single quotes kept
  digest: sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
- name: sidecar
  newTag: v2

# trailing comment
"""

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}   # flow style neighbour
spec:
  template:
    spec:
      containers:
        - name: web
          image: "nginx:1.27"   # pinned
          args: ["--port", "8080"]
      initContainers:
        - {name: init, image: nginx}
---
# a second document
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: job
            image: other/tool:3
"""

VALUES = """\
replicaCount: 1
image:
  repository: nginx   # upstream
  tag: "1.27"
  pullPolicy: IfNotPresent
"""


def repo(tmp_path: Path, files: dict[str, str]) -> GitRepo:
    r = GitRepo.create(tmp_path / "repo")
    for rel, text in files.items():
        r.write(rel, text)
    r.commit("init")
    return r


def set_image(r: GitRepo, *images: str, **kw) -> object:
    kw.setdefault("path", ".")
    return run_write(WriteTarget(r.path, **kw), [parse_override(i) for i in images])


def test_kustomization_entry_is_updated_byte_for_byte_outside_the_values(tmp_path: Path):
    r = repo(tmp_path, {"dev/kustomization.yaml": KUSTOMIZATION})
    result = set_image(r, "app:1.4.2", path="dev")
    assert (r.path / "dev/kustomization.yaml").read_text() == KUSTOMIZATION.replace("'1.4.1'", "'1.4.2'").replace(
        "  digest: sha256:" + "a" * 64 + "\n", "")
    assert result.summary == ["app: app=registry.example.com/team/app:1.4.1@sha256:" + "a" * 64
                              + " -> app=registry.example.com/team/app:1.4.2"]


def test_new_kustomization_entry_is_appended_like_its_neighbours(tmp_path: Path):
    r = repo(tmp_path, {"dev/kustomization.yaml": KUSTOMIZATION, "prod/kustomization.yaml": "resources:\n- ../base\n"})
    set_image(r, "db=mirror/postgres:16.4", path="dev")
    assert (r.path / "dev/kustomization.yaml").read_text() == KUSTOMIZATION.replace(
        "  newTag: v2\n", "  newTag: v2\n- name: db\n  newName: mirror/postgres\n  newTag: \"16.4\"\n")
    set_image(r, "app@sha256:" + "b" * 64, path="prod", allow_dirty=True)
    assert (r.path / "prod/kustomization.yaml").read_text() == (
        "resources:\n- ../base\nimages:\n- name: app\n  digest: sha256:" + "b" * 64 + "\n")


def test_manifest_references_are_replaced_in_place(tmp_path: Path):
    r = repo(tmp_path, {"web.yaml": MANIFEST})
    set_image(r, "nginx=mirror/nginx:1.28", "other/tool:4")
    assert (r.path / "web.yaml").read_text() == MANIFEST.replace('"nginx:1.27"', '"mirror/nginx:1.28"').replace(
        "image: nginx}", "image: mirror/nginx:1.28}").replace("other/tool:3", "other/tool:4")


def test_helm_value_keys_get_parts_of_the_reference(tmp_path: Path):
    r = repo(tmp_path, {"chart/values.yaml": VALUES, "chart/Chart.yaml": "name: c\nversion: 1.0.0\n"})
    set_image(r, "nginx=mirror/nginx:1.28", path="chart", helm_values=(("image.repository", "name"),
                                                                        ("image.tag", "tag")))
    assert (r.path / "chart/values.yaml").read_text() == VALUES.replace("nginx   #", "mirror/nginx   #").replace(
        '"1.27"', '"1.28"')
    with pytest.raises(EditError, match=r"no value 'image\.digest'"):
        set_image(r, "nginx:2", path="chart", helm_values=(("image.digest", "digest"),), allow_dirty=True)


def test_setting_the_current_image_changes_nothing_and_commits_nothing(tmp_path: Path):
    r = repo(tmp_path, {"web.yaml": MANIFEST})
    head = r.head()
    result = set_image(r, "other/tool:3", commit=True)
    assert not result.changed and result.commit is None and r.head() == head and r.status() == ""


def test_a_dirty_tree_is_refused_unless_allowed(tmp_path: Path):
    r = repo(tmp_path, {"web.yaml": MANIFEST, "notes.yaml": "a: 1\n"})
    r.write("notes.yaml", "a: 2\n")
    with pytest.raises(RefusedError, match="uncommitted changes"):
        set_image(r, "other/tool:4", commit=True)
    assert "other/tool:3" in (r.path / "web.yaml").read_text()
    result = set_image(r, "other/tool:4", commit=True, allow_dirty=True)
    assert result.commit == r.head() and r.status() == "M notes.yaml"  # only the edited file was committed
    assert r.git("log", "-1", "--format=%s") == "image set .: other/tool: other/tool:3 -> other/tool:4"


def test_unknown_image_in_manifests_is_invalid_input(tmp_path: Path):
    r = repo(tmp_path, {"web.yaml": MANIFEST})
    with pytest.raises(InvalidInputError, match=r"no image named 'ngnix'.*nginx:1\.27"):
        set_image(r, "ngnix:1")


def test_push_retries_a_non_fast_forward_by_editing_again_on_top(tmp_path: Path):
    remote = GitRepo.create(tmp_path / "remote.git", bare=True)
    seed = repo(tmp_path, {"dev/kustomization.yaml": KUSTOMIZATION, "README.md": "x\n"})
    seed.git("remote", "add", "origin", str(remote.path))
    seed.git("push", "-q", "-u", "origin", "HEAD:main")
    ci = GitRepo.clone(str(remote.path), tmp_path / "ci")
    other = GitRepo.clone(str(remote.path), tmp_path / "other")
    other.write("README.md", "someone else was faster\n")
    other.commit("docs")
    other.git("push", "-q", "origin", "HEAD:main")

    result = set_image(ci, "app:1.5.0", path="dev", push=True, commit=True)
    assert result.pushed and result.attempts == 2
    assert remote.git("log", "--format=%s", "main").splitlines()[:2] == ["image set dev: app", "docs"]
    assert remote.git("log", "-1", "--format=%b", "main") == (
        "app: app=registry.example.com/team/app:1.4.1@sha256:" + "a" * 64
        + " -> app=registry.example.com/team/app:1.5.0")
    assert "'1.5.0'" in remote.git("show", "main:dev/kustomization.yaml")
    # idempotent against the remote too: the same set again pushes nothing
    again = set_image(ci, "app:1.5.0", path="dev", push=True)
    assert not again.changed and remote.git("rev-parse", "main") == ci.head()


def test_a_chart_folder_without_helm_value_is_refused_with_the_flag_to_use(tmp_path: Path):
    r = repo(tmp_path, {"chart/values.yaml": VALUES, "chart/Chart.yaml": "name: c\nversion: 1.0.0\n",
                        "chart/templates/d.yaml": "image: {{ .Values.image.repository }}\n"})
    with pytest.raises(UsageError, match="is a Helm chart") as e:
        set_image(r, "nginx:2", path="chart")
    assert "--helm-value image.tag" in str(e.value.hint)
