"""``current_commit``: the commit a source's ref points at now, as cheaply as git can say it (the watch loop's poll).

A remote URL is asked with ``git ls-remote`` (one round trip, nothing downloaded; credentials reach git the way
clones get them, never through argv); a local repository with ``git rev-parse`` (the loop then sees commits made
or fetched there). A full commit sha is its own answer. Only when the commit moved does the sync fetch
(``cache.py``), so an idle loop downloads nothing.

Hand-written over GitPython: ``ls-remote`` is one git call either way, and parsing its two columns is simpler
than GitPython's remote API, which wants a repository on disk.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from kubectl_gitops import redact
from kubectl_gitops.errors import SourceError
from kubectl_gitops.settings import SourceOptions, environment
from kubectl_gitops.source.cache import _register_credentials, _transport, safe_url
from kubectl_gitops.source.gitcli import _GIT_ENV, _NO_COMMANDS, _git_cli, _rev
from kubectl_gitops.source.repo import is_remote_url

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def pick(lines: str, ref: str | None) -> str | None:
    """The commit ``ref`` names in ``git ls-remote`` output: HEAD, a branch, a tag (peeled), or a full ref."""
    refs: dict[str, str] = {}
    for line in lines.splitlines():
        sha, _, name = line.partition("\t")
        if sha and name:
            refs[name.strip()] = sha.strip()
    wanted = ref or "HEAD"
    for name in (f"{wanted}^{{}}", wanted, f"refs/tags/{wanted}^{{}}", f"refs/heads/{wanted}", f"refs/tags/{wanted}"):
        if name in refs:
            return refs[name]
    return None


def current_commit(opts: SourceOptions) -> str:
    """The commit ``opts.ref`` (default: HEAD, the default branch of a remote) names now. ``SourceError`` when
    it cannot be read (unreachable remote, unknown ref)."""
    ref = opts.ref
    if ref is not None and _SHA.match(ref):
        return ref
    if opts.repo and is_remote_url(opts.repo):
        return _ls_remote(opts.repo, ref)
    base = Path(opts.repo).expanduser() if opts.repo else Path.cwd()
    sha = _rev(_git_cli(base), ref or "HEAD")
    if sha is None:
        raise SourceError(f"unknown ref {ref or 'HEAD'!r} in {base}",
                          hint="use a branch, tag or commit that exists there (git branch -a, git tag)")
    return sha


def tags(repo: str) -> list[str]:
    """The tag names of a repository: ``git ls-remote --tags`` for a URL, ``git for-each-ref`` for a local one."""
    if is_remote_url(repo):
        names = (line.partition("\t")[2].strip() for line in _git_ls_remote(repo, [], tags=True).splitlines())
        return [n.removeprefix("refs/tags/") for n in names if n.startswith("refs/tags/") and not n.endswith("^{}")]
    out = _git_cli(Path(repo).expanduser())("for-each-ref", "--format=%(refname:short)", "refs/tags")
    return out.split()


def _ls_remote(url: str, ref: str | None) -> str:
    pattern = [ref, f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/tags/{ref}^{{}}"] if ref else ["HEAD"]
    sha = pick(_git_ls_remote(url, pattern), ref)
    if sha is None:
        raise SourceError(f"unknown ref {ref or 'HEAD'!r} in {safe_url(url)}",
                          hint="use a branch or tag that exists on the remote (git ls-remote URL)")
    return sha


def _git_ls_remote(url: str, pattern: list[str], *, tags: bool = False) -> str:
    """``git ls-remote [--tags] -- URL [patterns]``: its stdout; ``SourceError`` naming the URL (redacted)."""
    shown = safe_url(url)
    _register_credentials(url)
    t = _transport(url)
    flags = ["--tags"] if tags else []
    try:
        proc = subprocess.run(["git", *_NO_COMMANDS, *t.options, "ls-remote", *flags, "--", t.url, *pattern],
                              env={**os.environ, **_GIT_ENV, **t.env}, capture_output=True, text=True, check=False,
                              timeout=min(environment().git_timeout, 60), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise SourceError(f"git ls-remote {shown} timed out") from e
    except FileNotFoundError as e:
        raise SourceError("cannot use git: the git executable was not found") from e
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        raise SourceError(f"git ls-remote {shown} failed: {redact.redact(lines[-1]) if lines else 'no message'}",
                          hint="check the URL and that git can reach it non-interactively")
    return proc.stdout


__all__ = ["current_commit", "pick", "tags"]
