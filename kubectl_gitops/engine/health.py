"""Health of live objects: one small pure function per kind behind one dispatcher.

``assess(obj)`` answers "is this object ready, still getting there, or broken?" the way Argo CD
does for the kinds it knows (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Pod, PVC,
Service, Ingress, APIService, CustomResourceDefinition). For every other kind, where Argo CD says
"Healthy" as soon as the object exists (the reason waves don't wait for operators, argo-cd#14442),
we read the conventions most controllers follow (kstatus):

1. ``status.observedGeneration < metadata.generation`` (when the controller reports it): the
   controller has not seen the latest spec yet -> Progressing.
2. Condition ``Stalled`` or ``Failed`` is ``True`` -> Degraded (the controller gave up).
3. Condition ``Reconciling`` is ``True`` -> Progressing.
4. Condition ``Ready`` (else ``Available``): ``True`` -> Healthy; ``False`` or ``Unknown`` ->
   Progressing, with the condition's reason and message. Not Degraded: controllers retry a
   failing reconcile and a ``Ready=False`` often clears by itself (a dependency still starting);
   a condition that never clears ends in the sync's wave timeout, which names the object and
   this message. Controllers that really give up say so with ``Stalled``.
5. Anything else, including no ``status`` at all (ConfigMap, Secret, RBAC) -> Healthy.

An object with ``metadata.deletionTimestamp`` is Progressing whatever its kind; ``None`` (not in
the cluster) is Missing.

``hook_completed`` is the other question a sync asks, about hooks: has this Job or Pod *finished*?

Statuses are ranked, so ``worst`` can combine many into one (Argo CD's order):
Healthy < Suspended < Progressing < Missing < Degraded < Unknown.

Longer than ~400 lines because it is one table of per-kind rules sharing the same small readers; split up, a
kind's rule would sit away from the others it is compared with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from kubectl_gitops.model import split_api_version

Obj = dict[str, Any]


class HealthStatus(str, Enum):
    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        """0 for Healthy up to 5 for Unknown; higher is worse."""
        return _RANK[self]


_RANK = {status: i for i, status in enumerate(HealthStatus)}


@dataclass(frozen=True)
class Health:
    status: HealthStatus
    message: str = ""

    def __str__(self) -> str:
        return f"{self.status.value}: {self.message}" if self.message else self.status.value

    @property
    def healthy(self) -> bool:
        return self.status is HealthStatus.HEALTHY


def worst(healths: Iterable[Health]) -> Health:
    """The worst of several healths (the first one of that rank wins); Healthy when there are none."""
    result: Health | None = None
    for h in healths:
        if result is None or h.status.rank > result.status.rank:
            result = h
    return result or Health(HealthStatus.HEALTHY)


# --- small readers ---------------------------------------------------------------------------------

def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return default


def _conditions(obj: Obj) -> list[Obj]:
    conds = _dict(obj.get("status")).get("conditions")
    return [c for c in conds if isinstance(c, dict)] if isinstance(conds, list) else []


def _condition(obj: Obj, ctype: str) -> Obj | None:
    for c in _conditions(obj):
        if c.get("type") == ctype:
            return c
    return None


def _is_true(cond: Obj | None) -> bool:
    return cond is not None and str(cond.get("status")) == "True"


def _explain(cond: Obj) -> str:
    """``reason: message`` of a condition, whichever parts exist."""
    parts = [str(cond[k]) for k in ("reason", "message") if cond.get(k)]
    return ": ".join(parts)


def _generation_pending(obj: Obj) -> bool:
    generation = _int(_dict(obj.get("metadata")).get("generation"))
    return generation > _int(_dict(obj.get("status")).get("observedGeneration"))


def _healthy(message: str = "") -> Health:
    return Health(HealthStatus.HEALTHY, message)


def _progressing(message: str = "") -> Health:
    return Health(HealthStatus.PROGRESSING, message)


def _degraded(message: str = "") -> Health:
    return Health(HealthStatus.DEGRADED, message)


def _suspended(message: str = "") -> Health:
    return Health(HealthStatus.SUSPENDED, message)


def _unknown(message: str = "") -> Health:
    return Health(HealthStatus.UNKNOWN, message)


_WAITING_FOR_CONTROLLER = "waiting for the controller to observe the latest generation"


# --- per kind --------------------------------------------------------------------------------------

def _deployment(obj: Obj) -> Health:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    if spec.get("paused") is True:
        return _suspended("deployment is paused")
    if _generation_pending(obj):
        return _progressing(_WAITING_FOR_CONTROLLER)
    progressing = _condition(obj, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        detail = f": {progressing['message']}" if progressing.get("message") else ""
        return _degraded(f"exceeded its progress deadline{detail}")
    desired = _int(spec.get("replicas"), 1)
    updated = _int(status.get("updatedReplicas"))
    current = _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))
    if updated < desired:
        return _progressing(f"{updated}/{desired} replicas updated")
    if current > updated:
        return _progressing(f"{current - updated} old replicas pending termination")
    if available < updated:
        return _progressing(f"{available}/{updated} replicas available")
    return _healthy(f"{available}/{desired} replicas available")


def _statefulset(obj: Obj) -> Health:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    observed = _int(status.get("observedGeneration"))
    if observed == 0 or _generation_pending(obj):
        return _progressing(_WAITING_FOR_CONTROLLER)
    desired = _int(spec.get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    if ready < desired:
        return _progressing(f"{ready}/{desired} replicas ready")
    strategy = _dict(spec.get("updateStrategy"))
    stype = strategy.get("type") or "RollingUpdate"
    rolling = strategy.get("rollingUpdate")
    updated = _int(status.get("updatedReplicas"))
    if stype == "RollingUpdate" and isinstance(rolling, dict):
        partition = _int(rolling.get("partition"))
        if "partition" in rolling:
            target = desired - partition
            if updated < target:
                return _progressing(f"partitioned rollout: {updated}/{target} replicas updated")
        if partition > 0:
            return _healthy(f"partitioned rollout complete: {updated} replicas updated")
        return _healthy(f"{ready}/{desired} replicas ready")
    if stype == "OnDelete":
        return _healthy(f"{ready} replicas ready (OnDelete updates)")
    if status.get("updateRevision") != status.get("currentRevision"):
        revision = status.get("updateRevision")
        return _progressing(f"rolling update in progress: {updated}/{desired} replicas at revision {revision}")
    return _healthy(f"{ready}/{desired} replicas ready")


def _daemonset(obj: Obj) -> Health:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    if _generation_pending(obj):
        return _progressing(_WAITING_FOR_CONTROLLER)
    desired = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    available = _int(status.get("numberAvailable"))
    if _dict(spec.get("updateStrategy")).get("type") == "OnDelete":
        return _healthy(f"{updated}/{desired} pods updated (OnDelete updates)")
    if updated < desired:
        return _progressing(f"{updated}/{desired} pods updated")
    if available < desired:
        return _progressing(f"{available}/{desired} pods available")
    return _healthy(f"{available}/{desired} pods available")


def _replicaset(obj: Obj) -> Health:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    if _generation_pending(obj):
        return _progressing(_WAITING_FOR_CONTROLLER)
    failure = _condition(obj, "ReplicaFailure")
    if _is_true(failure):
        assert failure is not None
        return _degraded(_explain(failure) or "replica failure")
    desired = _int(spec.get("replicas"), 1)
    available = _int(status.get("availableReplicas"))
    if available < desired:
        return _progressing(f"{available}/{desired} replicas available")
    return _healthy(f"{available}/{desired} replicas available")


def _job(obj: Obj) -> Health:
    failed, complete, suspended = (_condition(obj, t) for t in ("Failed", "Complete", "Suspended"))
    if _is_true(failed):
        assert failed is not None
        return _degraded(_explain(failed) or "job failed")
    if _is_true(complete):
        assert complete is not None
        return _healthy(str(complete.get("message") or "job complete"))
    if _is_true(suspended):
        return _suspended("job is suspended")
    status = _dict(obj.get("status"))
    return _progressing(f"running: {_int(status.get('active'))} active, {_int(status.get('succeeded'))} succeeded, "
              f"{_int(status.get('failed'))} failed")


def _container_statuses(status: Obj, *keys: str) -> list[Obj]:
    out: list[Obj] = []
    for key in keys:
        items = status.get(key)
        if isinstance(items, list):
            out.extend(c for c in items if isinstance(c, dict))
    return out


def _pod(obj: Obj) -> Health:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    restart = spec.get("restartPolicy") or "Always"
    message = str(status.get("message") or "")
    if restart == "Always":
        # Only long-running pods: a hook pod with an image pull error may still recover and run.
        broken = []
        for c in _container_statuses(status, "initContainerStatuses", "containerStatuses"):
            waiting = _dict(_dict(c.get("state")).get("waiting"))
            reason = str(waiting.get("reason") or "")
            if reason and (reason.startswith("Err") or reason.endswith("Error") or reason.endswith("BackOff")):
                detail = f": {waiting['message']}" if waiting.get("message") else ""
                broken.append(f"container {c.get('name')!r} {reason}{detail}")
        if broken:
            return _degraded("; ".join(broken))
    phase = status.get("phase")
    if phase == "Pending":
        return _progressing(message or "pod is pending")
    if phase == "Succeeded":
        return _healthy(message or "pod succeeded")
    if phase == "Failed":
        if message:
            return _degraded(message)
        for c in _container_statuses(status, "initContainerStatuses", "containerStatuses"):
            term = _dict(_dict(c.get("state")).get("terminated"))
            if term.get("message"):
                return _degraded(str(term["message"]))
            if term.get("reason") == "OOMKilled":
                return _degraded(f"container {c.get('name')!r} was OOMKilled")
            if _int(term.get("exitCode")):
                return _degraded(f"container {c.get('name')!r} failed with exit code {_int(term.get('exitCode'))}")
        return _degraded("pod failed")
    if phase == "Running":
        if restart != "Always":
            return _progressing(message or "pod is running")
        if _is_true(_condition(obj, "Ready")):
            return _healthy(message or "pod is running and ready")
        for c in _container_statuses(status, "containerStatuses"):
            if _dict(_dict(c.get("lastState")).get("terminated")):
                return _degraded(message or f"container {c.get('name')!r} restarted and is not ready")
        return _progressing(message or "pod is running but not ready")
    return _unknown(message or f"pod phase is {phase or 'not reported'}")


def _pvc(obj: Obj) -> Health:
    phase = _dict(obj.get("status")).get("phase")
    if phase == "Bound":
        return _healthy("bound")
    if phase == "Pending":
        return _progressing("pending: waiting for a volume")
    if phase == "Lost":
        return _degraded("the bound volume was lost")
    return _unknown(f"phase is {phase or 'not reported'}")


def _lb_ingress(obj: Obj) -> list[Any]:
    ingress = _dict(_dict(obj.get("status")).get("loadBalancer")).get("ingress")
    return ingress if isinstance(ingress, list) else []


def _lb_address(entry: Any) -> str:
    entry = _dict(entry)
    return str(entry.get("ip") or entry.get("hostname") or "")


def _service(obj: Obj) -> Health:
    if _dict(obj.get("spec")).get("type") == "LoadBalancer":
        ingress = _lb_ingress(obj)
        if not ingress:
            return _progressing("waiting for a load balancer address")
        return _healthy("load balancer at " + ", ".join(a for a in map(_lb_address, ingress) if a))
    return _healthy()


def _ingress(obj: Obj) -> Health:
    ingress = _lb_ingress(obj)
    if not ingress:
        return _progressing("waiting for the ingress controller to publish an address")
    return _healthy("address " + ", ".join(a for a in map(_lb_address, ingress) if a))


def _apiservice(obj: Obj) -> Health:
    available = _condition(obj, "Available")
    if _is_true(available):
        return _healthy("available")
    return _progressing(_explain(available) if available else "waiting for the Available condition")


def _crd(obj: Obj) -> Health:
    conds = {str(c.get("type")): c for c in _conditions(obj)}
    if not conds:
        return _progressing("waiting for the API server to accept the definition")
    names = conds.get("NamesAccepted")
    if names is not None and str(names.get("status")) == "False":
        return _degraded(f"names not accepted: {_explain(names)}")
    if _is_true(conds.get("NonStructuralSchema")):
        return _degraded(f"schema is not structural: {_explain(conds['NonStructuralSchema'])}")
    established = conds.get("Established")
    if not _is_true(established):
        detail = _explain(established) if established else ""
        return _progressing(f"not established yet: {detail}" if detail else "not established yet")
    if not _is_true(names):
        return _progressing("names not accepted yet")
    return _healthy("established")


def _generic(obj: Obj) -> Health:
    status = obj.get("status")
    if not isinstance(status, dict) or not status:
        return _healthy()
    # Many controllers never report observedGeneration; only those that do are held to it.
    if "observedGeneration" in status and _generation_pending(obj):
        return _progressing(_WAITING_FOR_CONTROLLER)
    for ctype in ("Stalled", "Failed"):
        cond = _condition(obj, ctype)
        if _is_true(cond):
            assert cond is not None
            return _degraded(f"{ctype}: {_explain(cond)}" if _explain(cond) else ctype)
    reconciling = _condition(obj, "Reconciling")
    if _is_true(reconciling):
        assert reconciling is not None
        return _progressing(f"Reconciling: {_explain(reconciling)}" if _explain(reconciling) else "reconciling")
    for ctype in ("Ready", "Available"):
        cond = _condition(obj, ctype)
        if cond is None:
            continue
        if _is_true(cond):
            return _healthy(str(cond.get("message") or ctype))
        state = "False" if str(cond.get("status")) == "False" else "Unknown"
        detail = _explain(cond)
        return _progressing(f"{ctype}={state}: {detail}" if detail else f"{ctype}={state}")
    return _healthy()


# (group, kind) -> check. Kinds not listed get the generic conditions rule.
_CHECKS: dict[tuple[str, str], Callable[[Obj], Health]] = {
    ("apps", "Deployment"): _deployment,
    ("extensions", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("extensions", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset,
    ("extensions", "ReplicaSet"): _replicaset,
    ("batch", "Job"): _job,
    ("", "Pod"): _pod,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
    ("networking.k8s.io", "Ingress"): _ingress,
    ("extensions", "Ingress"): _ingress,
    ("apiregistration.k8s.io", "APIService"): _apiservice,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}


def assess(obj: Obj | None) -> Health:
    """Health of one live object; ``None`` (not found in the cluster) is Missing."""
    if obj is None:
        return Health(HealthStatus.MISSING, "not found in the cluster")
    if _dict(obj.get("metadata")).get("deletionTimestamp"):
        return _progressing("pending deletion")
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    check = _CHECKS.get((group, str(obj.get("kind", ""))), _generic)
    return check(obj)


def hook_completed(obj: Obj | None) -> Health:
    """Has a hook finished? Job Complete / Pod Succeeded -> Healthy; failed -> Degraded; else
    Progressing (still running, or suspended). Other kinds used as hooks are done when healthy."""
    if obj is None:
        return Health(HealthStatus.MISSING, "hook not found in the cluster")
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    kind = obj.get("kind")
    if (group, kind) == ("batch", "Job"):
        h = _job(obj)
        return h if h.status in (HealthStatus.HEALTHY, HealthStatus.DEGRADED) else _progressing(h.message)
    if (group, kind) == ("", "Pod"):
        phase = _dict(obj.get("status")).get("phase")
        if phase == "Succeeded":
            return _healthy("pod succeeded")
        if phase == "Failed":
            return _pod(obj)
        return _progressing(f"pod is {str(phase).lower() if phase else 'starting'}")
    h = assess(obj)
    if h.status in (HealthStatus.HEALTHY, HealthStatus.DEGRADED):
        return h
    return _progressing(h.message)
