"""Our kubeconfig reader and HTTP transport against the real API server: every way of authenticating we
implement (client certificates, tokens, token files, exec plugins returning tokens or certificates), TLS
verification and tls-server-name, errors, and the official client's path for what we do not implement."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from cli_helpers import gitops
from cluster_helpers import cluster_state, kubectl
from source_helpers import GitRepo

from kubectl_gitops.cluster.client import ApiError, Cluster
from kubectl_gitops.errors import ClusterError, ExitCode, InvalidInputError
from kubectl_gitops.settings import DISCOVERY_TTL_ENV, TRANSPORT_ENV, ClusterOptions

pytestmark = pytest.mark.e2e


def admin_config() -> dict:
    return yaml.safe_load(Path(cluster_state()["kubeconfig"]).read_text())


def write_config(path: Path, user: dict, *, cluster_extra: dict | None = None, drop_ca: bool = False) -> str:
    """A kubeconfig for the local cluster with the given user stanza."""
    cfg = admin_config()
    c = cfg["clusters"][0]["cluster"]
    if drop_ca:
        c.pop("certificate-authority-data")
    c.update(cluster_extra or {})
    cfg["users"] = [{"name": "tested", "user": user}]
    cfg["contexts"][0]["context"]["user"] = "tested"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture
def sa_token(namespace) -> str:
    """A ServiceAccount token allowed to edit the test namespace."""
    kubectl("create", "serviceaccount", "robot", "-n", namespace)
    kubectl("create", "rolebinding", "robot-edit", "--clusterrole=edit", f"--serviceaccount={namespace}:robot",
            "-n", namespace)
    return kubectl("create", "token", "robot", "-n", namespace, "--duration=1h").stdout.strip()


def can_list(path: str, namespace: str) -> Cluster:
    c = Cluster.connect(ClusterOptions(kubeconfig=path, namespace=namespace))
    rt = c.discovery.lookup("v1", "ConfigMap")
    assert rt is not None
    list(c.list(rt, namespace))
    return c


def write_plugin(tmp_path: Path, body: str) -> Path:
    """An exec credential plugin: a Python script; it appends each KUBERNETES_EXEC_INFO to calls.jsonl."""
    plugin = tmp_path / "plugin"
    plugin.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                      f"calls = {str(tmp_path / 'calls.jsonl')!r}\n"
                      "with open(calls, 'a') as f:\n    f.write(os.environ['KUBERNETES_EXEC_INFO'] + '\\n')\n"
                      "n = sum(1 for _ in open(calls))\n" + textwrap.dedent(body))
    plugin.chmod(0o755)
    return plugin


def calls(tmp_path: Path) -> list[dict]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def exec_user(plugin: Path, **extra) -> dict:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
                     "interactiveMode": "Never", **extra}}


def test_the_standard_path_does_not_import_the_official_client(cluster, namespace) -> None:
    code = ("import sys\nfrom kubectl_gitops.cluster.client import Cluster\nfrom kubectl_gitops.settings import "
            f"ClusterOptions\nc = Cluster.connect(ClusterOptions(namespace={namespace!r}))\n"
            "rt = c.discovery.lookup('v1', 'ConfigMap')\nprint(len(list(c.list(rt, c.namespace))))\n"
            "print(sorted(m for m in ('kubernetes', 'urllib3', 'requests') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.splitlines()
    assert out == ["1", "[]"]  # the namespace's kube-root-ca.crt; no client module loaded


def test_token_and_token_file(tmp_path, namespace, sa_token) -> None:
    can_list(write_config(tmp_path / "a", {"token": sa_token}), namespace)
    (tmp_path / "token").write_text(sa_token + "\n")
    c = can_list(write_config(tmp_path / "b", {"tokenFile": "token"}), namespace)  # relative to the kubeconfig
    rt = c.discovery.lookup("v1", "ConfigMap")
    assert rt is not None
    with pytest.raises(ApiError) as err:  # the account may not read other namespaces
        list(c.list(rt, "kube-system"))
    assert err.value.status == 403 and "kubectl auth can-i" in (err.value.hint or "")


def test_a_rejected_token_is_a_cluster_error_with_a_hint(tmp_path, namespace, monkeypatch) -> None:
    monkeypatch.setenv(DISCOVERY_TTL_ENV, "0")  # discovery is the first request only without a (warm) cache
    path = write_config(tmp_path / "config", {"token": "not-a-valid-token"})
    with pytest.raises(ApiError) as err:
        Cluster.connect(ClusterOptions(kubeconfig=path)).discovery  # noqa: B018
    assert err.value.status == 401 and "refresh them" in (err.value.hint or "")
    assert err.value.exit_code == ExitCode.CLUSTER_ERROR


def test_impersonation_from_the_kubeconfig(tmp_path, namespace, sa_token) -> None:
    admin = admin_config()["users"][0]["user"]
    robot = f"system:serviceaccount:{namespace}:robot"
    c = can_list(write_config(tmp_path / "a", {**admin, "as": robot}), namespace)  # robot may edit its namespace
    rt = c.discovery.lookup("v1", "ConfigMap")
    assert rt is not None
    with pytest.raises(ApiError) as err:
        list(c.list(rt, "kube-system"))  # ... and nothing else: the requests really are the robot's
    assert err.value.status == 403 and robot in err.value.message
    # two groups, two header lines (one comma-joined line would name a single group that grants nothing)
    c = can_list(write_config(tmp_path / "b", {**admin, "as": "someone", "as-groups": ["team-x", "system:masters"]}),
                 namespace)
    assert list(c.list(rt, "kube-system"))


def test_exec_plugin_token_is_cached_and_gets_the_exec_info(tmp_path, namespace, sa_token) -> None:
    (tmp_path / "token").write_text(sa_token)
    plugin = write_plugin(tmp_path, f"""
        token = open({str(tmp_path / 'token')!r}).read()
        print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                          "status": {{"token": token}}}}))
    """)
    path = write_config(tmp_path / "config", exec_user(plugin, provideClusterInfo=True,
                                                       env=[{"name": "PLUGIN_MODE", "value": "test"}]))
    c = can_list(path, namespace)
    list(c.list(c.discovery.lookup("v1", "Secret"), namespace))  # type: ignore[arg-type]
    [info] = calls(tmp_path)  # one run for discovery and both LISTs: cached (no expiry given)
    assert info["apiVersion"] == "client.authentication.k8s.io/v1" and info["kind"] == "ExecCredential"
    assert info["spec"]["interactive"] is False
    assert info["spec"]["cluster"]["server"] == cluster_state()["server"]
    assert base64.b64decode(info["spec"]["cluster"]["certificate-authority-data"]).startswith(b"-----BEGIN")


def test_exec_plugin_runs_again_when_the_credential_expires_or_is_rejected(tmp_path, namespace, sa_token) -> None:
    (tmp_path / "token").write_text(sa_token)
    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # 1st run: a token the server rejects; later runs: the good one, expiring within the refresh margin
    plugin = write_plugin(tmp_path, f"""
        token = "wrong-token" if n == 1 else open({str(tmp_path / 'token')!r}).read()
        print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                          "status": {{"token": token, "expirationTimestamp": {soon!r}}}}}))
    """)
    c = can_list(write_config(tmp_path / "config", exec_user(plugin)), namespace)
    assert len(calls(tmp_path)) >= 2  # the 401 made it run again
    before = len(calls(tmp_path))
    list(c.list(c.discovery.lookup("v1", "ConfigMap"), namespace))  # type: ignore[arg-type]
    assert len(calls(tmp_path)) == before + 1  # expiring credentials are fetched again


def test_exec_plugin_client_certificate(tmp_path, namespace) -> None:
    admin = admin_config()["users"][0]["user"]
    cert = base64.b64decode(admin["client-certificate-data"]).decode()
    key = base64.b64decode(admin["client-key-data"]).decode()
    plugin = write_plugin(tmp_path, f"""
        print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                          "status": {{"clientCertificateData": {cert!r}, "clientKeyData": {key!r}}}}}))
    """)
    user = exec_user(plugin)
    user["exec"]["apiVersion"] = "client.authentication.k8s.io/v1beta1"
    can_list(write_config(tmp_path / "config", user), namespace)
    assert len(calls(tmp_path)) == 1
    assert not list(tmp_path.parent.glob("kubectl-gitops-tls-*"))  # the key never stays on disk


def test_exec_plugin_missing_or_failing_through_the_cli(tmp_path, namespace) -> None:
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("cm.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: {namespace}\n")
    repo.commit("one")
    missing = write_config(tmp_path / "missing", {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "no-such-plugin-xyz", "interactiveMode": "Never",
        "installHint": "install no-such-plugin-xyz from your cloud's CLI"}})
    r = gitops("diff", "--kubeconfig", missing, cwd=repo.path)
    assert r.returncode == ExitCode.INVALID_INPUT, r.stderr
    assert "no-such-plugin-xyz not found" in r.stderr and "install no-such-plugin-xyz from" in r.stderr
    assert "Traceback" not in r.stderr
    # kubectl shows a failing plugin's stderr; so do we (its last lines: usually "log in again")
    plugin = write_plugin(tmp_path, """
        sys.stderr.write("session expired\\nrun login\\n")
        sys.exit(3)
    """)
    r = gitops("diff", "--kubeconfig", write_config(tmp_path / "failing", exec_user(plugin)), cwd=repo.path)
    assert r.returncode == ExitCode.CLUSTER_ERROR, r.stderr
    assert "failed with exit code 3" in r.stderr and "run login" in r.stderr
    assert len(calls(tmp_path)) == 1  # a failing plugin is not run again and again


def test_tls_verification_and_tls_server_name(tmp_path, namespace) -> None:
    admin = admin_config()["users"][0]["user"]
    # the serving certificate names "kubernetes" but not "wrong.example"
    can_list(write_config(tmp_path / "a", admin, cluster_extra={"tls-server-name": "kubernetes"}), namespace)
    with pytest.raises(ClusterError) as err:
        can_list(write_config(tmp_path / "b", admin, cluster_extra={"tls-server-name": "wrong.example"}), namespace)
    assert "not trusted" in str(err.value) and "tls-server-name" in (err.value.hint or "")
    # no CA: verification against the system store fails, unless told to skip it
    with pytest.raises(ClusterError) as err:
        can_list(write_config(tmp_path / "c", admin, drop_ca=True), namespace)
    assert "not trusted" in str(err.value)
    can_list(write_config(tmp_path / "d", admin, drop_ca=True, cluster_extra={"insecure-skip-tls-verify": True}),
             namespace)


def test_unreachable_server_is_a_cluster_error(tmp_path) -> None:
    admin = admin_config()["users"][0]["user"]
    path = write_config(tmp_path / "config", admin, cluster_extra={"server": "https://127.0.0.1:9"})
    with pytest.raises(ClusterError) as err:
        Cluster.connect(ClusterOptions(kubeconfig=path)).discovery  # noqa: B018
    assert "cannot reach the API server at https://127.0.0.1:9" in str(err.value)
    assert err.value.exit_code == ExitCode.CLUSTER_ERROR


def test_a_broken_client_key_is_an_input_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(DISCOVERY_TTL_ENV, "0")  # discovery is the first request only without a (warm) cache
    admin = dict(admin_config()["users"][0]["user"])
    broken = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    admin["client-key-data"] = base64.b64encode(broken).decode()
    with pytest.raises(InvalidInputError) as err:
        Cluster.connect(ClusterOptions(kubeconfig=write_config(tmp_path / "config", admin))).discovery  # noqa: B018
    assert "client certificate or key" in str(err.value)


def test_the_official_client_path_gives_the_same_answers(tmp_path, namespace, monkeypatch) -> None:
    """KUBECTL_GITOPS_TRANSPORT=kubernetes-client: what auth-provider/proxy-url kubeconfigs go through."""
    monkeypatch.setenv(TRANSPORT_ENV, "kubernetes-client")
    c = Cluster.connect(ClusterOptions(namespace=namespace))
    assert type(c._transport).__name__ == "OfficialTransport"
    rt = c.discovery.lookup("v1", "ConfigMap")
    assert rt is not None
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": namespace},
           "data": {"k": "v"}}
    merged = c.apply(obj, rt, dry_run=True)
    assert merged["data"] == {"k": "v"} and c.get(rt, namespace, "a") is None
    c.apply(obj, rt)
    assert [o["metadata"]["name"] for o in c.list(rt, namespace)] == ["a", "kube-root-ca.crt"]
    with pytest.raises(ApiError) as err:
        c.apply({**obj, "metadata": {"name": "Not_Valid", "namespace": namespace}}, rt, dry_run=True)
    assert err.value.status == 422 and "Not_Valid" in err.value.message
    assert c.delete(rt, namespace, "a", propagation="Background")
    assert not c.delete(rt, namespace, "a", propagation="Background")  # 404: already gone
    c.close()
    # and through the CLI, a diff with the official client
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("cm.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: {namespace}\n")
    repo.commit("one")
    r = gitops("diff", "-o", "json", cwd=repo.path, env={TRANSPORT_ENV: "kubernetes-client"})
    assert r.returncode == 1, r.stderr
    assert [c["op"] for c in json.loads(r.stdout)["changes"]] == ["create"]
    assert os.environ.get(TRANSPORT_ENV) == "kubernetes-client"  # monkeypatch restores it after the test
