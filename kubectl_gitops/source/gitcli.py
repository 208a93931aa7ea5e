"""Read-only git plumbing for source/: the git CLI runner, GitPython loaded lazily, rev-parse and remotes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubectl_gitops import redact
from kubectl_gitops.errors import SourceError
from kubectl_gitops.settings import GIT_TIMEOUT_ENV, environment

if TYPE_CHECKING:  # GitPython is imported lazily: `kubectl gitops --help` must stay fast.
    from git import Repo


_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}


# A repository's own .git/config may name commands that read-only plumbing would run (`git status` runs
# core.fsmonitor); a folder given as --repo may come from someone else, so they are switched off here.
_NO_COMMANDS = ("-c", "core.fsmonitor=false")

def _git_timeout() -> float:
    return environment().git_timeout


def _git_module() -> Any:
    try:
        import git
    except ImportError as e:  # GitPython raises ImportError when the git executable is missing
        raise SourceError(f"cannot use git: {e}",
                          hint="install git (e.g. apt-get install git) and make sure it is on PATH") from e
    return git


GitRun = Callable[..., str]


class _GitFailed(SourceError):
    """A read-only git command exited non-zero (or timed out). Callers that expect it (``_rev``) catch it; anywhere
    else it reaches the user as a source error naming the command, not as a traceback."""


def _git_cli(cwd: Path | str) -> GitRun:
    """``run("rev-parse", "HEAD")``: a read-only git command in ``cwd``; its stdout, or ``_GitFailed``."""

    def run(*args: str) -> str:
        try:
            proc = subprocess.run(["git", *_NO_COMMANDS, *args], cwd=cwd, env={**os.environ, **_GIT_ENV},
                                  capture_output=True, text=True, errors="surrogateescape", timeout=_git_timeout(),
                                  check=False, stdin=subprocess.DEVNULL)
        except FileNotFoundError as err:
            raise SourceError("cannot use git: the git executable was not found",
                              hint="install git (e.g. apt-get install git) and make sure it is on PATH") from err
        except subprocess.TimeoutExpired as err:
            raise _GitFailed(f"git {args[0]} in {cwd} timed out", hint=f"raise {GIT_TIMEOUT_ENV}") from err
        if proc.returncode != 0:
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
            raise _GitFailed(f"git {args[0]} in {cwd} failed: {redact.redact(lines[-1]) if lines else 'no message'}",
                             hint=f"run `git -C {cwd} {args[0]}` to see why")
        return proc.stdout

    return run


def _repo_cli(repo: Repo) -> GitRun:
    return _git_cli(os.fspath(repo.working_tree_dir or repo.git_dir))


def _open_repo(start: Path) -> Repo | None:
    """The repository containing ``start`` (which may be a bare repository), or None."""
    git = _git_module()
    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    repo.git.update_environment(**_GIT_ENV)
    return repo


def _rev(run: GitRun, rev: str) -> str | None:
    """Full sha of the commit ``rev`` names, or None."""
    try:
        out = run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    except _GitFailed:
        return None
    return out.strip() or None


def _remotes(run: GitRun) -> list[str]:
    return run("remote").split()


def _contained_in(run: GitRun, sha: str, refs: str) -> bool:
    return bool(run("for-each-ref", "--count=1", "--format=%(refname)", f"--contains={sha}", refs).strip())

