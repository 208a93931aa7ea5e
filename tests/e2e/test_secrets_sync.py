"""A repository with sops-encrypted Secrets and Vault placeholders syncs to the right Secrets, and no value
is ever shown (the suite-wide canary check in conftest.py watches every output of this test)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from bao_helpers import bao_server
from cli_helpers import gitops
from source_helpers import GitRepo

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.settings import ClusterOptions

pytestmark = pytest.mark.e2e
BIN = Path(__file__).resolve().parents[2] / "bin"
SOPS_VALUE = "CANARY-sops-7f3a9c"
VAULT_VALUE = "CANARY-vault-1b2d4e"




def secret_data(ns: str, name: str) -> dict[str, str]:
    """Read in-process (no command output that could show the value)."""
    c = Cluster.connect(ClusterOptions())
    rt = c.discovery.lookup("v1", "Secret")
    assert rt is not None
    obj = c.get(rt, ns, name)
    assert obj is not None, f"Secret {ns}/{name} was not created"
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


def test_sync_decrypts_sops_and_resolves_vault_placeholders(tmp_path: Path, namespace: str) -> None:
    keys = tmp_path / "keys.txt"
    env = {"SOPS_AGE_KEY_FILE": str(keys)}
    repo = GitRepo.create(tmp_path / "repo")
    init = gitops("secrets", "init", "--key-file", str(keys), "--dir", str(repo.path), cwd=repo.path, env=env)
    assert init.returncode == 0, init.stderr
    repo.write("app/db-secret.yaml", f"""apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: {namespace}
type: Opaque
stringData:
  password: {SOPS_VALUE}
""")
    enc = gitops("secrets", "encrypt", "-i", "app/db-secret.yaml", cwd=repo.path, env=env)
    assert enc.returncode == 0, enc.stderr
    assert SOPS_VALUE not in (repo.path / "app/db-secret.yaml").read_text()
    repo.write("app/api.yaml", f"""apiVersion: v1
kind: Secret
metadata:
  name: api
  namespace: {namespace}
  annotations:
    avp.kubernetes.io/path: secret/data/shop/api
stringData:
  token: <token>
  url: https://api.example.com/<path:secret/data/shop/api#region>
""")
    repo.commit("secrets, encrypted and as placeholders")

    with bao_server() as bao:
        bao.put_v2("secret/shop/api", {"token": VAULT_VALUE, "region": "eu-1"})
        vault_env = {**env, "VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token}
        diff = gitops("diff", "app", "-o", "json", cwd=repo.path, env=vault_env)
        assert diff.returncode == 1, diff.stderr
        synced = gitops("sync", "app", "--adopt", "-v", cwd=repo.path, env=vault_env)
        assert synced.returncode == 0, synced.stderr
        again = gitops("diff", "app", cwd=repo.path, env=vault_env)
        assert again.returncode == 0, again.stdout + again.stderr

        missing = gitops("diff", "app", cwd=repo.path, env={**vault_env, "VAULT_TOKEN": "not-a-token"})
        assert missing.returncode > 1 and "token" in missing.stderr.lower()

    assert secret_data(namespace, "db") == {"password": SOPS_VALUE}
    assert secret_data(namespace, "api") == {"token": VAULT_VALUE, "url": "https://api.example.com/eu-1"}

    no_key = gitops("diff", "app", cwd=repo.path, env={"SOPS_AGE_KEY_FILE": str(tmp_path / "none.txt")})
    assert no_key.returncode == 3
    assert "app/db-secret.yaml" in no_key.stderr
