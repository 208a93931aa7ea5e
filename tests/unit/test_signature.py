"""Signed commits, verified by git itself: real SSH and OpenPGP signatures made by real git in a real repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from source_helpers import GitRepo

from kubectl_gitops.errors import ExitCode, RefusedError
from kubectl_gitops.source.signature import Trust, verify_commit


def ssh_key(tmp: Path, name: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(tmp / name)], check=True)
    return tmp / f"{name}.pub"


def allowed(principal: str, pub: Path) -> str:
    return f'{principal} namespaces="git" {pub.read_text().strip()}\n'


def commit(repo: GitRepo, name: str, *sign: str) -> str:
    repo.write(name, name)
    repo.git("add", name)
    repo.git(*sign, "commit", "-q", *(["-S"] if sign else []), "-m", name)
    return repo.head()


def ssh_signing(pub: Path) -> tuple[str, ...]:
    return ("-c", "gpg.format=ssh", "-c", f"user.signingkey={pub}")


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed (openssh-client): SSH signatures cannot be made")
    return {n: ssh_key(tmp_path, n) for n in ("alice", "mallory")}


def test_a_commit_signed_by_an_allowed_ssh_key_is_accepted_naming_the_signer(tmp_path: Path,
                                                                             keys: dict[str, Path]) -> None:
    repo = GitRepo.create(tmp_path / "repo")
    sha = commit(repo, "a", *ssh_signing(keys["alice"]))
    signed = verify_commit(repo.path / ".git", sha, Trust(allowed("alice@example.com", keys["alice"])))
    assert signed.signer == "alice@example.com" and signed.key.startswith("SHA256:")


def test_unsigned_and_unknown_signers_are_refused_naming_commit_and_key(tmp_path: Path,
                                                                       keys: dict[str, Path]) -> None:
    repo = GitRepo.create(tmp_path / "repo")
    trust = Trust(allowed("alice@example.com", keys["alice"]))
    unsigned = commit(repo, "a")
    with pytest.raises(RefusedError) as e:
        verify_commit(repo.path / ".git", unsigned, trust)
    assert e.value.exit_code == ExitCode.REFUSED and f"commit {unsigned[:12]} is not signed" in e.value.message
    by_mallory = commit(repo, "b", *ssh_signing(keys["mallory"]))
    with pytest.raises(RefusedError) as e:
        verify_commit(repo.path / ".git", by_mallory, trust)
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", str(keys["mallory"])], capture_output=True, text=True,
                                 check=True).stdout.split()[1]
    assert f"commit {by_mallory[:12]} is signed by a key that is not an allowed signer (key {fingerprint})" \
        in e.value.message
    with pytest.raises(RefusedError):  # an empty list allows nobody
        verify_commit(repo.path / ".git", commit(repo, "c", *ssh_signing(keys["alice"])), Trust(""))


def test_a_repositorys_own_config_cannot_choose_the_verifying_program(tmp_path: Path,
                                                                      keys: dict[str, Path]) -> None:
    repo = GitRepo.create(tmp_path / "repo")
    sha = commit(repo, "a", *ssh_signing(keys["mallory"]))
    marker = tmp_path / "ran"
    fake = tmp_path / "fake-ssh-keygen"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\necho 'Good \"git\" signature for alice@example.com'\nexit 0\n")
    fake.chmod(0o755)
    repo.git("config", "gpg.ssh.program", str(fake))
    with pytest.raises(RefusedError):
        verify_commit(repo.path / ".git", sha, Trust(allowed("alice@example.com", keys["alice"])))
    assert not marker.exists()


def test_openpgp_signatures_are_checked_against_a_keyring(tmp_path: Path) -> None:
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed: OpenPGP signatures cannot be made")
    signer_home, keyring, empty = tmp_path / "signer", tmp_path / "keyring", tmp_path / "empty"
    for d in (signer_home, keyring, empty):
        d.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(signer_home)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Alice <alice@example.com>", "ed25519",
                    "sign", "never"], env=env, check=True, capture_output=True)
    public = subprocess.run(["gpg", "--batch", "--export", "alice@example.com"], env=env, check=True,
                            capture_output=True).stdout
    subprocess.run(["gpg", "--batch", "--import"], input=public, env={**os.environ, "GNUPGHOME": str(keyring)},
                   check=True, capture_output=True)
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("a", "a")
    repo.git("add", "a")
    subprocess.run(["git", "-c", "user.signingkey=alice@example.com", "commit", "-q", "-S", "-m", "a"],
                   cwd=repo.path, env=env, check=True)
    sha = repo.head()
    signed = verify_commit(repo.path / ".git", sha, Trust(gpg_home=str(keyring)))
    assert "alice@example.com" in signed.signer
    with pytest.raises(RefusedError, match=f"commit {sha[:12]} has a signature that cannot be checked"):
        verify_commit(repo.path / ".git", sha, Trust(gpg_home=str(empty)))
