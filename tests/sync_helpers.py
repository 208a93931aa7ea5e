"""Helpers for the sync e2e tests: run `kubectl gitops sync` as a user does, in a real git repository,
and read its `-o json` event stream; small manifest builders for the objects those tests need.

    app = SyncApp(tmp_path, "web", namespace).write("a.yaml", job("migrate", namespace, hook="PreSync"))
    app.commit()
    run = app.sync_json()
    assert run.code == 0 and run.wave_starts() == [("PreSync", 0), ("Sync", 0)]

How the tests make things fail on the local control plane (kwok plays the kubelet: pods become Ready at once
and a Job's pods Succeed): a pod whose nodeSelector matches no node is never scheduled, so it stays Pending.
A Deployment of such pods never becomes Available; a Job of such pods with ``activeDeadlineSeconds`` is
marked Failed (DeadlineExceeded) by the job controller once the deadline passes.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli_helpers import gitops
from cluster_helpers import AuditMark, WriteCall, kubectl, writes_since
from source_helpers import GitRepo

NEVER_SCHEDULED = {"kubectl-gitops.test/no-such-node": "true"}  # no node has this label




@dataclass
class Run:
    """One `sync -o json` run: the exit code, the events in order, the final result line and stderr."""

    code: int
    events: list[dict[str, Any]]
    result: dict[str, Any] = field(default_factory=dict)
    stderr: str = ""
    stdout: str = ""

    def __str__(self) -> str:  # for assertion messages
        return f"exit {self.code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_]

    def wave_starts(self) -> list[tuple[str, int]]:
        return [(e["phase"], e["wave"]) for e in self.of("wave.start")]

    def applied(self) -> list[tuple[str, str]]:
        """(key, action) of every apply event, in order."""
        return [(e["key"], e["action"]) for e in self.of("apply")]

    def index(self, pred: Any) -> int:
        """Position of the first event matching ``pred`` (a dict of fields, or a callable)."""
        for i, e in enumerate(self.events):
            if (pred(e) if callable(pred) else all(e.get(k) == v for k, v in pred.items())):
                return i
        raise AssertionError(f"no event matches {pred!r}:\n" + "\n".join(json.dumps(e) for e in self.events))


def parse_run(proc: subprocess.CompletedProcess[str]) -> Run:
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    result = lines[-1] if lines and lines[-1].get("type") == "result" else {}
    events = lines[:-1] if result else lines
    return Run(proc.returncode, events, result, proc.stderr, proc.stdout)


class SyncApp:
    """A git repository holding one app's manifests, synced with ``--app <name> --record-namespace <ns>``."""

    def __init__(self, tmp_path: Path, name: str, namespace: str):
        self.repo = GitRepo.create(tmp_path / name)
        self.name = name
        self.namespace = namespace

    def write(self, rel: str, text: str) -> SyncApp:
        self.repo.write(rel, text)
        return self

    def remove(self, rel: str) -> SyncApp:
        self.repo.git("rm", "-q", rel)
        return self

    def commit(self, message: str = "change") -> str:
        return self.repo.commit(message)

    def run(self, command: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return gitops(command, "--app", self.name, "--record-namespace", self.namespace, *args,
                      cwd=self.repo.path, env=env)

    def sync(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("sync", *args)

    def sync_json(self, *args: str) -> Run:
        return parse_run(self.sync("-o", "json", *args))

    def prune(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("prune", *args)

    def history(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = json.loads(ok(self.run("history", "-o", "json")).stdout)["history"]
        return entries


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def writes_in(namespace: str, mark: AuditMark, *, dry_run: bool = False) -> list[tuple[str, str, str]]:
    """(verb, resource, name) of our write calls in ``namespace`` since mark (other tests run alongside on
    the same cluster, so writes elsewhere are not ours). Real writes, or only dry runs with ``dry_run``."""
    calls: list[WriteCall] = writes_since(mark)
    return [(w.verb, w.resource, w.name) for w in calls if w.namespace == namespace and w.dry_run == dry_run]


def exists(kind: str, name: str, namespace: str | None = None) -> bool:
    return kubectl("get", kind, name, *(["-n", namespace] if namespace else []), check=False).returncode == 0


# --- manifests -------------------------------------------------------------------------------------------

def _meta(name: str, namespace: str, annotations: dict[str, str] | None, *, generate: bool = False) -> str:
    out = f"metadata:\n  {'generateName' if generate else 'name'}: {name}\n  namespace: {namespace}\n"
    if annotations:
        out += "  annotations:\n" + "".join(f"    {k}: {json.dumps(v)}\n" for k, v in annotations.items())
    return out


def argo(*, hook: str | None = None, wave: int | None = None, delete_policy: str | None = None,
         **extra: str) -> dict[str, str]:
    """Argo CD annotations: ``argo(hook="PreSync", wave=1, delete_policy="HookSucceeded")``."""
    ann = dict(extra)
    if hook:
        ann["argocd.argoproj.io/hook"] = hook
    if wave is not None:
        ann["argocd.argoproj.io/sync-wave"] = str(wave)
    if delete_policy:
        ann["argocd.argoproj.io/hook-delete-policy"] = delete_policy
    return ann


def job(name: str, namespace: str, annotations: dict[str, str] | None = None, *, fail: bool = False,
        generate: bool = False) -> str:
    """A Job that completes at once on kwok, or with ``fail`` one the job controller marks Failed after 1s
    (its pod can never be scheduled, and ``activeDeadlineSeconds`` runs out)."""
    pod_extra = ""
    job_extra = "  backoffLimit: 0\n"
    if fail:
        pod_extra = "      nodeSelector:\n" + "".join(f"        {k}: \"{v}\"\n" for k, v in NEVER_SCHEDULED.items())
        job_extra += "  activeDeadlineSeconds: 1\n"
    return ("apiVersion: batch/v1\nkind: Job\n" + _meta(name, namespace, annotations, generate=generate)
            + "spec:\n" + job_extra + "  template:\n    spec:\n      restartPolicy: Never\n"
            + "      containers:\n      - name: main\n        image: example.com/task:1\n" + pod_extra)


def deployment(name: str, namespace: str, annotations: dict[str, str] | None = None, *, replicas: int = 2,
               never_available: bool = False, image: str = "example.com/web:1") -> str:
    pod_extra = ""
    if never_available:
        pod_extra = "      nodeSelector:\n" + "".join(f"        {k}: \"{v}\"\n" for k, v in NEVER_SCHEDULED.items())
    return ("apiVersion: apps/v1\nkind: Deployment\n" + _meta(name, namespace, annotations)
            + f"spec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {name}\n"
            + f"  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n"
            + f"      containers:\n      - name: main\n        image: {image}\n" + pod_extra)


def replicaset(name: str, namespace: str, annotations: dict[str, str] | None = None, *, replicas: int = 2) -> str:
    return ("apiVersion: apps/v1\nkind: ReplicaSet\n" + _meta(name, namespace, annotations)
            + f"spec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      tier: {name}\n"
            + f"  template:\n    metadata:\n      labels:\n        tier: {name}\n    spec:\n"
            + "      containers:\n      - name: main\n        image: example.com/backend:1\n")


def service(name: str, namespace: str, annotations: dict[str, str] | None = None, *, port: int = 80) -> str:
    return ("apiVersion: v1\nkind: Service\n" + _meta(name, namespace, annotations)
            + f"spec:\n  selector:\n    tier: {name}\n  ports:\n  - port: {port}\n")


def configmap(name: str, namespace: str, annotations: dict[str, str] | None = None, *, value: str = "1") -> str:
    return "apiVersion: v1\nkind: ConfigMap\n" + _meta(name, namespace, annotations) + f"data:\n  value: \"{value}\"\n"


def job_condition(name: str, namespace: str) -> str | None:
    """``Complete`` or ``Failed`` (the Job's finished condition), else None."""
    proc = kubectl("get", "job", name, "-n", namespace, "-o", "json", check=False)
    if proc.returncode != 0:
        return None
    for c in (json.loads(proc.stdout).get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None


def jobs_named(prefix: str, namespace: str) -> list[dict[str, Any]]:
    """Jobs in the namespace whose name starts with prefix (generateName hooks), oldest first."""
    items = json.loads(kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout)["items"]
    found = [j for j in items if j["metadata"]["name"].startswith(prefix)]
    return sorted(found, key=lambda j: (j["metadata"]["creationTimestamp"], j["metadata"]["name"]))
