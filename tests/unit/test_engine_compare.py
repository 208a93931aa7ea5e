"""The comparison engine (engine.diff.compare) with the real ``Cluster`` as its DryRunner, on the fake API server
of tests/fakes.py: live objects read with ``fetch_live``, dry runs that store nothing and are counted as dry runs,
another manager's fields, a namespace that does not exist, a dry run that meets a 503 and is sent again.
tests/unit/test_diff_compare.py drives the same engine with a scripted DryRunner."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeApiServer, fake_cluster

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.cluster.live import Target, fetch_live
from kubectl_gitops.engine.diff import Op
from kubectl_gitops.engine.diff.compare import CompareOptions, Comparison, compare
from kubectl_gitops.errors import ValidationError
from kubectl_gitops.model import Manifest, Origin


def cm(name: str, value: str, namespace: str = "a") -> Manifest:
    return Manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                     "data": {"k": value}}, Origin(f"{name}.yaml", 1))


def run(cluster: Cluster, manifests: list[Manifest], **opts: Any) -> Comparison:
    types = {m.key: cluster.discovery.lookup(m.api_version, m.kind) for m in manifests}
    live = fetch_live(cluster, [Target(m.key, rt) for m in manifests if (rt := types[m.key]) is not None])
    return compare(cluster, manifests, types, live, CompareOptions(**opts))


def seeded() -> tuple[Cluster, FakeApiServer]:
    cluster, server = fake_cluster()
    cluster.apply(cm("same", "1").obj, server.type_of("ConfigMap"))
    cluster.apply(cm("changed", "1").obj, server.type_of("ConfigMap"))
    return cluster, server


def test_only_objects_that_may_differ_are_dry_run_and_nothing_is_written() -> None:
    cluster, server = seeded()
    writes, effects = cluster.writes, list(server.effects)
    result = run(cluster, [cm("same", "1"), cm("changed", "2"), cm("new", "1")])
    assert [c.op for c in result.changes] == [Op.UNCHANGED, Op.UPDATE, Op.CREATE]
    assert result.dry_runs == 2 and cluster.dry_runs == 2 and cluster.writes == writes
    assert server.effects == effects and server.names("ConfigMap") == ["changed", "same"]
    changed = server.obj("ConfigMap", "changed", "a")
    assert changed is not None and changed["data"] == {"k": "1"}


def test_without_the_fast_path_every_object_is_dry_run() -> None:
    cluster, _ = seeded()
    result = run(cluster, [cm("same", "1"), cm("changed", "2")], fast_path=False)
    assert result.dry_runs == 2 and [c.op for c in result.changes] == [Op.UNCHANGED, Op.UPDATE]


def test_another_managers_fields_are_a_conflict_dry_run_again_with_force() -> None:
    cluster, server = seeded()
    server.claim("ConfigMap", "changed", "a", manager="helm")
    result = run(cluster, [cm("changed", "2")])
    assert "helm" in result.conflicts[cm("changed", "2").key] and result.changes[0].op is Op.UPDATE
    assert [m for m, _, _, n in server.log if m == "PATCH" and n == "changed"][-2:] == ["PATCH", "PATCH"]
    assert server.claims  # a dry run takes nothing
    assert run(cluster, [cm("changed", "2")], force_conflicts=True).conflicts == {}


def test_a_namespace_that_does_not_exist_is_refused_with_a_hint_naming_it() -> None:
    cluster, server = fake_cluster()
    server.require_namespaces = True
    with pytest.raises(ValidationError) as e:
        run(cluster, [cm("x", "1", namespace="nowhere")])
    text = " ".join(e.value.details) if e.value.details else e.value.message
    assert 'namespaces "nowhere" not found' in text and "create namespace nowhere" in text


def test_a_dry_run_that_meets_a_503_is_sent_again() -> None:
    cluster, server = seeded()
    server.fail("PATCH", "ConfigMap", "changed", status=503, times=1)
    result = run(cluster, [cm("changed", "2")])
    assert result.changes[0].op is Op.UPDATE and cluster.retries == 1 and cluster.writes == 2  # the seeding's
