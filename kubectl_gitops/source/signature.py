"""Is a commit signed by someone allowed? Answered by git itself (``git verify-commit``), never by parsing
signatures here.

SSH signatures are checked against an allowed-signers file (``ssh-keygen``'s ALLOWED SIGNERS format, given to
git as ``gpg.ssh.allowedSignersFile``); OpenPGP signatures against a keyring folder (``GNUPGHOME``): with a keyring
that holds only the allowed keys, a key that verifies is an allowed signer. ``git log --format=%G?%GS%GK`` then
names what was found for the message (unsigned, which key, which principal).

The repository is untrusted and so is its ``.git/config`` when it came from elsewhere: the programs git runs to
verify (``gpg.program``, ``gpg.ssh.program``, ``gpg.x509.program``) are pinned on the command line, which wins over
any config file, as ``core.fsmonitor`` is for the other plumbing (source.gitcli).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kubectl_gitops.errors import RefusedError, SourceError
from kubectl_gitops.source.gitcli import _GIT_ENV, _NO_COMMANDS

_PINNED = ("-c", "gpg.program=gpg", "-c", "gpg.ssh.program=ssh-keygen", "-c", "gpg.x509.program=gpgsm")
_TIMEOUT = 60.0
_STATES = {"N": "is not signed", "B": "has a bad signature", "E": "has a signature that cannot be checked "
                "(its key is not among the allowed)",
           "X": "has a signature that has expired", "Y": "is signed by an expired key",
           "R": "is signed by a revoked key", "U": "is signed by a key that is not an allowed signer",
           "G": "is signed"}


@dataclass(frozen=True)
class Trust:
    """Who may sign: an ssh allowed_signers text, and/or an OpenPGP keyring folder."""

    allowed_signers: str | None = None
    gpg_home: str | None = None
    where: str = "--allowed-signers"  # named in messages: the flag or the policy


@dataclass(frozen=True)
class Signed:
    commit: str
    signer: str  # the principal (ssh) or the signer's name (gpg)
    key: str


def verify_commit(git_dir: Path, commit: str, trust: Trust) -> Signed:
    """The signer of ``commit``, or ``RefusedError`` (exit 6) naming the commit and what signed it."""
    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-signers-") as tmp:
        signers = Path(tmp) / "allowed_signers"
        signers.write_text(trust.allowed_signers or "", encoding="utf-8")
        config = (*_NO_COMMANDS, *_PINNED, "-c", f"gpg.ssh.allowedSignersFile={signers}")
        env = {**os.environ, **_GIT_ENV}
        if trust.gpg_home:
            env["GNUPGHOME"] = trust.gpg_home
        ok = _git(git_dir, env, *config, "verify-commit", "--raw", commit).returncode == 0
        found = _git(git_dir, env, *config, "log", "-1", "--format=%G?%x00%GS%x00%GK", commit).stdout.strip()
        state, signer, key = [*found.split("\0"), "", "", ""][:3]
    short = commit[:12]
    if ok and state in ("G", "U"):
        return Signed(commit, signer or key, key)
    what = _STATES.get(state, "cannot be verified")
    who = f" (key {key}" + (f", signer {signer})" if signer else ")") if key else ""
    raise RefusedError(f"commit {short} {what}{who}: signed commits are required; nothing was changed",
                       hint=f"sign it with a key listed in {trust.where} (git commit -S), or sync a commit that is")


def _git(git_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "--git-dir", str(git_dir), *args], env=env, capture_output=True, text=True,
                              errors="surrogateescape", timeout=_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError as err:
        raise SourceError("cannot use git: the git executable was not found") from err
    except subprocess.TimeoutExpired as err:
        raise SourceError(f"git {args[-3] if len(args) > 2 else ''} timed out verifying a signature") from err


__all__ = ["Signed", "Trust", "verify_commit"]
