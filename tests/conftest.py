"""Shared fixtures. Tests marked e2e get the local control plane (hack/local-cluster) for the session.

Helpers for e2e tests (kubectl, audit log, waiting) live in tests/cluster_helpers.py; fixtures of one
area belong in that area's test files.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import cluster_helpers` from any test file

from cluster_helpers import Cluster, cluster_session, kubectl, wait_for


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The local cluster, started for this session (or reused when already up), with KUBECONFIG pointing at it.

    It is stopped at the end only if this session started it (see cluster_helpers.cluster_session).
    """
    with cluster_session() as c:
        saved = os.environ.get("KUBECONFIG")
        os.environ["KUBECONFIG"] = c.kubeconfig
        try:
            yield c
        finally:
            if saved is None:
                os.environ.pop("KUBECONFIG", None)
            else:
                os.environ["KUBECONFIG"] = saved


@pytest.fixture(autouse=True)
def _e2e_needs_cluster(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("e2e") is not None:
        request.getfixturevalue("cluster")


@pytest.fixture
def namespace(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[str]:
    """A fresh namespace named after the test (ready for pods: its default ServiceAccount exists); deleted after."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    wait_for(f"the default ServiceAccount in {name}",
             lambda: kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
