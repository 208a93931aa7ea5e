"""Which Vault paths placeholders may read (decided before any request), kubectl's CA-plus-insecure rule, and
key material kept out of ``repr``. The server-side half (the mount-type preflight) is tested against a real
OpenBao in tests/integration/test_vault_openbao.py."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from kubectl_gitops.cluster import kubeconfig
from kubectl_gitops.cluster.execcred import Credential
from kubectl_gitops.errors import ExitCode, InvalidInputError, SecretsError, UsageError
from kubectl_gitops.model import Manifest, Origin
from kubectl_gitops.secrets import agekeys, vault, vaultpaths
from kubectl_gitops.secrets.keys import Keyring
from kubectl_gitops.secrets.placeholders import resolve_placeholders

# -- paths ------------------------------------------------------------------------------------------------

GOOD = ["secret/data/shop/db", "kv/app", "kv1/shop/api", "team-a/data/x.y", "secret/data/a b", "secret/data/..x",
        "Secret/data/sys"]


@pytest.mark.parametrize("path", GOOD)
def test_well_formed_kv_paths_pass_the_default_rule(path: str) -> None:
    assert vaultpaths.path_problem(path) is None


@pytest.mark.parametrize(("path", "reason"), [
    ("secret/data/../../sys/policies/acl/root", "'..' segment"),
    ("secret/data/./app", "'.' or '..' segment"),
    ("..", "'..' segment"),
    ("secret//data/app", "empty segment"),
    ("/secret/data/app", "empty segment"),
    ("secret/data/app/", "empty segment"),
    ("secret/data/%2e%2e/%2e%2e/sys/mounts", "percent-encoding"),
    ("secret/data/app%2fx", "percent-encoding"),
    ("secret\\data\\..\\..\\sys", "backslash"),
    ("secret/data/app?version=1", "query"),
    ("secret/data/app#frag", "fragment"),
    ("secret/data/a\tb", "control or whitespace"),
    ("secret/data/a\nb", "control or whitespace"),
    ("", "empty"),
    ("auth/token/lookup-self", "auth/ is a system, auth or non-KV mount"),
    ("sys/mounts", "sys/ is a system"),
    ("SYS/mounts", "SYS/ is a system"),
    ("identity/entity/id/x", "identity/"),
    ("cubbyhole/x", "cubbyhole/"),
    ("transit/export/encryption-key/k", "transit/"),
    ("pki/issue/web", "pki/"),
    ("database/creds/admin", "database/"),
])
def test_bad_paths_are_refused_without_a_request(path: str, reason: str) -> None:
    problem = vaultpaths.path_problem(path)
    assert problem is not None and reason in problem, problem


def test_allowed_prefixes_are_segment_prefixes_and_replace_the_default_rule() -> None:
    allow = vaultpaths.normalise_allow(["secret/data/shop/", "/team-a", "secret/data/shop"])
    assert allow == ("secret/data/shop", "team-a")
    assert vaultpaths.path_problem("secret/data/shop", allow) is None
    assert vaultpaths.path_problem("secret/data/shop/db", allow) is None
    assert vaultpaths.path_problem("team-a/anything", allow) is None
    refused = vaultpaths.path_problem("secret/data/shopping/db", allow)  # not a segment prefix
    assert refused is not None and "not under an allowed prefix (secret/data/shop, team-a)" in refused
    assert "not under an allowed prefix" in (vaultpaths.path_problem("secret/data/other", allow) or "")
    # lexical rules still apply under an allowed prefix
    assert "'..' segment" in (vaultpaths.path_problem("secret/data/shop/../../../sys/mounts", allow) or "")
    # a prefix the user names is trusted, even a non-KV one
    assert vaultpaths.path_problem("pki/issue/web", vaultpaths.normalise_allow(["pki/issue"])) is None


@pytest.mark.parametrize("prefix", ["", "/", "secret/../sys", "secret/%2e", "a//b"])
def test_a_malformed_allowed_prefix_is_a_usage_error(prefix: str) -> None:
    with pytest.raises(UsageError) as info:
        vaultpaths.normalise_allow([prefix])
    assert info.value.exit_code == ExitCode.USAGE and "--vault-allow-prefix" in info.value.message


def _m(obj: dict, file: str, line: int = 1) -> Manifest:
    return Manifest(obj, Origin(file, line))


def _hostile_manifests() -> list[Manifest]:
    lookup = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "who", "namespace": "default",
                           "annotations": {"avp.kubernetes.io/kv-version": "1"}},
              "data": {"id": "<path:auth/token/lookup-self#id>", "ok": "<path:kv/app#k>"}}
    dotdot = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
              "stringData": {"root": "<path:secret/data/../../sys/policies/acl/root#policy | base64encode>"},
              "data": {"enc": base64.b64encode(b"x=<path:secret/data/%2e%2e/x#k>").decode()}}
    generic = {"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "g", "namespace": "default",
                            "annotations": {"avp.kubernetes.io/path": "cubbyhole/x"}},
               "stringData": {"a": "<a>", "b": "<b>"}}
    ignored = {"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "i", "namespace": "default",
                            "annotations": {"avp.kubernetes.io/ignore": "true"}},
               "stringData": {"a": "<path:sys/mounts#x>"}}
    clean = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "<not-a-placeholder>"}}
    return [_m(lookup, "apps/who.yaml", 3), _m(dotdot, "apps/s.yaml"), _m(generic, "apps/g.yaml", 7),
            _m(ignored, "apps/i.yaml"), _m(clean, "apps/c.yaml")]


def test_every_refused_path_is_listed_with_its_object_file_and_field() -> None:
    with pytest.raises(SecretsError) as info:
        vaultpaths.check_placeholder_paths(_hostile_manifests())
    err = info.value
    assert err.exit_code == ExitCode.INVALID_INPUT
    assert err.message == "refused 4 Vault paths in placeholders, nothing was read from Vault"
    assert "--vault-allow-prefix" in (err.hint or "") and "KUBECTL_GITOPS_VAULT_ALLOW" in (err.hint or "")
    details = "\n".join(err.details)
    assert len(err.details) == 4, details
    assert "ConfigMap default/who (apps/who.yaml:3) data.id: <path:auth/token/lookup-self#id>: path " \
           "'auth/token/lookup-self': auth/ is a system" in details
    assert "apps/s.yaml:1) stringData.root:" in details and "'..' segment" in details
    assert "apps/s.yaml:1) data.enc:" in details and "percent-encoding" in details  # inside base64 Secret data
    assert "apps/g.yaml:7) metadata.annotations['avp.kubernetes.io/path']: path 'cubbyhole/x'" in details
    assert "kv/app" not in details and "apps/i.yaml" not in details and "apps/c.yaml" not in details


def test_allowed_prefixes_apply_to_the_listing_too() -> None:
    ok = _m({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"},
             "stringData": {"x": "<path:secret/data/shop/db#k>", "y": "<path:kv/app#k>"}}, "a.yaml")
    assert vaultpaths.refused_placeholder_paths([ok]) == []
    [line] = vaultpaths.refused_placeholder_paths([ok], ["secret/data/shop"])
    assert "stringData.y" in line and "not under an allowed prefix" in line


def test_the_client_refuses_before_any_request_even_when_called_directly() -> None:
    """Defence in depth: VaultKV checks each path itself, and resolve_placeholders lists every refusal.
    Nothing listens at the address: a request would fail differently, and the counter would move."""
    kv = vault.VaultKV(addr="http://127.0.0.1:9", token="s.fake-token-value", timeout=1)
    hostile = _hostile_manifests()[:3]
    del hostile[0].obj["data"]["ok"]
    with pytest.raises(SecretsError) as info:
        resolve_placeholders(hostile, kv)
    assert kv.requests == 0
    details = "\n".join(info.value.details)
    for path in ("auth/token/lookup-self", "secret/data/../../sys/policies/acl/root", "secret/data/%2e%2e/x",
                 "cubbyhole/x"):
        assert f"refused Vault path {path!r}" in details, details


def test_refused_paths_make_no_request() -> None:
    kv = vault.VaultKV(addr="http://127.0.0.1:9", token="s.fake-token-value", timeout=1)
    for path in ("auth/token/lookup-self", "secret/data/../../sys/x", "cubbyhole/x", "secret/data/%2e%2e/sys",
                 "secret//data/x"):
        with pytest.raises(vaultpaths.PathRefused):
            kv.read(path, "k", None, kv_version=1)
    assert kv.requests == 0
    allowed = vault.VaultKV(addr="http://127.0.0.1:9", token="s.fake-token-value", timeout=1,
                            allow=("secret/data/shop",))
    with pytest.raises(vaultpaths.PathRefused):
        allowed.read("secret/data/other", "k", None)
    assert allowed.requests == 0


def test_from_env_takes_the_allowed_prefixes() -> None:
    kv = vault.VaultKV.from_env({"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": "s.x-token"},
                                allow=["secret/data/shop/"])
    assert kv.allow == ("secret/data/shop",)


# -- kubeconfig: a CA together with insecure-skip-tls-verify -----------------------------------------------

def _kubeconfig(tmp_path: Path, **cluster_extra: object) -> str:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [{"name": "prod", "cluster": {"server": "https://10.0.0.1:6443", **cluster_extra}}],
        "users": [{"name": "u", "user": {"token": "t0ken-value-123"}}],
        "contexts": [{"name": "a", "context": {"cluster": "prod", "user": "u"}}]}))
    return str(path)


@pytest.mark.parametrize("ca", [{"certificate-authority-data": base64.b64encode(b"PEM").decode()},
                                {"certificate-authority": "/does/not/matter.crt"}])
def test_insecure_skip_tls_verify_with_a_ca_is_refused_as_kubectl_refuses_it(tmp_path: Path, ca: dict) -> None:
    path = _kubeconfig(tmp_path, **{"insecure-skip-tls-verify": True}, **ca)
    with pytest.raises(InvalidInputError) as info:
        kubeconfig.resolve(path)
    err = info.value
    assert err.exit_code == ExitCode.INVALID_INPUT
    assert "specifying a root certificates file with the insecure flag is not allowed" in err.message
    assert f"cluster 'prod' in {path}" in err.message
    assert "insecure-skip-tls-verify" in (err.hint or "")


def test_insecure_alone_or_a_ca_alone_still_work(tmp_path: Path) -> None:
    assert kubeconfig.resolve(_kubeconfig(tmp_path, **{"insecure-skip-tls-verify": True})).insecure
    (tmp_path / "b").mkdir()
    ca = {"certificate-authority-data": base64.b64encode(b"PEM").decode()}
    ep = kubeconfig.resolve(_kubeconfig(tmp_path / "b", **{"insecure-skip-tls-verify": False}, **ca))
    assert ep.ca_pem == b"PEM" and not ep.insecure


# -- repr never shows key material -------------------------------------------------------------------------

def test_repr_of_objects_holding_keys_or_tokens_shows_none_of_it(tmp_path: Path) -> None:
    identity = agekeys.Identity(bytes(range(32)))
    secret_key = identity.secret_string()
    token, key_pem = "s.vault-token-value-42", b"-----BEGIN PRIVATE KEY-----\nKEYBYTES\n-----END PRIVATE KEY-----\n"
    kv = vault.VaultKV(addr="http://127.0.0.1:9", token=token)
    keyring = Keyring(env={"SOPS_AGE_KEY": secret_key, "VAULT_TOKEN": token, "HOME": str(tmp_path)})
    keyring.all_identities()  # loads the key from the environment into the keyring
    cred = Credential(token=token, cert_pem=b"CERT", key_pem=key_pem)
    endpoint = kubeconfig.Endpoint(server="https://x", context="c", namespace="n", token=token, key_pem=key_pem)
    for obj in (identity, [identity], kv, keyring, cred, endpoint):
        text = repr(obj)
        assert secret_key not in text and secret_key.lower() not in text, text
        assert token not in text and "KEYBYTES" not in text, text
    assert "age1" in repr(identity)  # the public half stays visible for debugging
    assert "addr='http://127.0.0.1:9'" in repr(kv)


def test_sops_decrypted_result_hides_its_data_key() -> None:
    import dataclasses

    from kubectl_gitops.secrets import sops

    hidden = {f.name for f in dataclasses.fields(sops.Decrypted) if not f.repr}
    assert {"data_key", "file", "stash"} <= hidden
