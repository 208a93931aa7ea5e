"""`secrets seal` fetching the controller's certificate through the real API server's service proxy.

The local control plane cannot run the sealed-secrets controller (kwok pods serve nothing, and the API
server refuses to proxy to loopback addresses), so these tests cover what a user meets before a
controller answers: the Service lookup and the proxy request, with their errors. Sealing itself is
covered offline in tests/unit/test_seal.py.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from cluster_helpers import Cluster, kubectl

pytestmark = pytest.mark.e2e

SECRET = json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
                     "stringData": {"password": "canary-seal-e2e-7731"}})


def seal(cluster: Cluster, *args: str) -> tuple[int, str, str]:
    from kubectl_gitops.cli.secrets_seal import command

    result = CliRunner().invoke(command, ["-", "--kubeconfig", cluster.kubeconfig, *args], input=SECRET,
                                standalone_mode=False)
    assert result.exception is None, result.exception
    return int(result.return_value), result.stdout, result.stderr


def test_missing_controller_service_is_a_cluster_error_that_suggests_cert(cluster: Cluster, namespace: str) -> None:
    code, out, err = seal(cluster, "--controller-namespace", namespace)
    assert code == 5
    assert f"the sealed-secrets controller Service {namespace}/sealed-secrets-controller was not found" in err
    assert "--cert FILE" in err
    assert out == "" and "canary-seal-e2e-7731" not in err


def test_controller_without_endpoints_is_reported_from_the_service_proxy(cluster: Cluster, namespace: str) -> None:
    kubectl("create", "service", "clusterip", "my-sealer", "--tcp=8080:8080", "-n", namespace)
    code, out, err = seal(cluster, "--controller-namespace", namespace, "--controller-name", "my-sealer")
    assert code == 5
    assert "cannot fetch the sealed-secrets certificate" in err
    assert 'no endpoints available for service "my-sealer" (503)' in err, err
    assert out == "" and "canary-seal-e2e-7731" not in err
