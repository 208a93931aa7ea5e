"""Committing and pushing a write-back (``image set``, ``promote``): the only git commands that write.

- ``status``: the work tree must be clean (``git status --porcelain``) unless the caller allows a dirty one;
- ``commit``: only the edited files (``git commit -- FILES``), with the repository's own identity;
- ``push``: to the current branch's upstream (else ``origin`` and the same branch name). A rejection because
  the remote moved on (non-fast-forward) is retried, at most ``PUSH_ATTEMPTS`` times: fetch, drop our own
  commit (``git reset --keep HEAD~1``: it refuses rather than touch uncommitted changes), rebase any other
  local commits onto the remote (``--autostash``), re-apply the edit to the files as they now are, commit
  again — or stop when the remote already has the change. Never ``--force``.

Runs the git CLI (with the git timeout of ``settings.environment()``), not GitPython: these are a handful
of porcelain commands whose messages we pass on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kubectl_gitops import redact
from kubectl_gitops.errors import GitopsError, OperationFailed, RefusedError, SourceError
from kubectl_gitops.settings import environment

PUSH_ATTEMPTS = 5
_ENV = {"GIT_TERMINAL_PROMPT": "0"}
_REJECTED = ("non-fast-forward", "fetch first", "[rejected]", "failed to push some refs", "cannot lock ref")


class GitFailed(OperationFailed):
    """A git command that writes failed (exit 4); the message names the command and git's last line."""


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(["git", *args], cwd=root, env={**os.environ, **_ENV}, capture_output=True, text=True,
                              timeout=environment().git_timeout, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError as e:
        raise SourceError("cannot use git: the git executable was not found", hint="install git") from e
    except subprocess.TimeoutExpired as e:
        raise GitFailed(f"git {args[0]} in {root} timed out", hint="raise KUBECTL_GITOPS_GIT_TIMEOUT") from e
    if check and proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise GitFailed(f"git {args[0]} failed: {redact.redact(lines[-1]) if lines else 'no message'}",
                        hint=f"run `git -C {root} {' '.join(args[:2])}` to see why")
    return proc


def top_level(start: Path) -> Path:
    proc = git(start, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0:
        raise SourceError(f"{start} is not inside a git repository", hint="run in a clone of the GitOps repository")
    return Path(proc.stdout.strip())


def refuse_dirty(root: Path) -> None:
    dirty = git(root, "status", "--porcelain", "--untracked-files=no").stdout.splitlines()
    if dirty:
        raise RefusedError(f"the work tree of {root} has uncommitted changes ({len(dirty)} file(s)); nothing was "
                           "edited", details=[d[3:] for d in dirty[:10]],
                           hint="commit or stash them, or pass --allow-dirty")


def commit(root: Path, files: list[Path], message: str) -> str:
    """Commit ``files`` only; the new commit's sha."""
    rel = [os.path.relpath(f, root) for f in files]
    git(root, "add", "--", *rel)
    git(root, "commit", "-q", "-m", message, "--", *rel)
    return git(root, "rev-parse", "HEAD").stdout.strip()


@dataclass(frozen=True)
class Upstream:
    remote: str
    branch: str


def upstream(root: Path) -> Upstream:
    branch = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    if not branch:
        raise RefusedError("HEAD is detached: there is no branch to push",
                           hint="check out the branch to update (in CI: git checkout -B main origin/main)")
    remote = git(root, "config", f"branch.{branch}.remote", check=False).stdout.strip() or "origin"
    merge = git(root, "config", f"branch.{branch}.merge", check=False).stdout.strip()
    return Upstream(remote, merge.removeprefix("refs/heads/") or branch)


@dataclass
class PushResult:
    commit: str | None  # what was pushed (None: the remote already had the change)
    attempts: int


def push(root: Path, up: Upstream, *, reapply: Callable[[], str | None], attempts: int = PUSH_ATTEMPTS,
         sleep: Callable[[float], None] = time.sleep) -> PushResult:
    """Push HEAD to ``up``; on a non-fast-forward, fetch, redo our commit on top with ``reapply`` (which edits
    and commits, returning the new sha, or None when there is nothing left to change) and push again."""
    for attempt in range(1, attempts + 1):
        proc = git(root, "push", "--porcelain", up.remote, f"HEAD:refs/heads/{up.branch}", check=False)
        if proc.returncode == 0:
            return PushResult(git(root, "rev-parse", "HEAD").stdout.strip(), attempt)
        text = proc.stderr + proc.stdout
        if not any(r in text for r in _REJECTED) or attempt == attempts:
            lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("To ")]
            raise GitFailed(f"git push to {up.remote} {up.branch} failed after {attempt} attempt(s): "
                            f"{redact.redact(lines[-1]) if lines else 'no message'}",
                            hint="the commit is kept locally; push it by hand once the cause is fixed")
        sleep(min(0.2 * 2 ** attempt, 5.0))
        git(root, "fetch", "-q", up.remote, f"refs/heads/{up.branch}")
        git(root, "reset", "-q", "--keep", "HEAD~1")
        try:
            git(root, "rebase", "-q", "--autostash", "FETCH_HEAD")
        except GitopsError:
            git(root, "rebase", "--abort", check=False)
            raise
        sha = reapply()
        if sha is None and not git(root, "rev-list", "--count", "FETCH_HEAD..HEAD").stdout.strip("0\n"):
            return PushResult(None, attempt)  # the remote has the change already, and we have nothing else
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def worktree(root: Path, ref: str, *, branch: bool) -> Iterator[Path]:
    """A temporary ``git worktree`` of ``ref`` (``branch``: check the branch out, to commit on it; else a detached
    copy to read), removed afterwards. The user's own work tree is never switched."""
    tmp = Path(tempfile.mkdtemp(prefix="kubectl-gitops-worktree-"))
    path = tmp / "tree"
    try:
        git(root, "worktree", "add", "-q", *([] if branch else ["--detach"]), str(path), ref)
        yield path
    finally:
        git(root, "worktree", "remove", "--force", str(path), check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        git(root, "worktree", "prune", check=False)
