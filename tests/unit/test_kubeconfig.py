"""kubectl's reading of kubeconfig files: merging, context choice, relative paths, what needs the official client."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import yaml

from kubectl_gitops.cluster import kubeconfig
from kubectl_gitops.errors import ExitCode, InvalidInputError


def write(path: Path, doc: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def config(*, current: str | None = "a", clusters=(), users=(), contexts=()) -> dict:
    doc: dict = {"apiVersion": "v1", "kind": "Config", "clusters": list(clusters), "users": list(users),
                 "contexts": list(contexts)}
    if current is not None:
        doc["current-context"] = current
    return doc


def cluster(name: str, server: str, **extra) -> dict:
    return {"name": name, "cluster": {"server": server, **extra}}


def user(name: str, **fields) -> dict:
    return {"name": name, "user": fields}


def context(name: str, cluster_name: str, user_name: str, namespace: str | None = None) -> dict:
    body = {"cluster": cluster_name, "user": user_name}
    if namespace:
        body["namespace"] = namespace
    return {"name": name, "context": body}


@pytest.fixture(autouse=True)
def no_env(monkeypatch) -> None:
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "HTTPS_PROXY", "https_proxy",
                "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)


def test_current_context_server_credentials_and_namespace(tmp_path) -> None:
    ca = b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
    path = write(tmp_path / "config", config(
        clusters=[cluster("c", "https://10.1.2.3:6443/", **{"certificate-authority-data": base64.b64encode(ca).decode(),
                                                             "tls-server-name": "kubernetes"})],
        users=[user("u", token="t0ken-value")],
        contexts=[context("a", "c", "u", "team")]))
    ep = kubeconfig.resolve(path)
    assert (ep.server, ep.context, ep.namespace, ep.token, ep.ca_pem) == (
        "https://10.1.2.3:6443", "a", "team", "t0ken-value", ca)
    assert ep.tls_server_name == "kubernetes" and ep.unsupported is None
    assert "t0ken-value" not in repr(ep)
    assert kubeconfig.resolve(path, namespace="other").namespace == "other"


def test_namespace_defaults_to_default_and_context_flag_wins(tmp_path) -> None:
    path = write(tmp_path / "config", config(
        clusters=[cluster("c1", "https://one"), cluster("c2", "https://two")], users=[user("u")],
        contexts=[context("a", "c1", "u"), context("b", "c2", "u")]))
    assert kubeconfig.resolve(path).namespace == "default"
    ep = kubeconfig.resolve(path, context="b")
    assert (ep.server, ep.context) == ("https://two", "b")


def test_kubeconfig_env_merges_first_wins(tmp_path, monkeypatch) -> None:
    first = write(tmp_path / "one", config(current="a", clusters=[cluster("c", "https://first")],
                                           users=[user("u", token="first-token")],
                                           contexts=[context("a", "c", "u")]))
    second = write(tmp_path / "two", config(current="b", clusters=[cluster("c", "https://second"),
                                                                   cluster("d", "https://dee")],
                                            users=[user("u", token="second-token")],
                                            contexts=[context("b", "d", "u")]))
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([first, str(tmp_path / "missing"), second]))
    ep = kubeconfig.resolve()
    assert (ep.context, ep.server, ep.token) == ("a", "https://first", "first-token")  # first current-context
    ep = kubeconfig.resolve(context="b")
    assert (ep.server, ep.token) == ("https://dee", "first-token")  # user "u" from the first file
    assert ep.files == (first, second)


def test_relative_paths_are_relative_to_the_file_that_names_them(tmp_path) -> None:
    certs = tmp_path / "conf" / "certs"
    certs.mkdir(parents=True)
    (certs / "ca.pem").write_bytes(b"ca")
    (certs / "crt.pem").write_bytes(b"crt")
    (certs / "key.pem").write_bytes(b"key")
    path = write(tmp_path / "conf" / "config", config(
        clusters=[cluster("c", "https://x", **{"certificate-authority": "certs/ca.pem"})],
        users=[user("u", **{"client-certificate": "certs/crt.pem", "client-key": "certs/key.pem",
                            "tokenFile": "certs/token",
                            "exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "./bin/plugin",
                                     "interactiveMode": "Never"}})],
        contexts=[context("a", "c", "u")]))
    ep = kubeconfig.resolve(path)
    assert (ep.ca_pem, ep.cert_pem, ep.key_pem) == (b"ca", b"crt", b"key")
    assert ep.token_file == str(certs / "token")
    assert ep.exec is not None and ep.exec["command"] == str(tmp_path / "conf" / "bin" / "plugin")


def test_exec_command_on_path_stays_as_written(tmp_path) -> None:
    path = write(tmp_path / "config", config(
        clusters=[cluster("c", "https://x", extensions=[{"name": "client.authentication.k8s.io/exec",
                                                          "extension": {"audience": "me"}}])],
        users=[user("u", exec={"apiVersion": "client.authentication.k8s.io/v1", "command": "aws",
                               "args": ["eks", "get-token"], "interactiveMode": "Never"})],
        contexts=[context("a", "c", "u")]))
    ep = kubeconfig.resolve(path)
    assert ep.exec is not None and ep.exec["command"] == "aws"
    assert ep.exec_cluster == {"server": "https://x", "config": {"audience": "me"}}


@pytest.mark.parametrize("fields, cluster_extra, reason", [
    ({"auth-provider": {"name": "oidc", "config": {}}}, {}, "auth-provider oidc"),
    ({"username": "admin", "password": "p"}, {}, "basic authentication"),
    ({"token": "x"}, {"proxy-url": "http://proxy:3128"}, "proxy-url"),
])
def test_what_only_the_official_client_knows_is_marked(tmp_path, fields, cluster_extra, reason) -> None:
    path = write(tmp_path / "config", config(clusters=[cluster("c", "https://x", **cluster_extra)],
                                             users=[user("u", **fields)], contexts=[context("a", "c", "u")]))
    assert kubeconfig.resolve(path).unsupported == reason


@pytest.mark.parametrize("doc, message, hint", [
    (config(current=None, clusters=[cluster("c", "https://x")], contexts=[context("a", "c", "u")]),
     "no current context", "--context"),
    (config(current="zzz", contexts=[context("a", "c", "u")]), "context 'zzz' not found", "available contexts: a"),
    (config(contexts=[context("a", "nope", "u")]), "names cluster 'nope'", "add the cluster"),
    (config(clusters=[cluster("c", "")], contexts=[context("a", "c", "u")]), "has no server", "server"),
    (config(clusters=[cluster("c", "https://x", **{"certificate-authority": "missing.pem"})],
            contexts=[context("a", "c", "u")]), "certificate-authority", "fix the path"),
    (config(clusters=[cluster("c", "https://x", **{"certificate-authority-data": "!!not base64!!"})],
            contexts=[context("a", "c", "u")]), "not base64", "fix the kubeconfig"),
])
def test_unusable_kubeconfigs_are_input_errors(tmp_path, doc, message, hint) -> None:
    path = write(tmp_path / "config", doc)
    with pytest.raises(InvalidInputError) as err:
        kubeconfig.resolve(path)
    assert message in str(err.value) and hint in (err.value.hint or "")
    assert err.value.exit_code == ExitCode.INVALID_INPUT


def test_invalid_yaml_names_the_line_and_never_echoes_content(tmp_path) -> None:
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nusers:\n- name: u\n  user: {token: s3cret-token\n")
    with pytest.raises(InvalidInputError) as err:
        kubeconfig.resolve(str(path))
    assert f"{path}:" in str(err.value) and "s3cret" not in str(err.value)


def test_no_kubeconfig_anywhere(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(InvalidInputError) as err:
        kubeconfig.resolve()
    assert "no kubeconfig found at ~/.kube/config" in str(err.value)


def test_in_cluster_service_account(tmp_path, monkeypatch) -> None:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "ca.crt").write_bytes(b"ca")
    (sa / "token").write_text("tok")
    (sa / "namespace").write_text("ci\n")
    monkeypatch.setattr(kubeconfig, "SA_DIR", str(sa))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    ep = kubeconfig.resolve()
    assert (ep.server, ep.context, ep.namespace, ep.ca_pem, ep.token_file) == (
        "https://10.0.0.1:443", "in-cluster", "ci", b"ca", str(sa / "token"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    assert kubeconfig.resolve(namespace="x").server == "https://[fd00::1]:443"
    # an explicit --kubeconfig always wins over the pod's account
    path = write(tmp_path / "config", config(clusters=[cluster("c", "https://x")], contexts=[context("a", "c", "u")]))
    assert kubeconfig.resolve(path).context == "a"


@pytest.mark.parametrize("server, env, proxied", [
    ("https://api.example.com:6443", {"HTTPS_PROXY": "http://proxy:3128"}, True),
    ("https://api.example.com:6443", {"https_proxy": "http://proxy:3128"}, True),
    ("https://api.example.com:6443", {"HTTP_PROXY": "http://proxy:3128"}, False),  # http only
    ("http://api.example.com", {"HTTP_PROXY": "http://proxy:3128"}, True),
    ("https://127.0.0.1:6443", {"HTTPS_PROXY": "http://proxy:3128"}, False),  # loopback: never, as in Go
    ("https://localhost:6443", {"HTTPS_PROXY": "http://proxy:3128"}, False),
    ("https://api.example.com:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, False),
    ("https://api.example.com:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example.com"}, False),
    ("https://api.example.com:6443", {"HTTPS_PROXY": "http://p:1", "no_proxy": "other.com, *"}, False),
    ("https://api.example.com:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "ample.com"}, True),
    ("https://10.1.2.3:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, False),
    ("https://10.1.2.3:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "192.168.0.0/16"}, True),
    ("https://[fd00::1]:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "fd00::/8"}, False),
])
def test_a_proxy_from_the_environment_goes_to_the_official_client(tmp_path, monkeypatch, server, env, proxied):
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert (kubeconfig.env_proxy(server) is not None) is proxied
    path = write(tmp_path / "config", config(clusters=[cluster("c", server)], users=[user("u", token="x")],
                                             contexts=[context("a", "c", "u")]))
    reason = kubeconfig.resolve(path).unsupported
    assert reason == ("a proxy from the environment (HTTPS_PROXY)" if proxied else None)


def test_impersonation_headers(tmp_path) -> None:
    path = write(tmp_path / "config", config(
        clusters=[cluster("c", "https://x")],
        users=[user("u", token="x", **{"as": "jane", "as-uid": "42", "as-groups": ["dev", "ops"],
                                       "as-user-extra": {"scopes.example/x": ["a", "b"]}})],
        contexts=[context("a", "c", "u")]))
    assert kubeconfig.resolve(path).impersonate == (
        ("Impersonate-User", "jane"), ("Impersonate-Uid", "42"), ("Impersonate-Group", "dev"),
        ("Impersonate-Group", "ops"), ("Impersonate-Extra-scopes.example%2Fx", "a"),
        ("Impersonate-Extra-scopes.example%2Fx", "b"))


@pytest.mark.parametrize("fields, message", [
    ({"as-groups": ["dev"]}, "need `as`"),
    ({"as": "jane", "as-groups": "dev"}, "must be a list"),
    ({"as": "jane", "as-user-extra": ["x"]}, "must be a list and as-user-extra a mapping"),
    ({"exec": "aws eks get-token"}, "exec is not a mapping"),
    ({"as": "jane", "auth-provider": {"name": "oidc"}}, "cannot do both"),
])
def test_impersonation_errors(tmp_path, fields, message) -> None:
    path = write(tmp_path / "config", config(clusters=[cluster("c", "https://x")], users=[user("u", **fields)],
                                             contexts=[context("a", "c", "u")]))
    with pytest.raises(InvalidInputError) as err:
        kubeconfig.resolve(path)
    assert message in str(err.value)
