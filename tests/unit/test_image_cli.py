"""`kubectl gitops image set` and `promote` as a user runs them: output, -o json, exit codes (real git)."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import gitops
from source_helpers import GitRepo

DEP = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
       "      containers:\n      - name: web\n        image: registry/web:{tag}\n")


def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo.create(tmp_path / "repo")
    r.write("dev/web.yaml", DEP.format(tag="1"))
    r.write("prod/web.yaml", DEP.format(tag="0"))
    r.commit("init")
    for key, value in (("user.name", "CI"), ("user.email", "ci@example.com")):
        r.git("config", key, value)
    return r


def test_image_set_shows_the_diff_commits_and_is_idempotent(tmp_path: Path):
    r = repo(tmp_path)
    dry = gitops("image", "set", "registry/web:2", "--path", "dev", "--dry-run", cwd=r.path)
    assert dry.returncode == 0, dry.stderr
    assert "-        image: registry/web:1\n+        image: registry/web:2" in dry.stdout
    assert "would set registry/web: registry/web:1 -> registry/web:2" in dry.stderr and r.status() == ""
    done = gitops("image", "set", "registry/web:2", "--path", "dev", "--commit", "-o", "json", cwd=r.path)
    doc = json.loads(done.stdout)
    assert done.returncode == 0 and doc["changed"] and doc["files"] == ["dev/web.yaml"] and doc["commit"] == r.head()
    again = gitops("image", "set", "registry/web:2", "--path", "dev", "--commit", cwd=r.path)
    assert again.returncode == 0 and "nothing to change" in again.stderr and r.head() == doc["commit"]


def test_image_set_exit_codes(tmp_path: Path):
    r = repo(tmp_path)
    assert gitops("image", "set", "registry/web", cwd=r.path).returncode == 2  # no tag, digest or new name
    missing = gitops("image", "set", "registry/api:2", "--path", "dev", cwd=r.path)
    assert missing.returncode == 3 and "no image named 'registry/api'" in missing.stderr
    r.write("dev/notes.yaml", "a: 1\n")
    r.commit("notes")
    r.write("dev/notes.yaml", "a: 2\n")
    dirty = gitops("image", "set", "registry/web:2", "--path", "dev", cwd=r.path)
    assert dirty.returncode == 6 and "uncommitted changes" in dirty.stderr


def test_promote_copies_the_reference_and_commits(tmp_path: Path):
    r = repo(tmp_path)
    proc = gitops("promote", "--from", "dev", "--to", "prod", "--commit", cwd=r.path)
    assert proc.returncode == 0, proc.stderr
    assert (r.path / "prod/web.yaml").read_text() == DEP.format(tag="1")
    assert r.git("log", "-1", "--format=%s") == "promote dev -> prod: registry/web: registry/web:0 -> registry/web:1"
