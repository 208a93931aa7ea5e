"""Plaintext temporary files of `secrets edit` and the git merge driver are removed on SIGTERM and SIGHUP too
(issue 11, item 8), not only on a normal exit, an error or Ctrl-C.

The real CLI runs in a subprocess (bin/kubectl-gitops, as kubectl execs it); the editor, or ``git merge-file``
for the driver, is a script that records where the plaintext is and then waits. The test sends the signal
to the CLI and checks: the documented exit code (128 + the signal: 143, 129), the private folder gone from
$TMPDIR, the child process gone, the encrypted file unchanged.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubectl_gitops.secrets import agekeys, sops

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0  # an upper bound for the CLI to reach the editor, not a timing assertion


@dataclass
class Setup:
    repo: Path
    tmpdir: Path
    record: Path
    env: dict[str, str]
    secret: Path


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    repo, tmpdir, home = tmp_path / "repo", tmp_path / "tmp", tmp_path / "home"
    for d in (repo, tmpdir, home):
        d.mkdir()
    owner = agekeys.Identity.generate()
    keyfile = home / "keys.txt"
    keyfile.write_text(owner.secret_string() + "\n")
    (repo / ".sops.yaml").write_text(f"creation_rules:\n  - path_regex: secret\n    age: {owner.recipient}\n")
    secret = repo / "db-secret.yaml"
    secret.write_text(sops.encrypt_text(f"password: CANARY-s3cr3t-{uuid.uuid4().hex[:10]}\n", "yaml", sops.Rules(),
                                        [str(owner.recipient)], "db-secret.yaml"))
    env = {"PATH": os.pathsep.join([str(ROOT / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]]),
           "HOME": str(home), "TMPDIR": str(tmpdir), "SOPS_AGE_KEY_FILE": str(keyfile), "NO_COLOR": "1",
           "GIT_CONFIG_NOSYSTEM": "1"}
    return Setup(repo, tmpdir, tmp_path / "record", env, secret)


def waiting_script(path: Path, record: Path) -> None:
    """A program that writes "<its pid> <its last argument>" to ``record``, then waits to be killed."""
    path.write_text(f"#!{sys.executable}\nimport os, sys, time\n"
                    f"open({str(record)!r} + '.part', 'w').write(f'{{os.getpid()}} {{sys.argv[-1]}}')\n"
                    f"os.rename({str(record)!r} + '.part', {str(record)!r})\n"
                    "time.sleep(600)\n")
    path.chmod(0o755)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def start_and_signal(s: Setup, args: list[str], sig: signal.Signals) -> tuple[subprocess.CompletedProcess[str], bool,
                                                                             Path]:
    """Run the CLI until its child recorded itself, send ``sig``; (result, whether the child is gone, the
    plaintext file's path). A child left running is killed afterwards, so a failing test leaves nothing."""
    proc = subprocess.Popen([str(ROOT / "bin" / "kubectl-gitops"), *args], cwd=s.repo, env=s.env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child = 0
    try:
        deadline = time.monotonic() + WAIT
        while not s.record.exists():
            assert proc.poll() is None, f"the CLI exited early: {proc.communicate()}"
            assert time.monotonic() < deadline, "the CLI never started the child"
            time.sleep(0.05)
        pid, plaintext_path = s.record.read_text().split(" ", 1)
        child = int(pid)
        plain = Path(plaintext_path)
        assert plain.is_file() and plain.parent.parent == s.tmpdir  # a private folder in $TMPDIR, right now
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=WAIT)
        child_gone = gone(child)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if child and not gone(child):
            os.kill(child, signal.SIGKILL)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), child_gone, plain


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"])
def test_edit_removes_the_plaintext_on_a_signal(setup: Setup, tmp_path: Path, sig: signal.Signals,
                                                code: int) -> None:
    editor = tmp_path / "editor"
    waiting_script(editor, setup.record)
    setup.env["EDITOR"] = str(editor)
    before = setup.secret.read_bytes()
    done, editor_gone, plain = start_and_signal(setup, ["secrets", "edit", "db-secret.yaml"], sig)
    assert done.returncode == code, done.stderr
    assert f"stopped by {sig.name}" in done.stderr and "Traceback" not in done.stderr
    assert not plain.exists() and list(setup.tmpdir.iterdir()) == []
    assert editor_gone  # subprocess.run killed and reaped the editor on the way out
    assert setup.secret.read_bytes() == before


def test_merge_driver_removes_the_plaintext_on_sigterm(setup: Setup, tmp_path: Path) -> None:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    real_git = shutil.which("git")
    assert real_git
    waiting_script(fake / "git-merge-file-wait", setup.record)
    wait = fake / "git-merge-file-wait"
    (fake / "git").write_text(f"#!/bin/sh\nif [ \"$1\" = merge-file ]; then exec {wait} \"$@\"; "
                              f"fi\nexec {real_git} \"$@\"\n")
    (fake / "git").chmod(0o755)
    setup.env["PATH"] = f"{fake}{os.pathsep}{setup.env['PATH']}"
    sides = []
    for name in ("base", "ours", "theirs"):
        p = tmp_path / name
        p.write_bytes(setup.secret.read_bytes())
        sides.append(str(p))
    before = Path(sides[1]).read_bytes()
    done, git_gone, plain = start_and_signal(setup, ["secrets", "merge-driver", *sides, "db-secret.yaml"],
                                            signal.SIGTERM)
    assert done.returncode == 143, done.stderr
    assert plain.name == "theirs" and not plain.exists() and list(setup.tmpdir.iterdir()) == []
    assert git_gone
    assert Path(sides[1]).read_bytes() == before
