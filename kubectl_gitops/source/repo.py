"""Where the desired state comes from: a git repository, at a ref or as its work tree.

With ``source.gitcli`` and ``source.cache``, the only code that touches git: read-only plumbing (rev-parse,
status, remote, for-each-ref) through the git CLI, and GitPython (imported lazily, only for exports and remotes)
for clones, fetches and blobs; reading the work tree, what every plain ``diff`` does, needs no GitPython, whose
import alone costs ~60 ms.

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

Remotes, their cache and their credentials: see ``source.cache``.

Environment: the cache folder (source.cache) and the git timeout (source.gitcli) come from
``settings.environment()``; git itself inherits our environment (plus ``_GIT_ENV``), as it would from a shell.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kubectl_gitops.errors import SourceError
from kubectl_gitops.settings import SourceOptions
from kubectl_gitops.source.cache import _register_credentials, _remote_repo, safe_url
from kubectl_gitops.source.export import CRAFTED_HINT, exported
from kubectl_gitops.source.gitcli import (
    BlobReader,
    GitRun,
    _contained_in,
    _git_cli,
    _GitFailed,
    _locate,
    _remotes,
    _repo_cli,
    _rev,
)
from kubectl_gitops.source.remote import looks_remote


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
    git_dir: Path | None = None  # the repository's git directory (signature checks: source.signature)

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


def _ls_tree(run: GitRun, sha: str, label: str) -> str:
    """``git ls-tree -r -z --full-tree``: every blob and submodule of the commit's tree."""
    try:
        return run("ls-tree", "-r", "-z", "--full-tree", sha)
    except _GitFailed as err:  # git itself refuses some malformed trees (an empty name, a bad mode)
        reason = str(err).partition(" failed: ")[2] or str(err)
        raise SourceError(f"{label}: git cannot read the commit's tree ({reason}); nothing was written",
                          hint=CRAFTED_HINT) from err


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
        run = _repo_cli(repo)
        on_remote = _contained_in(run, sha, "refs/heads/")
        blobs = BlobReader(repo.git_dir)
        try:
            with exported(blobs, sha, rel, _ls_tree(run, sha, label), label=label) as root:
                yield Checkout(root=root, repo_root=None, commit=sha, ref=opts.ref, dirty=False,
                               on_remote=on_remote, remote_url=safe_url(opts.repo), path=rel,
                               git_dir=Path(repo.git_dir))
        finally:
            blobs.close()
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
    located = _locate(base)
    if located is None:
        yield from _open_plain(opts, base)
        return
    git_dir, bare = located
    run = _git_cli(git_dir)
    top = git_dir.resolve() if bare else Path(_git_cli(base)("rev-parse", "--show-toplevel").strip()).resolve()
    blobs = BlobReader(git_dir)
    try:
        if bare:
            rel = _remote_relative_path(opts.path)
        else:
            # `base` may be spelled through a symlink; compare resolved folders, keep the user's path text.
            rel = _relative_path(opts.path, base=base.resolve(), top=top)
        if not bare and opts.ref is None and not committed_only and opts.work_tree:
            # only when the git CLI refused the work tree above (e.g. git's safe.directory check)
            raise SourceError(f"git cannot read the work tree of {top}",
                              hint=f"run `git -C {top} status` to see why")
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
        with exported(blobs, sha, rel, _ls_tree(run, sha, label), label=label) as root:
            yield Checkout(root=root, repo_root=top, commit=sha, ref=opts.ref, dirty=False,
                           on_remote=_on_remote(run, names, sha), remote_url=url, path=rel, git_dir=git_dir)
    finally:
        blobs.close()


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


def uncommitted_path(opts: SourceOptions) -> str | None:
    """The manifests path when the work tree has uncommitted changes under it, else None: what
    ``open_source(opts, committed_only=False).dirty`` says, with two git calls instead of four (sync asks this
    before it reads the commit; runbook aliases pay every process)."""
    if opts.repo and is_remote_url(opts.repo):
        return None
    base = Path(opts.repo).expanduser() if opts.repo else Path.cwd()
    if opts.work_tree and base.is_dir():
        run = _git_cli(Path(os.path.abspath(base)))
        try:
            top = Path(run("rev-parse", "--show-toplevel").strip()).resolve()
        except _GitFailed:
            top = None
        if top is not None:
            rel = _relative_path(opts.path, base=Path(os.path.abspath(base)).resolve(), top=top)
            if not (top / rel).exists():
                raise SourceError(f"path {rel!r} does not exist in the work tree of {top}",
                                  hint="check --path (it is relative to the current folder, or to --repo)")
            return rel if _dirty(run, rel) else None
    with open_source(opts, committed_only=False) as co:  # a bare repository, a plain folder: the long way
        return co.path if co.dirty else None


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
