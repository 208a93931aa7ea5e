"""Offline sealing in kubeseal's format: round trips through a decryptor written from the controller's
rules, for all three scopes; a wrong name or namespace cannot unseal; the template carries what it must
and nothing that leaks; the CLI never prints a value."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from kubectl_gitops import redact
from kubectl_gitops.errors import SecretsError
from kubectl_gitops.secrets.seal import (
    ANN_CLUSTER_WIDE,
    ANN_NAMESPACE_WIDE,
    encryption_label,
    seal_secret,
)

PASSWORD = "canary-Pw-81f3a0c2"
BINARY = b"\x00\x01bin\xff"


@pytest.fixture(autouse=True)
def _isolated_redaction() -> Iterator[None]:
    """Values these tests register must not mask other tests' output (the registry is process-wide)."""
    saved = set(redact._secrets)
    yield
    with redact._lock:
        redact._secrets.clear()
        redact._secrets.update(saved)


def make_cert(key: rsa.RSAPrivateKey, *, days: int = 365) -> bytes:
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sealed-secret")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=2)).not_valid_after(now + dt.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def cert(key: rsa.RSAPrivateKey) -> bytes:
    return make_cert(key)


def unseal_for_test(sealed: dict[str, Any], key: rsa.RSAPrivateKey, *, namespace: str | None = None,
                    name: str | None = None) -> dict[str, bytes]:
    """What the controller does: the label comes from the SealedSecret's own name, namespace and scope
    annotations (``namespace``/``name`` simulate the object having been renamed or moved)."""
    meta = sealed["metadata"]
    ns = meta.get("namespace", "") if namespace is None else namespace
    nm = meta["name"] if name is None else name
    ann = sealed["spec"]["template"]["metadata"].get("annotations") or {}
    scope = ("cluster-wide" if ann.get(ANN_CLUSTER_WIDE) == "true"
             else "namespace-wide" if ann.get(ANN_NAMESPACE_WIDE) == "true" else "strict")
    label = encryption_label(ns, nm, scope)
    out = {}
    for k, v in sealed["spec"]["encryptedData"].items():
        blob = base64.b64decode(v)
        n = int.from_bytes(blob[:2], "big")
        session = key.decrypt(blob[2:2 + n], padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                           algorithm=hashes.SHA256(), label=label))
        out[k] = AESGCM(session).decrypt(bytes(12), blob[2 + n:], None)
    return out


def a_secret(**meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
        "metadata": {"name": "db", "namespace": "shop", "labels": {"app": "db"},
                     "annotations": {"team": "payments"}, **meta},
        "data": {"binary": base64.b64encode(BINARY).decode(), "username": base64.b64encode(b"from-data").decode()},
        "stringData": {"password": PASSWORD, "username": "from-stringData"},
    }


@pytest.mark.parametrize("scope", ["strict", "namespace-wide", "cluster-wide"])
def test_round_trip_in_every_scope(scope: str, key: rsa.RSAPrivateKey, cert: bytes) -> None:
    sealed = seal_secret(a_secret(), cert, scope)
    assert sealed["apiVersion"] == "bitnami.com/v1alpha1" and sealed["kind"] == "SealedSecret"
    assert unseal_for_test(sealed, key) == {"binary": BINARY, "password": PASSWORD.encode(),
                                            "username": b"from-stringData"}  # stringData wins, like the API server


# scope, where the controller tries to unseal it (namespace, name), whether it works
MOBILITY = [
    ("strict", ("shop", "db"), True),
    ("strict", ("shop", "renamed"), False),
    ("strict", ("other", "db"), False),
    ("namespace-wide", ("shop", "renamed"), True),
    ("namespace-wide", ("other", "db"), False),
    ("cluster-wide", ("other", "renamed"), True),
]


@pytest.mark.parametrize(("scope", "target", "works"), MOBILITY)
def test_the_label_pins_where_a_value_can_be_unsealed(scope: str, target: tuple[str, str], works: bool,
                                                      key: rsa.RSAPrivateKey, cert: bytes) -> None:
    sealed = seal_secret(a_secret(), cert, scope)
    if works:
        assert unseal_for_test(sealed, key, namespace=target[0], name=target[1])["password"] == PASSWORD.encode()
    else:
        with pytest.raises(ValueError):  # OAEP decryption fails with the wrong label
            unseal_for_test(sealed, key, namespace=target[0], name=target[1])


def test_wire_format_is_length_prefixed_rsa_then_gcm(key: rsa.RSAPrivateKey, cert: bytes) -> None:
    sealed = seal_secret(a_secret(), cert, "strict")
    blob = base64.b64decode(sealed["spec"]["encryptedData"]["password"])
    assert int.from_bytes(blob[:2], "big") == 256  # a 2048-bit key
    assert len(blob) == 2 + 256 + len(PASSWORD) + 16  # GCM tag
    again = seal_secret(a_secret(), cert, "strict")
    assert again["spec"]["encryptedData"]["password"] != sealed["spec"]["encryptedData"]["password"]  # fresh key


@pytest.mark.parametrize(("scope", "annotation"), [("strict", None), ("namespace-wide", ANN_NAMESPACE_WIDE),
                                                   ("cluster-wide", ANN_CLUSTER_WIDE)])
def test_scope_annotations_on_the_sealed_secret_and_its_template(scope: str, annotation: str | None,
                                                                  cert: bytes) -> None:
    sealed = seal_secret(a_secret(), cert, scope)
    top = sealed["metadata"].get("annotations") or {}
    tmpl = sealed["spec"]["template"]["metadata"]["annotations"]
    expected = {annotation: "true"} if annotation else {}
    assert top == expected
    assert tmpl == {"team": "payments", **expected}


def test_the_secrets_own_scope_annotation_is_used_when_no_scope_is_given(key: rsa.RSAPrivateKey,
                                                                        cert: bytes) -> None:
    sealed = seal_secret(a_secret(annotations={ANN_NAMESPACE_WIDE: "true"}), cert)
    assert sealed["metadata"]["annotations"] == {ANN_NAMESPACE_WIDE: "true"}
    assert unseal_for_test(sealed, key, name="renamed")["password"] == PASSWORD.encode()


def test_an_explicit_scope_replaces_the_secrets_annotation(cert: bytes) -> None:
    sealed = seal_secret(a_secret(annotations={ANN_CLUSTER_WIDE: "true"}), cert, "strict")
    assert ANN_CLUSTER_WIDE not in sealed["spec"]["template"]["metadata"].get("annotations", {})
    assert "annotations" not in sealed["metadata"]


def test_template_keeps_metadata_and_type_but_drops_leaks_and_server_fields(cert: bytes) -> None:
    live = a_secret(uid="1234", resourceVersion="99", creationTimestamp="2024-01-01T00:00:00Z",
                    managedFields=[{"manager": "kubectl"}], ownerReferences=[{"name": "x"}],
                    annotations={"team": "payments",
                                 "kubectl.kubernetes.io/last-applied-configuration": json.dumps(a_secret())})
    live["immutable"] = True
    sealed = seal_secret(live, cert, "strict")
    template = sealed["spec"]["template"]
    assert template == {"metadata": {"name": "db", "namespace": "shop", "labels": {"app": "db"},
                                     "annotations": {"team": "payments"}},
                        "type": "kubernetes.io/basic-auth", "immutable": True}
    assert PASSWORD not in json.dumps(sealed)
    assert sealed["metadata"] == {"name": "db", "namespace": "shop"}


def test_sealing_does_not_modify_the_input(cert: bytes) -> None:
    obj = a_secret()
    before = copy.deepcopy(obj)
    seal_secret(obj, cert, "namespace-wide")
    assert obj == before


def test_cluster_wide_secret_needs_no_namespace(key: rsa.RSAPrivateKey, cert: bytes) -> None:
    obj = a_secret()
    del obj["metadata"]["namespace"]
    sealed = seal_secret(obj, cert, "cluster-wide")
    assert "namespace" not in sealed["metadata"]
    assert unseal_for_test(sealed, key, namespace="anywhere")["password"] == PASSWORD.encode()


def _without_namespace() -> dict[str, Any]:
    obj = a_secret()
    del obj["metadata"]["namespace"]
    return obj


def _configmap() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}


def _bad_base64() -> dict[str, Any]:
    obj = a_secret()
    obj["data"]["binary"] = "not base64!"
    return obj


def _empty() -> dict[str, Any]:
    obj = a_secret()
    obj.pop("data"), obj.pop("stringData")
    return obj


@pytest.mark.parametrize(("make", "scope", "message"), [
    (_without_namespace, "strict", "must declare a namespace"),
    (_configmap, "strict", "only v1 Secret objects"),
    (_bad_base64, "strict", "data.binary is not valid base64"),
    (_empty, "strict", "has no data to seal"),
    (a_secret, "global", "unknown sealing scope"),
])
def test_invalid_input_is_refused_without_printing_values(make: Any, scope: str, message: str, cert: bytes) -> None:
    with pytest.raises(SecretsError) as info:
        seal_secret(make(), cert, scope)
    assert message in str(info.value)
    assert PASSWORD not in f"{info.value} {info.value.hint}"


def test_empty_secret_is_sealed_when_allowed(cert: bytes) -> None:
    assert seal_secret(_empty(), cert, "strict", allow_empty=True)["spec"]["encryptedData"] == {}


def test_expired_or_unusable_certificates_are_refused(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SecretsError, match="expired on"):
        seal_secret(a_secret(), make_cert(key, days=-1), "strict")
    with pytest.raises(SecretsError, match="not a PEM certificate"):
        seal_secret(a_secret(), b"-----BEGIN NOTHING-----\n", "strict")


# -- the CLI -------------------------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path: Path, cert: bytes) -> Path:
    (tmp_path / "cert.pem").write_bytes(cert)
    two = [a_secret(), {**a_secret(), "metadata": {"name": "api", "namespace": "shop"}}]
    (tmp_path / "secrets.yaml").write_text(yaml.safe_dump_all(two))
    one = a_secret()
    del one["metadata"]["namespace"]
    (tmp_path / "nons.yaml").write_text(yaml.safe_dump(one))
    return tmp_path


def run_cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    from kubectl_gitops.cli.secrets_seal import command

    result = CliRunner().invoke(command, list(args), input=stdin, standalone_mode=False)
    assert result.exception is None, result.exception
    return int(result.return_value), result.stdout, result.stderr


def test_cli_seals_every_secret_of_a_file_as_yaml(files: Path, key: rsa.RSAPrivateKey) -> None:
    code, out, err = run_cli(str(files / "secrets.yaml"), "--cert", str(files / "cert.pem"))
    assert code == 0, err
    docs = list(yaml.safe_load_all(out))
    assert [d["metadata"]["name"] for d in docs] == ["db", "api"]
    assert all(d["kind"] == "SealedSecret" for d in docs)
    assert unseal_for_test(docs[1], key)["password"] == PASSWORD.encode()
    assert PASSWORD not in out + err and base64.b64encode(PASSWORD.encode()).decode() not in out + err


def test_cli_json_output_of_stdin_with_scope(files: Path, key: rsa.RSAPrivateKey) -> None:
    code, out, _ = run_cli("-", "--cert", str(files / "cert.pem"), "--scope", "cluster-wide", "-o", "json",
                           stdin=json.dumps(a_secret()))
    assert code == 0
    sealed = json.loads(out)
    assert sealed["metadata"]["annotations"] == {ANN_CLUSTER_WIDE: "true"}
    assert unseal_for_test(sealed, key, namespace="x", name="y")["password"] == PASSWORD.encode()


def test_cli_namespace_flag_fills_a_missing_namespace_and_refuses_a_different_one(files: Path,
                                                                                 key: rsa.RSAPrivateKey) -> None:
    code, out, _ = run_cli(str(files / "nons.yaml"), "--cert", str(files / "cert.pem"), "-n", "team-a")
    assert code == 0
    sealed = yaml.safe_load(out)
    assert sealed["metadata"]["namespace"] == "team-a"
    assert unseal_for_test(sealed, key)["password"] == PASSWORD.encode()
    code, _, err = run_cli(str(files / "secrets.yaml"), "--cert", str(files / "cert.pem"), "-n", "team-a")
    assert code == 3 and "does not match -n team-a" in err


@pytest.mark.parametrize(("content", "message"), [
    (yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}), "is not a Secret"),
    (f"stringData: {{password: {PASSWORD}\n", "not valid YAML or JSON"),
    ("", "no Secret found"),
])
def test_cli_bad_input_exits_3_without_echoing_it(files: Path, content: str, message: str) -> None:
    (files / "bad.yaml").write_text(content)
    code, out, err = run_cli(str(files / "bad.yaml"), "--cert", str(files / "cert.pem"))
    assert code == 3
    assert message in err
    assert PASSWORD not in out + err


def test_cli_without_namespace_explains_the_options(files: Path) -> None:
    code, _, err = run_cli(str(files / "nons.yaml"), "--cert", str(files / "cert.pem"))
    assert code == 3
    assert "must declare a namespace" in err and "-n NAMESPACE" in err
