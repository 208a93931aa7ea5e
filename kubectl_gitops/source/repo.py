"""Where the desired state comes from: a git repository, at a ref or as its work tree.

This is the only module that touches git: read-only plumbing (rev-parse, status, remote, for-each-ref) through
the git CLI, and GitPython (imported lazily, only for exports and remotes) for clones, fetches and blobs; reading
the work tree, what every plain ``diff`` does, needs no GitPython, whose import alone costs ~60 ms.

``open_source`` gives a ``Checkout``: a directory whose files are the repository content to render, plus what
we know about it (commit, dirty, pushed or not). The rules:

* Repository. Default: the git repository containing the current directory. ``--repo`` may name a
  local path (any folder inside a repository, or a bare repository) or a remote URL
  (``https://…``, ``ssh://…``, ``file://…``, ``git@host:org/repo.git``). A remote is cloned bare into
  ``$KUBECTL_GITOPS_CACHE/repos/<hash>`` (default ``~/.cache/kubectl-gitops``) once, and fetched on
  every later use (under a file lock, so parallel runs do not trip over each other).
* A local folder that is not in any git repository, given as ``--repo``, is read as plain files: the
  checkout then has ``commit=None`` and ``repo_root`` the folder itself, and ``--ref`` is an error.
  Without ``--repo`` a non-repository is an error: GitOps without git is usually a mistake.
* Path. ``--path`` is relative to the folder the repository was given as: the current directory by
  default (so ``kubectl gitops diff apps/`` works from any subfolder), the ``--repo`` folder, or the
  root of a remote. It may not leave the repository. ``Checkout.path`` holds it relative to ``root``.
* Revision. With no ``--ref`` and ``committed_only=False`` (diff) the work tree is read directly,
  uncommitted and untracked files included, and ``dirty`` says whether anything under the path differs
  from HEAD. With ``committed_only=True`` (sync) or ``--ref``, that commit is exported into a private
  temporary folder (removed on exit) by reading blobs from the object database: the user's work tree
  and index are never touched (``git status`` runs with ``GIT_OPTIONAL_LOCKS=0`` for the same reason).
  A bare repository has no work tree, so HEAD is read.
* Exports (``gitexport``): the path's subtree and the files of the folders above it, or the whole tree when a
  kustomization or chart is inside. A commit is untrusted input (docs/security.md): every entry of its tree is
  checked before anything is written, and links that leave the export are refused.
* ``--ref``: a branch, tag or commit (anything ``git rev-parse`` understands). In a local repository a
  branch that exists only on a remote (``feature`` with ``origin/feature``) is found too. For a remote
  URL, branches and tags are those of the remote; a commit that no branch contains is fetched by sha.

Remotes are cloned and fetched with ``transfer.fsckObjects``: git checks every object it receives and refuses a
malformed tree before it reaches the cache. Remote URLs may carry credentials (``https://user:token@host``):
they are registered with ``redact`` and never appear in a ``Checkout`` or an error; git gets the URL without
them (in its arguments and in the cache's config) and the credentials from an inline credential helper that
reads them from its environment and answers only for the URL's host. The cache is keyed by the URL without
credentials (two tokens for one repository share one clone); its folders are 0700.

Environment: the cache folder and the git timeout come from ``settings.environment()``; git itself inherits our
environment (plus ``_GIT_ENV``), as it would from a shell.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from kubectl_gitops import redact
from kubectl_gitops.errors import SourceError
from kubectl_gitops.settings import CACHE_ENV, GIT_TIMEOUT_ENV, SourceOptions, environment
from kubectl_gitops.source.export import CRAFTED_HINT, exported
from kubectl_gitops.source.remote import has_scheme, looks_remote

if TYPE_CHECKING:  # GitPython is imported lazily: `kubectl gitops --help` must stay fast.
    from git import Repo


# Files that make a folder a render unit (see render.py); their presence widens an export to the whole tree.

_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
_SHA = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Checkout:
    """The repository content to render, and where it came from.

    ``root`` only exists inside the ``open_source`` block when it is an export of a commit.
    """

    root: Path  # a directory whose files are the repository content (work tree, or an export of a commit)
    repo_root: Path | None  # the user's repository root (None for a remote URL cache)
    commit: str | None  # full sha read (HEAD for the work tree); None: no commits yet, or not a git repository
    ref: str | None  # what the user asked for
    dirty: bool  # the work tree was read AND it has uncommitted changes under the path
    on_remote: bool | None  # is `commit` contained in a remote-tracking branch (None: no remotes)
    remote_url: str | None  # without credentials
    path: str = "."  # the manifests folder (or file), relative to root, posix, normalised

    @property
    def short_commit(self) -> str | None:
        return self.commit[:12] if self.commit else None

    @property
    def work_tree(self) -> bool:
        """True when uncommitted files were read (root is the user's work tree)."""
        return self.ref is None and self.repo_root is not None and self.root == self.repo_root

    def describe(self) -> str:
        """One line for headers and logs: ``main @ 1a2b3c4d5e6f (work tree dirty)``."""
        where = self.ref or ("work tree" if self.work_tree else "HEAD")
        text = f"{where} @ {self.short_commit}" if self.commit else f"{where} (no commit)"
        return f"{text} (work tree dirty)" if self.dirty else text


def is_remote_url(repo: str) -> bool:
    """``https://…``, ``ssh://…``, ``file://…`` or scp-like ``git@host:path``; an existing local path never is."""
    if Path(repo).expanduser().exists():
        return False
    return looks_remote(repo)


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


def _git_timeout() -> float:
    return environment().git_timeout


def _git_module() -> Any:
    try:
        import git
    except ImportError as e:  # GitPython raises ImportError when the git executable is missing
        raise SourceError(f"cannot use git: {e}",
                          hint="install git (e.g. apt-get install git) and make sure it is on PATH") from e
    return git


def _stderr(err: Exception, *, url: str | None = None) -> str:
    """The useful last line of a failed git command, without credentials."""
    text = str(getattr(err, "stderr", "") or err).strip()
    text = text.removeprefix("stderr:").strip().strip("'").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = lines[-1] if lines else "git failed"
    if url and url != safe_url(url):
        line = line.replace(url, safe_url(url))
    return redact.redact(line)


# --- paths -------------------------------------------------------------------------------------------


def _relative_path(path: str, *, base: Path, top: Path) -> str:
    """``path`` (relative to ``base`` or absolute) as a normalised posix path relative to ``top``."""
    p = Path(path).expanduser()
    full = p if p.is_absolute() else base / p
    # normpath, not resolve(): symlinks inside the repository stay what the repository says they are.
    full = Path(os.path.normpath(full))
    try:
        rel = full.relative_to(top)
    except ValueError as err:
        raise SourceError(f"path {path!r} is outside the repository {top}",
                          hint="give --path relative to the repository (or the current folder inside it)") from err
    text = rel.as_posix()
    return text if text not in ("", ".") else "."


def _remote_relative_path(path: str) -> str:
    if PurePosixPath(path).is_absolute():
        raise SourceError(f"path {path!r} must be relative to the root of the remote repository",
                          hint="use --path apps/prod (a folder inside the repository)")
    text = posixpath.normpath(path.replace(os.sep, "/"))
    if text == ".." or text.startswith("../"):
        raise SourceError(f"path {path!r} is outside the repository",
                          hint="use a folder inside the repository")
    return text


# --- git helpers ---------------------------------------------------------------------------------------


GitRun = Callable[..., str]


class _GitFailed(SourceError):
    """A read-only git command exited non-zero (or timed out). Callers that expect it (``_rev``) catch it; anywhere
    else it reaches the user as a source error naming the command, not as a traceback."""


def _git_cli(cwd: Path | str) -> GitRun:
    """``run("rev-parse", "HEAD")``: a read-only git command in ``cwd``; its stdout, or ``_GitFailed``."""

    def run(*args: str) -> str:
        try:
            proc = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **_GIT_ENV}, capture_output=True,
                                  text=True, errors="surrogateescape", timeout=_git_timeout(), check=False,
                                  stdin=subprocess.DEVNULL)
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


def _resolve_local(run: GitRun, ref: str, where: str) -> str:
    sha = _rev(run, ref)
    if sha is None:
        # Like `git switch feature`: a branch that exists only on a remote.
        found = [s for r in _remotes(run) if (s := _rev(run, f"refs/remotes/{r}/{ref}"))]
        if len(set(found)) == 1:
            sha = found[0]
    if sha is None:
        raise SourceError(f"unknown ref {ref!r} in {where}",
                          hint="use a branch, tag or commit that exists there (see `git branch -a`, `git tag`, "
                               "`git log`); run `git fetch` if it was pushed by someone else")
    return sha


def _remote_url(run: GitRun, names: list[str]) -> str | None:
    if not names:
        return None
    name = "origin" if "origin" in names else names[0]
    try:
        url = run("remote", "get-url", name).strip()
    except _GitFailed:
        return None
    _register_credentials(url)
    return safe_url(url)


def _contained_in(run: GitRun, sha: str, refs: str) -> bool:
    return bool(run("for-each-ref", "--count=1", "--format=%(refname)", f"--contains={sha}", refs).strip())


def _on_remote(run: GitRun, names: list[str], sha: str | None) -> bool | None:
    if not names:
        return None
    if sha is None:
        return False
    return _contained_in(run, sha, "refs/remotes/")


def _dirty(run: GitRun, rel: str) -> bool:
    out = run("status", "--porcelain", "-z", "--untracked-files=normal", "--", rel)
    return bool(out.strip("\0 \n"))


# --- exports (gitexport writes them) ---------------------------------------------------------------------


def _ls_tree(repo: Repo, sha: str, label: str) -> str:
    """``git ls-tree -r -z --full-tree``: every blob and submodule of the commit's tree."""
    try:
        return _repo_cli(repo)("ls-tree", "-r", "-z", "--full-tree", sha)
    except _GitFailed as err:  # git itself refuses some malformed trees (an empty name, a bad mode)
        reason = str(err).partition(" failed: ")[2] or str(err)
        raise SourceError(f"{label}: git cannot read the commit's tree ({reason}); nothing was written",
                          hint=CRAFTED_HINT) from err


# --- remote cache ------------------------------------------------------------------------------------


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


# --- the entry point -----------------------------------------------------------------------------------


@contextlib.contextmanager
def open_source(opts: SourceOptions, *, committed_only: bool) -> Iterator[Checkout]:
    """Open the repository content described by ``opts`` (see the module docstring for the rules).

    ``committed_only`` (sync) reads HEAD instead of the work tree when no ref is given. Raises
    ``SourceError`` with what to do when the repository, ref or path cannot be read.
    """
    if opts.ref is not None and (not opts.ref.strip() or opts.ref.startswith("-")):
        raise SourceError(f"invalid ref {opts.ref!r}", hint="use a branch, tag or commit name")
    if opts.repo and is_remote_url(opts.repo):
        yield from _open_remote(opts)
        return
    yield from _open_local(opts, committed_only=committed_only)


def _open_remote(opts: SourceOptions) -> Iterator[Checkout]:
    assert opts.repo is not None
    rel = _remote_relative_path(opts.path)
    repo, sha = _remote_repo(opts.repo, opts.ref)
    try:
        label = f"{safe_url(opts.repo)} at {opts.ref or 'HEAD'} ({sha[:12]})"
        on_remote = _contained_in(_repo_cli(repo), sha, "refs/heads/")
        with exported(repo, sha, rel, _ls_tree(repo, sha, label), label=label) as root:
            yield Checkout(root=root, repo_root=None, commit=sha, ref=opts.ref, dirty=False,
                           on_remote=on_remote, remote_url=safe_url(opts.repo), path=rel)
    finally:
        repo.close()


def _open_local(opts: SourceOptions, *, committed_only: bool) -> Iterator[Checkout]:
    base = Path(opts.repo).expanduser() if opts.repo else Path.cwd()
    if not base.exists():
        raise SourceError(f"repository {opts.repo!r} does not exist",
                          hint="pass --repo a local folder or a remote URL (https://, ssh://, git@host:...)")
    base = Path(os.path.abspath(base))
    if base.is_file():
        raise SourceError(f"--repo {opts.repo!r} is a file", hint="pass the repository folder; use --path for a file")
    if opts.ref is None and not committed_only and opts.work_tree:
        checkout = _work_tree_checkout(opts, base)
        if checkout is not None:
            yield checkout
            return
    repo = _open_repo(base)
    if repo is None:
        yield from _open_plain(opts, base)
        return
    try:
        bare = repo.bare or repo.working_tree_dir is None
        top = Path(repo.git_dir if bare else str(repo.working_tree_dir)).resolve()
        if bare:
            rel = _remote_relative_path(opts.path)
        else:
            # `base` may be spelled through a symlink; compare resolved folders, keep the user's path text.
            rel = _relative_path(opts.path, base=base.resolve(), top=top)
        if not bare and opts.ref is None and not committed_only and opts.work_tree:
            # only when the git CLI refused the work tree above (e.g. git's safe.directory check)
            raise SourceError(f"git cannot read the work tree of {top}",
                              hint=f"run `git -C {top} status` to see why")
        run = _repo_cli(repo)
        names = _remotes(run)
        url = _remote_url(run, names)
        rev = opts.ref or "HEAD"
        if opts.ref is None:
            sha = _rev(run, "HEAD")
            if sha is None:
                raise SourceError(f"the repository {top} has no commits yet",
                                  hint="commit the manifests first: sync applies committed content only")
        else:
            sha = _resolve_local(run, rev, str(top))
        label = f"{rev} ({sha[:12]})"
        with exported(repo, sha, rel, _ls_tree(repo, sha, label), label=label) as root:
            yield Checkout(root=root, repo_root=top, commit=sha, ref=opts.ref, dirty=False,
                           on_remote=_on_remote(run, names, sha), remote_url=url, path=rel)
    finally:
        repo.close()


def _work_tree_checkout(opts: SourceOptions, base: Path) -> Checkout | None:
    """The work tree of the repository containing ``base``, read with the git CLI only; None when ``base`` is
    not inside a work tree (a bare repository, a plain folder: the caller's slower path knows those)."""
    run = _git_cli(base)
    try:
        top = Path(run("rev-parse", "--show-toplevel").strip()).resolve()
    except _GitFailed:
        return None
    # `base` may be spelled through a symlink; compare resolved folders, keep the user's path text.
    rel = _relative_path(opts.path, base=base.resolve(), top=top)
    if not (top / rel).exists():
        raise SourceError(f"path {rel!r} does not exist in the work tree of {top}",
                          hint="check --path (it is relative to the current folder, or to --repo)")
    head = _rev(run, "HEAD")
    names = _remotes(run)
    return Checkout(root=top, repo_root=top, commit=head, ref=None, dirty=_dirty(run, rel),
                    on_remote=_on_remote(run, names, head), remote_url=_remote_url(run, names), path=rel)


def _open_plain(opts: SourceOptions, base: Path) -> Iterator[Checkout]:
    if opts.repo is None:
        raise SourceError(f"{base} is not inside a git repository",
                          hint="run the command inside your GitOps repository, pass --repo PATH|URL, "
                               "or `git init` this folder (a plain folder can be read with --repo DIR)")
    if opts.ref is not None:
        raise SourceError(f"{base} is not a git repository, so --ref {opts.ref!r} cannot be read",
                          hint="drop --ref to read the folder's files as they are, or point --repo at a repository")
    top = base.resolve()
    rel = _relative_path(opts.path, base=top, top=top)
    if not (top / rel).exists():
        raise SourceError(f"path {rel!r} does not exist in {top}", hint="check --path (it is relative to --repo)")
    yield Checkout(root=top, repo_root=top, commit=None, ref=None, dirty=False, on_remote=None,
                   remote_url=None, path=rel)
