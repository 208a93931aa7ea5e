"""open_source against real git repositories made in temporary folders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from source_helpers import GitRepo, configmap

from kubectl_gitops import redact
from kubectl_gitops.errors import ExitCode, SourceError
from kubectl_gitops.settings import SourceOptions
from kubectl_gitops.source.cache import safe_url
from kubectl_gitops.source.repo import Checkout, is_remote_url, open_source


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo.create(tmp_path / "repo")
    r.write("apps/web.yaml", configmap("web", value="v1"))
    r.write("apps/db/db.yaml", configmap("db"))
    r.write("other/x.yaml", configmap("x"))
    r.write(".sops.yaml", "creation_rules: []\n")
    r.commit("first")
    return r


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECTL_GITOPS_CACHE", str(tmp_path / "cache"))


def read(co: Checkout, rel: str) -> str:
    return (co.root / rel).read_text()


def index_state(r: GitRepo) -> tuple[bytes, str]:
    return (r.path / ".git" / "index").read_bytes(), r.status()


# --- the work tree ---------------------------------------------------------------------------------------


def test_work_tree_is_read_by_default_with_uncommitted_edits_and_reports_dirty(repo: GitRepo, monkeypatch):
    repo.write("apps/web.yaml", configmap("web", value="edited"))
    monkeypatch.chdir(repo.path)
    before = index_state(repo)
    with open_source(SourceOptions(path="apps"), committed_only=False) as co:
        assert co.root == repo.path.resolve()
        assert co.repo_root == repo.path.resolve()
        assert "edited" in read(co, "apps/web.yaml")
        assert co.commit == repo.head()
        assert co.dirty is True
        assert co.ref is None and co.path == "apps" and co.work_tree
        assert "work tree dirty" in co.describe()
    assert index_state(repo) == before, "git status must not refresh the user's index"


def test_clean_work_tree_is_not_dirty(repo: GitRepo, monkeypatch):
    monkeypatch.chdir(repo.path)
    with open_source(SourceOptions(), committed_only=False) as co:
        assert co.dirty is False
        assert co.path == "."


@pytest.mark.parametrize(("changed", "path", "dirty"), [
    ("apps/new.yaml", "apps", True),            # untracked under the path
    ("other/new.yaml", "apps", False),          # untracked elsewhere
    ("apps/db/db.yaml", "apps", True),          # tracked edit, deeper
    ("other/x.yaml", "apps", False),            # tracked edit elsewhere
    ("other/x.yaml", ".", True),
])
def test_dirty_only_counts_changes_under_the_path(repo: GitRepo, monkeypatch, changed, path, dirty):
    repo.write(changed, configmap("changed"))
    monkeypatch.chdir(repo.path)
    with open_source(SourceOptions(path=path), committed_only=False) as co:
        assert co.dirty is dirty


def test_staged_changes_make_the_tree_dirty(repo: GitRepo, monkeypatch):
    repo.write("apps/web.yaml", configmap("web", value="staged"))
    repo.git("add", "apps/web.yaml")
    monkeypatch.chdir(repo.path)
    with open_source(SourceOptions(path="apps"), committed_only=False) as co:
        assert co.dirty is True


def test_path_is_relative_to_the_current_folder_inside_the_repository(repo: GitRepo, monkeypatch):
    monkeypatch.chdir(repo.path / "apps")
    with open_source(SourceOptions(path="db"), committed_only=False) as co:
        assert co.path == "apps/db"
    with open_source(SourceOptions(), committed_only=False) as co:
        assert co.path == "apps"


def test_path_is_relative_to_the_repo_folder_given_with_repo(repo: GitRepo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open_source(SourceOptions(repo=str(repo.path / "apps"), path="db"), committed_only=False) as co:
        assert co.path == "apps/db"
        assert co.repo_root == repo.path.resolve()


def test_work_tree_false_reads_head(repo: GitRepo):
    repo.write("apps/web.yaml", configmap("web", value="edited"))
    with open_source(SourceOptions(repo=str(repo.path), work_tree=False), committed_only=False) as co:
        assert "v1" in read(co, "apps/web.yaml")
        assert co.dirty is False


# --- committed content and refs ------------------------------------------------------------------------------


def test_committed_only_reads_head_and_leaves_work_tree_and_index_alone(repo: GitRepo):
    repo.write("apps/web.yaml", configmap("web", value="edited"))
    repo.write("apps/untracked.yaml", configmap("u"))
    repo.write("apps/db/db.yaml", configmap("db", value="staged"))
    repo.git("add", "apps/db/db.yaml")
    before = index_state(repo)
    with open_source(SourceOptions(repo=str(repo.path), path="apps"), committed_only=True) as co:
        assert co.root != repo.path.resolve()
        assert "v1" in read(co, "apps/web.yaml")
        assert not (co.root / "apps/untracked.yaml").exists()
        assert 'value: "1"' in read(co, "apps/db/db.yaml")
        assert co.commit == repo.head()
        assert co.dirty is False
        assert not co.work_tree
        exported = co.root
    assert not exported.exists(), "the export must be removed on exit"
    assert index_state(repo) == before
    assert "edited" in (repo.path / "apps/web.yaml").read_text()


def test_export_is_removed_when_the_block_raises(repo: GitRepo):
    with pytest.raises(RuntimeError), open_source(SourceOptions(repo=str(repo.path)), committed_only=True) as co:
        exported = co.root
        raise RuntimeError("boom")
    assert not exported.exists()


@pytest.fixture
def history(repo: GitRepo) -> dict[str, str]:
    first = repo.head()
    repo.git("tag", "v1.0")
    repo.write("apps/web.yaml", configmap("web", value="v2"))
    second = repo.commit("second")
    repo.git("branch", "release")
    repo.write("apps/web.yaml", configmap("web", value="v3"))
    third = repo.commit("third")
    return {"first": first, "second": second, "third": third}


@pytest.mark.parametrize(("ref", "commit", "value"), [
    ("v1.0", "first", "v1"),
    ("release", "second", "v2"),
    ("main", "third", "v3"),
    ("HEAD~1", "second", "v2"),
    ("<first>", "first", "v1"),
    ("<first:8>", "first", "v1"),
])
def test_ref_reads_that_revision_as_branch_tag_or_commit(repo: GitRepo, history, ref, commit, value):
    if ref.startswith("<"):
        name, _, n = ref.strip("<>").partition(":")
        ref = history[name][: int(n)] if n else history[name]
    before = index_state(repo)
    with open_source(SourceOptions(repo=str(repo.path), ref=ref, path="apps"), committed_only=False) as co:
        assert co.commit == history[commit]
        assert co.ref == ref
        assert f'"{value}"' in read(co, "apps/web.yaml")
        assert co.dirty is False
    assert index_state(repo) == before


def test_ref_leaves_a_dirty_work_tree_untouched(repo: GitRepo, history):
    repo.write("apps/web.yaml", configmap("web", value="mine"))
    repo.write("apps/new.yaml", configmap("new"))
    before = index_state(repo)
    with open_source(SourceOptions(repo=str(repo.path), ref="v1.0"), committed_only=False) as co:
        assert '"v1"' in read(co, "apps/web.yaml")
    assert index_state(repo) == before
    assert "mine" in (repo.path / "apps/web.yaml").read_text()
    assert repo.git("rev-parse", "--abbrev-ref", "HEAD") == "main"


def test_export_holds_the_subtree_and_the_files_above_it(repo: GitRepo):
    with open_source(SourceOptions(repo=str(repo.path), path="apps/db"), committed_only=True) as co:
        assert (co.root / "apps/db/db.yaml").is_file()
        assert (co.root / "apps/web.yaml").is_file()  # a file of a folder above
        assert (co.root / ".sops.yaml").is_file()
        assert not (co.root / "other").exists()


def test_export_holds_the_whole_tree_when_a_kustomization_may_reach_outside(repo: GitRepo):
    repo.write("overlays/prod/kustomization.yaml", "resources: [../../other]\n")
    repo.commit("overlay")
    with open_source(SourceOptions(repo=str(repo.path), path="overlays/prod"), committed_only=True) as co:
        assert (co.root / "other/x.yaml").is_file()


def test_export_keeps_symlinks_inside_the_tree(repo: GitRepo):
    # links leaving the tree refuse the export: tests/unit/test_source_security.py
    (repo.path / "apps/link.yaml").symlink_to("web.yaml")
    repo.commit("links")
    with open_source(SourceOptions(repo=str(repo.path)), committed_only=True) as co:
        assert (co.root / "apps/link.yaml").read_text() == (co.root / "apps/web.yaml").read_text()


def test_remote_only_branch_is_found_in_a_local_clone(repo: GitRepo, tmp_path: Path):
    repo.git("branch", "feature")
    clone = GitRepo.clone(str(repo.path), tmp_path / "clone")
    with open_source(SourceOptions(repo=str(clone.path), ref="feature"), committed_only=False) as co:
        assert co.commit == repo.head()


# --- remotes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("committed_only", [True, False], ids=["HEAD", "work tree"])
def test_on_remote_says_whether_the_commit_was_pushed(tmp_path: Path, committed_only: bool):
    upstream = GitRepo.create(tmp_path / "upstream.git", bare=True)
    work = GitRepo.clone(str(upstream.path), tmp_path / "work")
    work.write("a.yaml", configmap("a"))
    work.commit("a")
    with open_source(SourceOptions(repo=str(work.path)), committed_only=committed_only) as co:
        assert co.on_remote is False
        assert co.remote_url == str(upstream.path)
        assert co.work_tree is not committed_only
    work.git("push", "-q", "origin", "main")
    with open_source(SourceOptions(repo=str(work.path)), committed_only=committed_only) as co:
        assert co.on_remote is True


@pytest.mark.parametrize("committed_only", [True, False], ids=["HEAD", "work tree"])
def test_on_remote_is_none_without_remotes(repo: GitRepo, committed_only: bool):
    with open_source(SourceOptions(repo=str(repo.path)), committed_only=committed_only) as co:
        assert co.on_remote is None
        assert co.remote_url is None
        assert co.commit == repo.head()


def test_reading_the_work_tree_does_not_import_gitpython(repo: GitRepo):
    """Every plain diff reads the work tree: it must not pay GitPython's import (~60 ms)."""
    import subprocess
    import sys

    code = ("import sys\nfrom kubectl_gitops.settings import SourceOptions\nfrom kubectl_gitops.source.repo import "
            f"open_source\nwith open_source(SourceOptions(repo={str(repo.path)!r}), committed_only=False) as co:\n"
            "    print(co.commit, co.dirty)\nprint('git' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert out == [repo.head(), "False", "False"]


@pytest.fixture
def upstream(tmp_path: Path, repo: GitRepo) -> GitRepo:
    bare = GitRepo.create(tmp_path / "upstream.git", bare=True)
    repo.git("remote", "add", "origin", str(bare.path))
    repo.git("push", "-q", "origin", "main")
    return bare


def test_remote_url_is_cloned_into_the_cache_and_fetched_on_reuse(repo: GitRepo, upstream: GitRepo, tmp_path):
    url = f"file://{upstream.path}"
    with open_source(SourceOptions(repo=url, path="apps"), committed_only=True) as co:
        assert co.commit == repo.head()
        assert co.repo_root is None
        assert co.remote_url == url
        assert co.on_remote is True
        assert '"v1"' in read(co, "apps/web.yaml")
    cached = tmp_path / "cache" / "repos" / hashlib.sha256(url.encode()).hexdigest()[:20]
    assert (cached / "HEAD").is_file()

    repo.write("apps/web.yaml", configmap("web", value="pushed"))
    pushed = repo.commit("pushed")
    repo.git("push", "-q", "origin", "main")
    with open_source(SourceOptions(repo=url, path="apps"), committed_only=False) as co:
        assert co.commit == pushed
        assert '"pushed"' in read(co, "apps/web.yaml")


def test_remote_branch_and_tag_are_resolved(repo: GitRepo, upstream: GitRepo):
    first = repo.head()
    repo.git("tag", "v1")
    repo.write("apps/web.yaml", configmap("web", value="feature"))
    feature = repo.commit("feature")
    repo.git("push", "-q", "origin", "main:feature", "v1")
    url = f"file://{upstream.path}"
    with open_source(SourceOptions(repo=url, ref="feature"), committed_only=True) as co:
        assert co.commit == feature
    with open_source(SourceOptions(repo=url, ref="v1"), committed_only=True) as co:
        assert co.commit == first
    with open_source(SourceOptions(repo=url, ref=first), committed_only=True) as co:
        assert co.commit == first


def test_unknown_remote_ref_says_what_to_do(upstream: GitRepo):
    with pytest.raises(SourceError) as e, open_source(SourceOptions(repo=f"file://{upstream.path}", ref="nope"),
                                                       committed_only=True):
        pass
    assert "unknown ref 'nope'" in str(e.value)
    assert e.value.hint and "push" in e.value.hint


def test_unreachable_remote_is_a_source_error(tmp_path: Path):
    with pytest.raises(SourceError) as e, open_source(SourceOptions(repo=f"file://{tmp_path}/missing.git"),
                                                       committed_only=True):
        pass
    assert "cannot clone" in str(e.value)


def test_credentials_in_a_remote_url_never_appear(monkeypatch):
    redact.clear()
    url = "https://deploy:s3cr3t-token@127.0.0.1:1/org/repo.git"  # refused at once: no DNS, no network
    monkeypatch.setenv("KUBECTL_GITOPS_GIT_TIMEOUT", "20")
    with pytest.raises(SourceError) as e, open_source(SourceOptions(repo=url), committed_only=True):
        pass
    text = f"{e.value} {e.value.hint}"
    assert "s3cr3t-token" not in text
    assert "https://127.0.0.1:1/org/repo.git" in text
    assert redact.redact("x s3cr3t-token y") == "x *** y"
    redact.clear()


@pytest.mark.parametrize(("text", "remote"), [
    ("https://github.com/org/repo.git", True),
    ("ssh://git@github.com/org/repo.git", True),
    ("git@github.com:org/repo.git", True),
    ("file:///srv/git/repo.git", True),
    ("../repo", False),
    ("repo", False),
])
def test_remote_urls_are_told_from_local_paths(text, remote):
    assert is_remote_url(text) is remote


def test_safe_url_drops_user_info():
    assert safe_url("https://u:p@host/x.git") == "https://host/x.git"
    assert safe_url("git@host:x.git") == "git@host:x.git"


# --- errors and plain folders ----------------------------------------------------------------------------------


def test_not_a_git_repository_is_an_error_with_what_to_do(tmp_path: Path, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    with pytest.raises(SourceError) as e, open_source(SourceOptions(), committed_only=False):
        pass
    assert "not inside a git repository" in str(e.value)
    assert e.value.hint and "--repo" in e.value.hint
    assert e.value.exit_code == ExitCode.INVALID_INPUT


def test_plain_folder_given_as_repo_is_read_as_files_without_a_commit(tmp_path: Path):
    plain = tmp_path / "plain"
    (plain / "apps").mkdir(parents=True)
    (plain / "apps/a.yaml").write_text(configmap("a"))
    for committed_only in (False, True):
        with open_source(SourceOptions(repo=str(plain), path="apps"), committed_only=committed_only) as co:
            assert co.root == plain.resolve()
            assert co.commit is None and co.dirty is False and co.on_remote is None
            assert co.path == "apps"


def test_plain_folder_with_a_ref_is_an_error(tmp_path: Path):
    with pytest.raises(SourceError, match="not a git repository"), \
            open_source(SourceOptions(repo=str(tmp_path), ref="main"), committed_only=False):
        pass


@pytest.mark.parametrize("ref", ["nope", "v9.9", "0123456789abcdef0123456789abcdef01234567"])
def test_unknown_ref_is_an_error_naming_it(repo: GitRepo, ref):
    with pytest.raises(SourceError) as e, open_source(SourceOptions(repo=str(repo.path), ref=ref),
                                                       committed_only=False):
        pass
    assert repr(ref) in str(e.value)
    assert e.value.hint and "git branch -a" in e.value.hint


def test_option_like_ref_is_refused(repo: GitRepo):
    with pytest.raises(SourceError, match="invalid ref"), \
            open_source(SourceOptions(repo=str(repo.path), ref="--output=/tmp/x"), committed_only=False):
        pass


def test_path_missing_in_the_revision_is_an_error(repo: GitRepo):
    first = repo.head()
    repo.write("later/a.yaml", configmap("a"))
    repo.commit("later")
    with pytest.raises(SourceError) as e, open_source(SourceOptions(repo=str(repo.path), ref=first, path="later"),
                                                       committed_only=False):
        pass
    assert "'later' does not exist" in str(e.value)
    assert first[:12] in str(e.value)


def test_path_missing_in_the_work_tree_is_an_error(repo: GitRepo):
    with pytest.raises(SourceError, match="does not exist in the work tree"), \
            open_source(SourceOptions(repo=str(repo.path), path="nope"), committed_only=False):
        pass


def test_path_leaving_the_repository_is_an_error(repo: GitRepo):
    with pytest.raises(SourceError, match="outside the repository"), \
            open_source(SourceOptions(repo=str(repo.path), path="../.."), committed_only=False):
        pass


def test_repository_without_commits(tmp_path: Path):
    empty = GitRepo.create(tmp_path / "empty")
    empty.write("a.yaml", configmap("a"))
    with open_source(SourceOptions(repo=str(empty.path)), committed_only=False) as co:
        assert co.commit is None
        assert co.dirty is True
    with pytest.raises(SourceError, match="no commits yet"), \
            open_source(SourceOptions(repo=str(empty.path)), committed_only=True):
        pass


def test_missing_repo_path_is_an_error(tmp_path: Path):
    with pytest.raises(SourceError, match="does not exist"), \
            open_source(SourceOptions(repo=str(tmp_path / "nope")), committed_only=False):
        pass


def test_bare_local_repository_reads_head(upstream: GitRepo, repo: GitRepo):
    with open_source(SourceOptions(repo=str(upstream.path), path="apps"), committed_only=False) as co:
        assert co.commit == repo.head()
        assert (co.root / "apps/web.yaml").is_file()


def test_a_failing_git_command_is_a_source_error_not_a_traceback(repo: GitRepo):
    (repo.path / ".git" / "index").write_bytes(b"not an index")  # `git status` fails: "index file corrupt"
    with pytest.raises(SourceError) as err, open_source(SourceOptions(repo=str(repo.path)), committed_only=False):
        pass
    assert "git status" in str(err.value) and "failed" in str(err.value)
    assert err.value.exit_code == ExitCode.INVALID_INPUT and "git -C" in (err.value.hint or "")
