"""argocd-vault-plugin placeholders: substitution rules, modifiers, the single error listing every
problem, and the Vault source's configuration. Values come from an in-memory source; the same rules run
against a real OpenBao server in tests/integration/test_vault_openbao.py."""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubectl_gitops import redact
from kubectl_gitops.errors import ExitCode, SecretsError
from kubectl_gitops.model import Manifest, Origin
from kubectl_gitops.secrets.modifiers import ModifierError, json_path
from kubectl_gitops.secrets.placeholders import (
    DictSource,
    find_placeholders,
    resolve_placeholders,
)
from kubectl_gitops.secrets.vault import VaultError, VaultKV

SECRETS: dict[str, dict[str, Any]] = {
    "secret/data/db": {"username": "app-user", "password": "pw-7c1f9e", "port": "5432",
                       "creds": '{"user": "json-user", "pass": "json-pass", "tags": ["a", "b"]}',
                       "b64": base64.b64encode(b"decoded-value").decode(),
                       "yaml": "user: yaml-user\nlevel: 3\n", "cert": "line1\n   line2\n\nline3"},
    "secret/data/db#1": {"password": "old-pw-1"},
    "secret/data/cfg": {"replicas": 3, "enabled": True, "object": {"a": 1}, "text": "plain-text-value"},
}


@pytest.fixture(autouse=True)
def _isolated_redaction() -> Iterator[None]:
    """Values these tests register must not mask other tests' output (the registry is process-wide)."""
    saved = redact.snapshot()
    yield
    redact.restore(saved)


def resolve_one(obj: dict[str, Any], secrets: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    out = resolve_placeholders([Manifest(copy.deepcopy(obj), Origin("app/x.yaml", 7))],
                               DictSource(SECRETS if secrets is None else secrets))
    return out[0].obj


def secret(data: dict[str, Any] | None = None, string_data: dict[str, Any] | None = None,
           annotations: dict[str, str] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"name": "db", "namespace": "shop", "annotations": annotations or {}}}
    if data is not None:
        obj["data"] = data
    if string_data is not None:
        obj["stringData"] = string_data
    return obj


def configmap(data: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cm", "namespace": "shop", "annotations": annotations or {}}, "data": data}


def deployment(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "annotations": annotations or {}}, "spec": spec}


PATH = {"avp.kubernetes.io/path": "secret/data/db"}
b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731

# name, input object, the fragment of the output to look at, expected value there
SUBSTITUTIONS: list[tuple[str, dict[str, Any], tuple[Any, ...], Any]] = [
    ("inline placeholder anywhere, no annotation needed",
     deployment({"env": [{"name": "PW", "value": "<path:secret/data/db#password>"}]}),
     ("spec", "env", 0, "value"), "pw-7c1f9e"),
    ("generic placeholder with the path annotation",
     secret(string_data={"user": "<username>"}, annotations=PATH), ("stringData", "user"), "app-user"),
    ("generic-looking text without the path annotation is left alone",
     deployment({"description": "metadata.labels['<KEY>']"}), ("spec", "description"), "metadata.labels['<KEY>']"),
    ("several placeholders in one string",
     secret(string_data={"url": "postgres://<username>:<password>@db:<port>/app"}, annotations=PATH),
     ("stringData", "url"), "postgres://app-user:pw-7c1f9e@db:5432/app"),
    ("inline version pin", secret(string_data={"pw": "<path:secret/data/db#password#1>"}), ("stringData", "pw"),
     "old-pw-1"),
    ("secret-version annotation pins generic placeholders",
     secret(string_data={"pw": "<password>"}, annotations={**PATH, "avp.kubernetes.io/secret-version": "1"}),
     ("stringData", "pw"), "old-pw-1"),
    ("inline placeholders ignore the path annotation's version",
     secret(string_data={"pw": "<path:secret/data/db#password>"},
            annotations={**PATH, "avp.kubernetes.io/secret-version": "1"}), ("stringData", "pw"), "pw-7c1f9e"),
    ("a whole-value placeholder injects a number as a number",
     deployment({"replicas": "<path:secret/data/cfg#replicas>"}), ("spec", "replicas"), 3),
    ("a whole-value placeholder injects a boolean and an object",
     deployment({"flag": "<path:secret/data/cfg#enabled>", "obj": "<path:secret/data/cfg#object>"}),
     ("spec",), {"flag": True, "obj": {"a": 1}}),
    ("inside a longer string a number is written as text",
     deployment({"args": ["--replicas=<path:secret/data/cfg#replicas>"]}), ("spec", "args", 0), "--replicas=3"),
    ("ConfigMap values are always text", configmap({"n": "<path:secret/data/cfg#replicas>"}), ("data", "n"), "3"),
    ("list items are replaced", deployment({"args": ["<path:secret/data/db#username>", "x"]}), ("spec", "args"),
     ["app-user", "x"]),
    ("mapping keys are never replaced",
     deployment({"labels": {"<path:secret/data/db#username>": "v"}}), ("spec", "labels"),
     {"<path:secret/data/db#username>": "v"}),
    ("a raw placeholder under Secret data is inserted as is",
     secret(data={"pw": "<path:secret/data/db#b64>"}), ("data", "pw"), b64("decoded-value")),
    ("a base64-encoded placeholder under Secret data is substituted and encoded again",
     secret(data={"url": b64("postgres://<username>:<password>@db")}, annotations=PATH), ("data", "url"),
     b64("postgres://app-user:pw-7c1f9e@db")),
    ("base64 data with an inline placeholder, no annotation",
     secret(data={"pw": b64("<path:secret/data/db#password>")}), ("data", "pw"), b64("pw-7c1f9e")),
    ("base64 data without placeholders is untouched", secret(data={"pw": b64("<not-one>")}), ("data", "pw"),
     b64("<not-one>")),
    ("avp.kubernetes.io/ignore skips the object",
     secret(string_data={"pw": "<path:secret/data/db#password>"}, annotations={"avp.kubernetes.io/ignore": "true"}),
     ("stringData", "pw"), "<path:secret/data/db#password>"),
    ("remove-missing drops entries whose key is missing",
     secret(string_data={"user": "<username>", "gone": "<nope>"},
            annotations={**PATH, "avp.kubernetes.io/remove-missing": "true"}),
     ("stringData",), {"user": "app-user"}),
    ("remove-missing also drops base64 data entries",
     secret(data={"gone": b64("<nope>"), "pw": b64("<password>")},
            annotations={**PATH, "avp.kubernetes.io/remove-missing": "true"}),
     ("data",), {"pw": b64("pw-7c1f9e")}),
    # modifiers
    ("base64encode", secret(data={"pw": "<path:secret/data/db#password | base64encode>"}), ("data", "pw"),
     b64("pw-7c1f9e")),
    ("base64decode", secret(string_data={"v": "<b64 | base64decode>"}, annotations=PATH), ("stringData", "v"),
     "decoded-value"),
    ("jsonPath with a literal", secret(string_data={"v": "<creds | jsonPath {.user}{':'}{.pass}>"},
                                       annotations=PATH), ("stringData", "v"), "json-user:json-pass"),
    ("jsonPath then base64encode, spaces around the pipes",
     secret(data={"v": "<path:secret/data/db#creds|jsonPath {.user}   |  base64encode>"}), ("data", "v"),
     b64("json-user")),
    ("jsonPath index and wildcard", deployment({"a": "<path:secret/data/db#creds | jsonPath {.tags[1]}>",
                                                "b": "<path:secret/data/db#creds | jsonPath {.tags[*]}>"}),
     ("spec",), {"a": "b", "b": "a b"}),
    ("jsonPath then jsonParse gives a number",
     deployment({"replicas": "<path:secret/data/db#yaml | yamlParse | jsonPath {.level} | jsonParse>"}),
     ("spec", "replicas"), 3),
    ("jsonParse injects an object", deployment({"c": "<path:secret/data/db#creds | jsonParse>"}), ("spec", "c"),
     {"user": "json-user", "pass": "json-pass", "tags": ["a", "b"]}),
    ("yamlParse then jsonPath", secret(string_data={"v": "<yaml | yamlParse | jsonPath {.user}>"}, annotations=PATH),
     ("stringData", "v"), "yaml-user"),
    ("jsonPath on a structured value needs no parsing",
     deployment({"v": "<path:secret/data/cfg#object | jsonPath {.a}>"}), ("spec", "v"), "1"),
    ("indent, AVP style: first line trimmed, empty lines dropped",
     configmap({"pem": "<path:secret/data/db#cert | indent 4>"}), ("data", "pem"),
     "line1\n    line2\n    line3"),
    ("sha256sum", deployment({"template": {"metadata": {"annotations": {
        "checksum/db": "<path:secret/data/db#password | sha256sum>"}}}}),
     ("spec", "template", "metadata", "annotations", "checksum/db"), hashlib.sha256(b"pw-7c1f9e").hexdigest()),
]


@pytest.mark.parametrize(("name", "obj", "where", "expected"), SUBSTITUTIONS, ids=[s[0] for s in SUBSTITUTIONS])
def test_substitution(name: str, obj: dict[str, Any], where: tuple[Any, ...], expected: Any) -> None:
    out: Any = resolve_one(obj)
    for step in where:
        out = out[step]
    assert out == expected


def test_resolution_does_not_change_the_input_manifest() -> None:
    m = Manifest(secret(string_data={"pw": "<path:secret/data/db#password>"}), Origin("x.yaml", 1))
    before = copy.deepcopy(m.obj)
    out = resolve_placeholders([m], DictSource(SECRETS))
    assert m.obj == before
    assert out[0].obj["stringData"]["pw"] == "pw-7c1f9e"
    assert out[0].origin == m.origin


def test_objects_without_placeholders_are_passed_through_without_reads() -> None:
    source = DictSource(SECRETS)
    plain = Manifest(configmap({"a": "b"}), Origin("x.yaml", 1))
    assert resolve_placeholders([plain], source)[0] is plain
    assert source.reads == []


def test_kv_version_annotation_reaches_the_source() -> None:
    source = DictSource(SECRETS)
    obj = secret(string_data={"u": "<username>", "p": "<path:secret/data/db#password>"},
                 annotations={**PATH, "avp.kubernetes.io/kv-version": "1"})
    resolve_placeholders([Manifest(obj, Origin("x.yaml", 1))], source)
    assert {kv for _, _, kv in source.reads} == {1}


def test_resolved_values_are_registered_for_redaction() -> None:
    resolve_one(secret(string_data={"v": "<creds | jsonPath {.user}>", "u": "<username>",
                                    "url": "<username>@<path:secret/data/cfg#text>"}, annotations=PATH))
    for value in ("app-user", "json-user", "app-user@plain-text-value", b64("app-user@plain-text-value")):
        assert redact.redact(f"x {value} y") == "x *** y", value


def test_booleans_and_checksums_are_not_masked() -> None:
    resolve_one(deployment({"flag": "<path:secret/data/cfg#enabled>",
                            "sum": "<path:secret/data/db#password | sha256sum>"}))
    digest = hashlib.sha256(b"pw-7c1f9e").hexdigest()
    assert redact.redact(f"ready: true, sum: {digest}") == f"ready: true, sum: {digest}"
    assert redact.redact("pw-7c1f9e") == "***"  # the value behind the checksum still is


def test_every_problem_of_every_object_is_listed_in_one_error_without_values() -> None:
    manifests = [
        Manifest(secret(string_data={"a": "<username>", "b": "<nope-1>", "c": "<path:secret/data/missing#x>"},
                        annotations=PATH), Origin("app/db.yaml", 3)),
        Manifest(deployment({"env": [{"value": "<path:secret/data/db#nope-2>"}],
                             "x": "<path:secret/data/db#password | frobnicate>",
                             "y": "<path:secret/data/db#password | base64decode>"}),
                 Origin("app/web.yaml", 12)),
        Manifest(deployment({"v": "<path:secret/data/db#password#9>"},
                            annotations={"avp.kubernetes.io/remove-missing": "true"}), Origin("app/other.yaml", 1)),
    ]
    with pytest.raises(SecretsError) as info:
        resolve_placeholders(manifests, DictSource(SECRETS))
    err = info.value
    assert err.exit_code == ExitCode.INVALID_INPUT
    assert "cannot resolve placeholders: 7 problems, nothing was generated" in err.message
    text = "\n".join(err.details)
    assert len(err.details) == 7, text
    expected_lines = [
        ("Secret shop/db (app/db.yaml:3) stringData.b", "<nope-1>", "key 'nope-1' not found in secret/data/db"),
        ("Secret shop/db (app/db.yaml:3) stringData.c", "<path:secret/data/missing#x>", "no secret at"),
        ("Deployment.apps shop/web (app/web.yaml:12) spec.env[0].value", "<path:secret/data/db#nope-2>",
         "key 'nope-2' not found"),
        ("Deployment.apps shop/web (app/web.yaml:12) spec.x", "frobnicate", "unknown modifier"),
        ("Deployment.apps shop/web (app/web.yaml:12) spec.y", "base64decode", "not valid base64"),
        ("Deployment.apps shop/web (app/other.yaml:1)", "remove-missing", "Secret or ConfigMap"),
        ("Deployment.apps shop/web (app/other.yaml:1) spec.v", "<path:secret/data/db#password#9>",
         "no secret at secret/data/db version 9"),
    ]
    for parts in expected_lines:
        assert any(all(p in line for p in parts) for line in err.details), (parts, text)
    for value in ("app-user", "pw-7c1f9e", "old-pw-1"):
        assert value not in text and value not in err.message and value not in (err.hint or "")


@pytest.mark.parametrize(("annotations", "problem"), [
    ({**PATH, "avp.kubernetes.io/kv-version": "3"}, "is not 1 or 2"),
    ({"avp.kubernetes.io/path": ""}, "needs the avp.kubernetes.io/path annotation"),
])
def test_bad_annotations_are_reported(annotations: dict[str, str], problem: str) -> None:
    with pytest.raises(SecretsError) as info:
        resolve_one(secret(string_data={"a": "<username>"}, annotations=annotations))
    assert any(problem in line for line in info.value.details), info.value.details


def test_remove_missing_still_fails_when_the_secret_path_itself_is_missing() -> None:
    with pytest.raises(SecretsError) as info:
        resolve_one(secret(string_data={"a": "<path:secret/data/gone#k>"},
                           annotations={"avp.kubernetes.io/remove-missing": "true"}))
    assert "no secret at secret/data/gone" in info.value.details[0]


@pytest.mark.parametrize(("obj", "expected"), [
    (deployment({"v": "<path:p#k>"}), True),
    (deployment({"v": "<KEY>"}), False),
    (deployment({"v": "<KEY>"}, annotations=PATH), True),
    (deployment({"<path:p#k>": "v"}), False),
    (secret(data={"x": b64("<path:p#k>")}), True),
    (secret(data={"x": b64("<k>")}), False),
    (secret(data={"x": b64("<k>")}, annotations=PATH), True),
    (secret(string_data={"x": b64("<path:p#k>")}), False),  # only data is base64
    (secret(string_data={"x": "<path:p#k>"}, annotations={"avp.kubernetes.io/ignore": "True"}), False),
    (secret(string_data={"x": "<path:p#k>"}, annotations={"avp.kubernetes.io/ignore": "yes"}), True),  # Go bools
])
def test_find_placeholders(obj: dict[str, Any], expected: bool) -> None:
    assert find_placeholders(obj) is expected


@pytest.mark.parametrize(("template", "data", "expected"), [
    ("{.a.b}", {"a": {"b": "x"}}, "x"),
    ("{$.a}", {"a": 1}, "1"),
    ("{['a.b']}", {"a.b": "dotted"}, "dotted"),
    ('{.list[-1]}', {"list": [1, 2, 3]}, "3"),
    ("{.list[*].n}", {"list": [{"n": "p"}, {"n": "q"}]}, "p q"),
    ("{.*}", {"a": "1", "b": "2"}, "1 2"),
    ("user={.u} pass={.p}", {"u": "U", "p": "P"}, "user=U pass=P"),
    ("{.obj}", {"obj": {"k": [1, True]}}, '{"k":[1,true]}'),
    ("{.f}", {"f": False}, "false"),
])
def test_json_path_subset(template: str, data: Any, expected: str) -> None:
    assert json_path(template, data) == expected


@pytest.mark.parametrize(("template", "message"), [
    ("{.missing}", "field 'missing' not found"),
    ("{.list[5]}", "out of range"),
    ("{..a}", "unsupported"),
    ("{.list[?(@.a)]}", "unsupported"),
    ("{.a", "unclosed"),
])
def test_json_path_errors_are_explicit(template: str, message: str) -> None:
    with pytest.raises(ModifierError, match=message.replace("[", r"\[").replace("(", r"\(")):
        json_path(template, {"list": [1], "a": 1})


# -- the Vault source's configuration (no server needed) ---------------------------------------------------

def test_vault_from_env_reads_address_token_and_kv_version() -> None:
    kv = VaultKV.from_env({"VAULT_ADDR": "http://127.0.0.1:8200/", "VAULT_TOKEN": "s.tok-123456",
                           "AVP_KV_VERSION": "1", "VAULT_NAMESPACE": "team-a"})
    assert (kv.addr, kv.kv_version, kv.namespace, kv.timeout) == ("http://127.0.0.1:8200", 1, "team-a", 10.0)
    assert VaultKV.from_env({"VAULT_ADDR": "http://x", "VAULT_TOKEN": "t-12345",
                             "VAULT_CLIENT_TIMEOUT": "1m"}).timeout == 60.0
    assert "s.tok-123456" not in repr(kv)
    assert redact.redact("token s.tok-123456") == "token ***"


def test_vault_from_env_accepts_openbao_variable_names() -> None:
    kv = VaultKV.from_env({"BAO_ADDR": "https://bao:8200", "BAO_TOKEN": "bao-tok-987"})
    assert kv.addr == "https://bao:8200" and kv.token == "bao-tok-987"


def test_vault_token_falls_back_to_the_vault_token_file(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("file-token-42\n")
    kv = VaultKV.from_env({"VAULT_ADDR": "http://127.0.0.1:8200"}, home=tmp_path)
    assert kv.token == "file-token-42"


@pytest.mark.parametrize(("env", "message"), [
    ({}, "VAULT_ADDR is not set"),
    ({"VAULT_ADDR": "http://127.0.0.1:8200"}, "no Vault token"),
    ({"VAULT_ADDR": "127.0.0.1:8200", "VAULT_TOKEN": "t-12345"}, "is not an http(s) URL"),
    ({"VAULT_ADDR": "http://x", "VAULT_TOKEN": "t-12345", "AVP_KV_VERSION": "3"}, "use 1 or 2"),
    ({"VAULT_ADDR": "http://x", "VAULT_TOKEN": "t-12345", "VAULT_CLIENT_TIMEOUT": "soon"}, "VAULT_CLIENT_TIMEOUT"),
])
def test_vault_configuration_errors_say_what_to_set(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(VaultError) as info:
        VaultKV.from_env(env, home=tmp_path)
    assert message in str(info.value)
    assert info.value.exit_code == ExitCode.CLUSTER_ERROR


def test_unreachable_vault_is_one_clear_error_without_the_token() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kv = VaultKV(addr=f"http://127.0.0.1:{port}", token="never-printed-token", timeout=2)
    with pytest.raises(VaultError) as info:
        resolve_placeholders([Manifest(deployment({"v": "<path:secret/data/x#k>"}), Origin("a.yaml", 1))], kv)
    text = f"{info.value} {info.value.hint} {info.value.details}"
    assert f"cannot reach Vault at http://127.0.0.1:{port}" in text
    assert "never-printed-token" not in text
