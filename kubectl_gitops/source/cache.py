"""The cache of remote repositories: clone once, fetch under a lock, credentials kept out of argv, config and messages.

Remotes are cloned and fetched with ``transfer.fsckObjects``: git checks every object it receives and refuses a
malformed tree before it reaches the cache. Remote URLs may carry credentials (``https://user:token@host``):
they are registered with ``redact`` and never appear in a ``Checkout`` or an error; git gets the URL without
them (in its arguments and in the cache's config) and the credentials from an inline credential helper that
reads them from its environment and answers only for the URL's host. The cache is keyed by the URL without
credentials (two tokens for one repository share one clone); its folders are 0700.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from kubectl_gitops import redact
from kubectl_gitops.errors import SourceError
from kubectl_gitops.settings import CACHE_ENV, environment
from kubectl_gitops.source.gitcli import _GIT_ENV, _git_module, _git_timeout, _repo_cli, _rev
from kubectl_gitops.source.remote import has_scheme

if TYPE_CHECKING:  # GitPython is imported lazily: `kubectl gitops --help` must stay fast.
    from git import Repo


_SHA = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


def safe_url(url: str) -> str:
    """The URL without user info, for messages and records."""
    if not has_scheme(url):
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _register_credentials(url: str) -> None:
    if has_scheme(url):
        parts = urlsplit(url)
        if parts.password:
            redact.register(parts.password)
            redact.register(unquote(parts.password))
        if parts.username and parts.password is None and len(parts.username) >= 16:  # a token as user name
            redact.register(parts.username)
            redact.register(unquote(parts.username))


def cache_dir() -> Path:
    """Where remote repositories are cloned: ``$KUBECTL_GITOPS_CACHE/repos`` (default ~/.cache/kubectl-gitops)."""
    base = environment().cache or os.path.join("~", ".cache", "kubectl-gitops")
    return Path(base).expanduser() / "repos"


def _private_dir(path: Path) -> None:
    """Create ``path`` readable by its owner only (0700), and narrow it to 0700 if it exists wider."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o700)
    except OSError as err:
        raise SourceError(f"cannot make the cache folder {path} private (0700): {err.strerror or err}",
                          hint=f"it must be a folder you own; remove it or set {CACHE_ENV} to another folder") from err


def _stderr(err: Exception, *, url: str | None = None) -> str:
    """The useful last line of a failed git command, without credentials."""
    text = str(getattr(err, "stderr", "") or err).strip()
    text = text.removeprefix("stderr:").strip().strip("'").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = lines[-1] if lines else "git failed"
    if url and url != safe_url(url):
        line = line.replace(url, safe_url(url))
    return redact.redact(line)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    _private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_FETCH_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")

# Every clone and fetch checks each object it receives, so git itself refuses a tree entry named "..", ".git"
# or "/x" before it reaches the cache (fetch-pack then runs in strict mode: fsck warnings are errors). Two flaws
# of old but honest repositories stay allowed: zero-padded file modes and impossible time zones.
_FSCK_CONFIG = ("transfer.fsckObjects=true", "fetch.fsckObjects=true", "receive.fsckObjects=true",
                "fetch.fsck.zeroPaddedFilemode=ignore", "fetch.fsck.badTimezone=ignore")

# Credentials of an http(s) URL reach git through this helper and the environment, never through argv (`ps`)
# or the cache's config. It answers only for the URL's own protocol and host (not a host a redirect names).
_CRED_ENV = ("KUBECTL_GITOPS_GIT_PROTOCOL", "KUBECTL_GITOPS_GIT_HOST", "KUBECTL_GITOPS_GIT_USERNAME",
             "KUBECTL_GITOPS_GIT_PASSWORD")
_CRED_HELPER = (
    '!f() { test "$1" = get || exit 0; ok=0; while IFS= read -r line && test -n "$line"; do case "$line" in '
    '"protocol=$KUBECTL_GITOPS_GIT_PROTOCOL"|"host=$KUBECTL_GITOPS_GIT_HOST") ok=$((ok + 1));; esac; done; '
    'test "$ok" = 2 && printf "username=%s\\npassword=%s\\n" "$KUBECTL_GITOPS_GIT_USERNAME" '
    '"$KUBECTL_GITOPS_GIT_PASSWORD"; exit 0; }; f')


@dataclass(frozen=True)
class _Transport:
    """How to call git for one remote URL without exposing its credentials."""

    url: str  # what git sees in argv and stores in the cache: no password; no user info at all for http(s)
    options: tuple[str, ...]  # `git -c ...` options (no secret in them)
    env: dict[str, str]  # the environment of the git process: where the credentials are


def _transport(url: str) -> _Transport:
    options = [arg for item in _FSCK_CONFIG for arg in ("-c", item)]
    env = dict(_GIT_ENV)
    if not has_scheme(url):
        return _Transport(url, tuple(options), env)
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return _Transport(url, tuple(options), env)
    userinfo, host = parts.netloc.rsplit("@", 1)
    scheme = parts.scheme.lower()
    user, colon, password = userinfo.partition(":")
    if scheme in ("http", "https") and (colon or len(user) >= 16):  # a password, or a token as user name
        env.update(zip(_CRED_ENV, (scheme, host, unquote(user), unquote(password)), strict=True))
        # the empty value drops the user's own helpers, so none of them stores the URL's token
        options += ["-c", "credential.helper=", "-c", f"credential.helper={_CRED_HELPER}"]
        netloc = host
    elif colon:  # ssh://git:pw@host: the user name is needed; a password git would not use is dropped
        netloc = f"{user}@{host}"
    else:  # https://alice@host, ssh://git@host: a user name, no secret; the user's own helpers know it
        return _Transport(url, tuple(options), env)
    return _Transport(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)),
                      tuple(options), env)


_FSCK_LINE = re.compile(r"(?:object|in tree|in commit|in tag) ([0-9a-f]{7,64}):? ?:? *([A-Za-z]+): (.+)")


def _git_failure(e: Exception, what: str, shown: str, url: str, hint: str) -> SourceError:
    """A failed clone or fetch as a source error; a malformed object git's checks refused is named as such."""
    text = redact.redact(str(getattr(e, "stderr", "") or ""))
    m = _FSCK_LINE.search(text)
    if m:
        return SourceError(f"cannot {what} {shown}: git refused a malformed object from it ({m.group(2)}: "
                           f"{m.group(3).strip()} in {m.group(1)[:12]})",
                           hint="the repository holds a crafted or corrupt commit; nothing was read from it. "
                                "Ask its owners to remove it (`git fsck` shows it)")
    return SourceError(f"cannot {what} {shown}: {_stderr(e, url=url)}", hint=hint)


def _remote_repo(url: str, ref: str | None) -> tuple[Repo, str]:
    """Clone (once) or fetch the remote into the cache; returns the cached bare repository and the commit.

    The cache key is the URL without its credentials: two tokens for one repository share one clone."""
    git = _git_module()
    shown = safe_url(url)
    _register_credentials(url)
    transport = _transport(url)
    cache = cache_dir()
    key = hashlib.sha256(transport.url.encode()).hexdigest()[:20]
    where = cache / key
    timeout = _git_timeout()
    hint = ("check the URL and that git can reach it non-interactively (an SSH agent, a credential helper, "
            "or a token in the URL)")

    def run_git(cwd: Path | None, *args: str) -> None:
        git.Git(cwd).execute(["git", *transport.options, *args], kill_after_timeout=timeout, env=transport.env)

    with _locked(cache / f"{key}.lock"):
        if not (where / "HEAD").exists():
            tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache))
            try:
                run_git(None, "clone", "--bare", "--quiet", "--", transport.url, str(tmp))
                (tmp / "description").write_text(f"kubectl-gitops cache of {shown}\n")
                shutil.rmtree(where, ignore_errors=True)
                tmp.rename(where)
            except git.GitCommandError as e:
                raise _git_failure(e, "clone", shown, url, hint) from e
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            _private_dir(where)
            repo = git.Repo(where)
            repo.git.update_environment(**_GIT_ENV)
        else:
            _private_dir(where)
            repo = git.Repo(where)
            repo.git.update_environment(**_GIT_ENV)
            pinned = ref is not None and _SHA.match(ref) and _rev(_repo_cli(repo), ref)
            if not pinned:  # a commit sha is immutable: no need to ask the remote again
                try:
                    # also replaces a URL with a token that an older version stored in the cache's config
                    repo.git.remote("set-url", "origin", transport.url)
                    run_git(where, "fetch", "--prune", "--quiet", "--force", "origin", *_FETCH_REFSPECS)
                except git.GitCommandError as e:
                    repo.close()
                    raise _git_failure(e, "fetch", shown, url, hint) from e
        rev = ref or "HEAD"
        sha = _rev(_repo_cli(repo), rev)
        if sha is None and ref is not None and re.fullmatch(r"[0-9a-f]{7,64}", ref):
            try:  # a commit on no branch, e.g. a pull request head
                run_git(where, "fetch", "--quiet", "origin", ref)
            except git.GitCommandError as e:
                if _FSCK_LINE.search(str(getattr(e, "stderr", "") or "")):
                    repo.close()
                    raise _git_failure(e, "fetch", shown, url, hint) from e
            sha = _rev(_repo_cli(repo), ref)
        if sha is None:
            repo.close()
            if ref is None:
                raise SourceError(f"{shown} has no commits on its default branch",
                                  hint="push a commit, or pass --ref BRANCH")
            raise SourceError(f"unknown ref {ref!r} in {shown}",
                              hint="use a branch, tag or commit that exists on the remote "
                                   "(see `git ls-remote URL`); push it first if it is local only")
    return repo, sha
