"""Kubernetes Events on an app's record: ``kubectl describe secret kubectl-gitops.<app>`` and ``kubectl get events``
show every sync, failure, drift and self-heal, as they show a Deployment's rollouts.

Reasons: ``Synced`` (a sync that changed something), ``SyncFailed`` (Warning), ``SelfHealed`` (the watch loop
reverted drift), ``DriftDetected`` (Warning: drift found and only reported), ``Suspended``/``Resumed``.
A no-op sync posts nothing, as it writes nothing.

Events are best effort, the way kubelet and controllers treat them: a POST that fails, or whose outcome is unknown,
is never sent again (the cluster layer does not re-send creates) and only becomes a ``warning`` progress event —
an Event must never fail or repeat a sync. They are sent on a sibling connection, so they do not count as the
run's writes and are not stopped by the Lease's write guard (they describe the app, they do not change it).
RBAC: ``create`` on ``events`` (core group) in the record's namespace.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from kubectl_gitops.engine.inventory import PARENT_API_VERSION, PARENT_KIND, AppRef, utc_now
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.events import Event, EventSink, discard

if TYPE_CHECKING:
    from kubectl_gitops.cluster.client import Cluster

COMPONENT = "kubectl-gitops"
MESSAGE_LIMIT = 1024  # the API server refuses Event messages longer than that


def event_object(app: AppRef, uid: str | None, reason: str, message: str, *, warning: bool = False,
                 instance: str = "") -> dict[str, Any]:
    """A core/v1 Event about the record (``involvedObject``: the Secret, with its uid when known)."""
    now = utc_now()
    involved: dict[str, Any] = {"apiVersion": PARENT_API_VERSION, "kind": PARENT_KIND, "namespace": app.namespace,
                                "name": app.parent_name}
    if uid:
        involved["uid"] = uid
    text = " ".join(message.split())
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{app.parent_name}.{secrets.token_hex(8)}", "namespace": app.namespace,
                     "labels": {"gitops.kubectl.dev/app": app.name}},
        "involvedObject": involved, "reason": reason,
        "message": text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 1] + "…",
        "type": "Warning" if warning else "Normal", "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT, "reportingInstance": instance[:128],
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }


def post_event(cluster: Cluster, app: AppRef, uid: str | None, reason: str, message: str, *, warning: bool = False,
               instance: str = "", on_event: EventSink = discard) -> bool:
    """POST one Event (best effort, see the module docstring). True when it was created."""
    from kubectl_gitops.cluster.client import ResourceType

    quiet = cluster.sibling() if hasattr(cluster, "sibling") else cluster
    rt = quiet.discovery.lookup("v1", "Event") or ResourceType("", "v1", "Event", "events", True)
    try:
        quiet.create(event_object(app, uid, reason, message, warning=warning, instance=instance), rt)
    except GitopsError as e:
        on_event(Event("warning", f"could not post the Event {reason} on the record of app {app.name}: {e.message}",
                       {"reason": reason}))
        return False
    on_event(Event("k8s.event", f"{reason}: {message}", {"reason": reason, "app": app.name}))
    return True


__all__ = ["COMPONENT", "event_object", "post_event"]
