"""`kubectl gitops manifests` as a user runs it (issue 17, item 2): rendered objects, secret values masked (Secret
data, sops-decrypted fields), --show-secrets only on a terminal after a confirmation."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from secrets_helpers import canary
from source_helpers import ROOT

from kubectl_gitops.cli.main import main
from kubectl_gitops.errors import ExitCode

pytestmark = pytest.mark.usefixtures("isolated_secrets")

PLAIN_SECRET = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\n  namespace: demo\ntype: Opaque\n"
                "data:\n  token: {value}\n")
CONFIG = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: demo\n  labels:\n"
          "    app: web\ndata:\n  mode: fast\n")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["manifests", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """A repository with a sops-encrypted Secret (its password a canary), a plain Secret and a ConfigMap."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    monkeypatch.chdir(root)
    assert main(["secrets", "init"]) == 0
    secret = canary()
    (root / "db-secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: demo\n"
                                  f"type: Opaque\nstringData:\n  password: {secret}\n")
    assert main(["secrets", "encrypt", "-i", "db-secret.yaml"]) == 0
    (root / "plain.yaml").write_text(PLAIN_SECRET.format(value="c2VjcmV0"))
    (root / "config.yaml").write_text(CONFIG)
    capsys.readouterr()
    return root, secret


def test_manifests_are_rendered_and_masked(capsys: pytest.CaptureFixture[str], repo: tuple[Path, str]) -> None:
    _, secret = repo
    code, out, err = run(capsys)
    assert code == 0, err
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(out)}
    assert set(docs) == {"db", "plain", "settings"}
    assert docs["db"]["stringData"] == {"password": "***"}
    assert "sops" not in docs["db"]  # decrypted, then masked: no sops metadata either
    assert docs["plain"]["data"] == {"token": "***"}
    assert docs["settings"]["data"] == {"mode": "fast"}
    assert secret not in out + err
    assert "3 object(s)" in err and "2 with masked secret values" in err


def test_manifests_json_name_and_selector(capsys: pytest.CaptureFixture[str], repo: tuple[Path, str]) -> None:
    import json

    code, out, _ = run(capsys, "-o", "json", "-l", "app=web")
    assert code == 0
    assert [d["metadata"]["name"] for d in json.loads(out)] == ["settings"]
    code, out, _ = run(capsys, "-o", "name")
    assert sorted(out.splitlines()) == ["configmap/settings", "secret/db", "secret/plain"]


def test_show_secrets_without_a_terminal_is_refused(capsys: pytest.CaptureFixture[str],
                                                    repo: tuple[Path, str]) -> None:
    _, secret = repo
    code, out, err = run(capsys, "--show-secrets")
    assert code == ExitCode.REFUSED
    assert "only to a terminal" in err
    assert out == "" and secret not in err


def _on_a_terminal(cwd: Path, answer: str, env: dict[str, str]) -> tuple[int, str]:
    """Run `kubectl-gitops manifests --show-secrets` with a pseudo-terminal as stdin/stdout/stderr; type ``answer``."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bin" / "kubectl-gitops"), "manifests", "--show-secrets"],
                            cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    text, sent = b"", False
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        text += chunk
        if not sent and b"[y/N]" in text:
            os.write(master, answer.encode() + b"\n")
            sent = True
    os.close(master)
    return proc.wait(timeout=30), text.decode(errors="replace")


def test_show_secrets_on_a_terminal_asks_then_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    (root / "plain.yaml").write_text(PLAIN_SECRET.format(value="bm90LWEtY2FuYXJ5"))  # not a canary: printed on purpose
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECTL_GITOPS_")}
    env.update({"PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    code, text = _on_a_terminal(root, "n", env)
    assert code == ExitCode.REFUSED, text
    assert "bm90LWEtY2FuYXJ5" not in text
    code, text = _on_a_terminal(root, "y", env)
    assert code == 0, text
    assert "token: bm90LWEtY2FuYXJ5" in text
