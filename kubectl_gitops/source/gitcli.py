"""Read-only git plumbing for source/: the git CLI runner, blobs by ``git cat-file --batch``, GitPython loaded
lazily (remote clones only), rev-parse and remotes.

Local repositories are read with the git CLI alone: importing GitPython costs 0.1-0.3 s, which every ``sync``
paid to export HEAD before ``BlobReader`` read the blobs through one ``git cat-file --batch`` process."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
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


class BlobReader:
    """Blobs by sha through one ``git cat-file --batch`` process in ``git_dir`` (read-only, no repository
    commands: ``_NO_COMMANDS``). ``chunks(sha)`` yields the blob's content; a missing object is a SourceError."""

    def __init__(self, git_dir: str | os.PathLike[str]):
        try:
            self._proc = subprocess.Popen(["git", *_NO_COMMANDS, "cat-file", "--batch"], cwd=git_dir,
                                          env={**os.environ, **_GIT_ENV}, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except FileNotFoundError as err:
            raise SourceError("cannot use git: the git executable was not found",
                              hint="install git (e.g. apt-get install git) and make sure it is on PATH") from err

    def chunks(self, sha: str, size: int = 1 << 20) -> Iterator[bytes]:
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(sha.encode("ascii") + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            what = b" ".join(header[1:]).decode(errors="replace")
            raise SourceError(f"git cannot read the object {sha[:12]} ({what})",
                              hint="the repository is incomplete or corrupt: run `git fsck`")
        left = int(header[2])
        while left:
            chunk = proc.stdout.read(min(size, left))
            if not chunk:
                raise SourceError(f"git stopped while reading the object {sha[:12]}", hint="run `git fsck`")
            left -= len(chunk)
            yield chunk
        proc.stdout.read(1)  # the newline after each object

    def read(self, sha: str) -> bytes:
        return b"".join(self.chunks(sha))

    def close(self) -> None:
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                stream.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _locate(start: Path) -> tuple[Path, bool] | None:
    """(git folder, bare?) of the repository containing ``start``, by the git CLI; None when there is none.
    Other refusals of git (``safe.directory``'s dubious ownership) are a SourceError naming git's reason."""
    try:
        out = _git_cli(start)("rev-parse", "--is-bare-repository", "--absolute-git-dir").split("\n")
    except _GitFailed as err:
        if "not a git repository" in str(err):
            return None
        raise
    return Path(out[1].strip()), out[0].strip() == "true"


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

