"""Health rules as a table: testdata/health/<fixture>.yaml -> expected status and message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_gitops.engine.health import Health, HealthStatus, assess, hook_completed, worst

DATA = Path(__file__).parent / "testdata" / "health"

H, S, P, M, D, U = (HealthStatus.HEALTHY, HealthStatus.SUSPENDED, HealthStatus.PROGRESSING,
                    HealthStatus.MISSING, HealthStatus.DEGRADED, HealthStatus.UNKNOWN)

# fixture -> (status, a piece of the message a person reads)
ASSESS = {
    "deployment-healthy": (H, "3/3 replicas available"),
    "deployment-progressing": (P, "2/3 replicas available"),
    "deployment-degraded": (D, "progress deadline"),
    "deployment-paused": (S, "paused"),
    "deployment-generation-pending": (P, "latest generation"),
    "deployment-old-replicas": (P, "1 old replicas pending termination"),
    "statefulset-healthy": (H, "3/3 replicas ready"),
    "statefulset-not-ready": (P, "1/3 replicas ready"),
    "statefulset-partitioned-rollout": (P, "1/2 replicas updated"),
    "statefulset-ondelete": (H, "OnDelete"),
    "statefulset-revision-pending": (P, "revision db-2"),
    "statefulset-never-observed": (P, "latest generation"),
    "daemonset-healthy": (H, "3/3 pods available"),
    "daemonset-progressing": (P, "1/3 pods available"),
    "daemonset-ondelete": (H, "OnDelete"),
    "replicaset-healthy": (H, "2/2 replicas available"),
    "replicaset-progressing": (P, "0/2 replicas available"),
    "replicaset-degraded": (D, "exceeded quota"),
    "job-complete": (H, "complete"),
    "job-failed": (D, "BackoffLimitExceeded"),
    "job-running": (P, "1 active"),
    "job-suspended": (S, "suspended"),
    "job-resumed": (P, "1 active"),
    "pod-running-ready": (H, "ready"),
    "pod-pending": (P, "pending"),
    "pod-crashloop": (D, "CrashLoopBackOff"),
    "pod-image-pull-error": (D, "ErrImagePull"),
    "pod-hook-image-pull-error": (P, "pending"),
    "pod-failed": (D, "exit code 3"),
    "pod-succeeded": (H, "succeeded"),
    "pod-running-hook": (P, "running"),
    "pvc-bound": (H, "bound"),
    "pvc-pending": (P, "pending"),
    "pvc-lost": (D, "lost"),
    "service-clusterip": (H, ""),
    "service-loadbalancer-pending": (P, "load balancer"),
    "service-loadbalancer-ready": (H, "203.0.113.10"),
    "ingress-pending": (P, "address"),
    "ingress-ready": (H, "lb.example.com"),
    "apiservice-available": (H, "available"),
    "apiservice-unavailable": (P, "MissingEndpoints"),
    "crd-established": (H, "established"),
    "crd-new": (P, "waiting"),
    "crd-not-established": (P, "not established yet: Installing"),
    "crd-names-conflict": (D, "already in use"),
    "configmap": (H, ""),
    "namespace-active": (H, ""),
    "terminating": (P, "pending deletion"),
    "custom-ready": (H, "up to date"),
    "custom-not-ready": (P, "Ready=False: DoesNotExist"),
    "custom-generation-pending": (P, "latest generation"),
    "custom-stalled": (D, "Stalled: BuildFailed"),
    "custom-failed": (D, "s3 bucket not found"),
    "custom-reconciling": (P, "scaling up"),
    "custom-available": (H, "all replicas available"),
    "custom-ready-unknown": (P, "Ready=Unknown"),
    "custom-no-conditions": (H, ""),
    "custom-no-status": (H, ""),
    "hpa-scaling-limited": (H, ""),
}

# fixture -> status of hook_completed: has this hook finished?
HOOKS = {
    "job-complete": H,
    "job-failed": D,
    "job-running": P,
    "job-suspended": P,
    "pod-succeeded": H,
    "pod-failed": D,
    "pod-running-hook": P,
    "pod-running-ready": P,
    "pod-hook-image-pull-error": P,
    "configmap": H,
    "custom-stalled": D,
    "custom-not-ready": P,
}


def load(name: str) -> dict[str, Any]:
    with open(DATA / f"{name}.yaml") as f:
        obj = yaml.safe_load(f)
    assert isinstance(obj, dict)
    return obj


def test_every_fixture_is_in_a_table() -> None:
    fixtures = {p.stem for p in DATA.glob("*.yaml")}
    assert fixtures == set(ASSESS), "add new fixtures to ASSESS (and remove deleted ones)"
    assert set(HOOKS) <= fixtures


@pytest.mark.parametrize("fixture", sorted(ASSESS))
def test_assess(fixture: str) -> None:
    status, message = ASSESS[fixture]
    health = assess(load(fixture))
    assert health.status is status, health
    assert message.lower() in health.message.lower(), health


@pytest.mark.parametrize("fixture", sorted(HOOKS))
def test_hook_completed(fixture: str) -> None:
    assert hook_completed(load(fixture)).status is HOOKS[fixture]


def test_absent_object_is_missing() -> None:
    assert assess(None).status is M
    assert hook_completed(None).status is M


def test_deletion_wins_over_the_kind_rule() -> None:
    job = load("job-complete")
    job["metadata"]["deletionTimestamp"] = "2024-05-01T10:00:00Z"
    assert assess(job) == Health(P, "pending deletion")


def test_an_unknown_api_group_for_a_known_kind_uses_the_generic_rule() -> None:
    # A custom "Deployment" in another group is not judged by the apps/v1 rule.
    obj = {"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert assess(obj).status is H


def test_malformed_status_does_not_crash() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "generation": "2"},
           "spec": {"replicas": "three"}, "status": {"observedGeneration": 2, "conditions": "nope"}}
    assert assess(obj).status in set(HealthStatus)


@pytest.mark.parametrize(("statuses", "expected"), [
    ([], H),
    ([H, H], H),
    ([H, S], S),
    ([S, P, H], P),
    ([P, M], M),
    ([M, D, P], D),
    ([D, U], U),
])
def test_worst_follows_argo_ranking(statuses: list[HealthStatus], expected: HealthStatus) -> None:
    assert worst(Health(s, s.value.lower()) for s in statuses).status is expected


def test_worst_keeps_the_message_of_the_first_worst() -> None:
    result = worst([Health(P, "a"), Health(D, "b"), Health(D, "c")])
    assert result == Health(D, "b")
    assert str(result) == "Degraded: b"
