"""Killing syncs of a small app and checking that the next run repairs everything: shared by
tests/e2e/test_kills.py (a few seeded kills) and bench/kills.py (the full 30-kill run of issue 12).

    app = SyncApp(tmp_path, "kills", ns)
    write_app(app, ns, variant=0); app.commit()
    r = kill_sync(app, seed=3, window=(0.2, 4.0), prune=True)   # SIGKILL at a seeded moment
    recover(app)                                                 # the next sync, then the checks below
    assert problems(app, ns) == []

The app: ConfigMaps in two waves, a Deployment and a Service, a named PreSync Job hook and a generateName
PostSync Job hook (both BeforeHookCreation, the default). ``problems`` lists what is wrong after a repair:
``diff`` not clean, objects carrying the app's label that the record does not cover (orphans) or desired
objects missing, leftover hooks (``prune --dry-run``), more than one copy of a hook.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from cli_helpers import ROOT, gitops
from cluster_helpers import kubectl
from faults.kill import KillResult, run_and_kill
from sync_helpers import SyncApp, argo, configmap, deployment, job, service

LEASE_SECONDS = "3"  # a killed run's Lease expires quickly; the repairing run waits for it (--lock-timeout)
KINDS = "configmaps,deployments.apps,services,jobs.batch"


def write_app(app: SyncApp, ns: str, *, variant: int) -> None:
    """Variant n changes every value, and drops ConfigMap ``extra-{n % 3}`` (something for prune to do)."""
    cms = [configmap(f"early-{i}", ns, argo(wave=0), value=f"{variant}") for i in range(3)]
    cms += [configmap(f"late-{i}", ns, argo(wave=1), value=f"{variant}") for i in range(3)]
    cms += [configmap(f"extra-{i}", ns, argo(wave=1)) for i in range(3) if i != variant % 3]
    app.write("config.yaml", "---\n".join(cms))
    app.write("web.yaml", deployment("web", ns, argo(wave=1), replicas=1, image=f"example.com/web:{variant}")
              + "---\n" + service("web", ns))
    app.write("hooks.yaml", job("migrate", ns, argo(hook="PreSync")) + "---\n"
              + job("smoke-", ns, argo(hook="PostSync"), generate=True))


def env() -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECTL_GITOPS_", "KUBECTL_EXTERNAL_DIFF"))}
    full.update({"PATH": f"{ROOT / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1",
                 "KUBECTL_GITOPS_LEASE_SECONDS": LEASE_SECONDS})
    return full


def sync_argv(app: SyncApp, *, prune: bool) -> list[str]:
    return ["kubectl", "gitops", "sync", "--app", app.name, "--record-namespace", app.namespace,
            "--wave-timeout", "60s", *(["--prune", "--yes"] if prune else [])]


def kill_sync(app: SyncApp, *, seed: int, window: tuple[float, float], prune: bool) -> KillResult:
    return run_and_kill(sync_argv(app, prune=prune), cwd=app.repo.path, env=env(), seed=seed, window=window)


def recover(app: SyncApp) -> Any:
    """The next run: ``sync --prune --yes``, waiting for a killed run's Lease to expire."""
    import subprocess

    return subprocess.run([*sync_argv(app, prune=True), "--lock-timeout", "60s"], cwd=app.repo.path, env=env(),
                          text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=240, check=False)


def app_id(app: SyncApp) -> str:
    secret = json.loads(kubectl("get", "secret", f"kubectl-gitops.{app.name}", "-n", app.namespace,
                                "-o", "json").stdout)
    return str(secret["metadata"]["labels"]["applyset.kubernetes.io/id"])


def labelled(app: SyncApp, ns: str | Sequence[str], kinds: str = KINDS) -> list[dict[str, Any]]:
    """Objects of ``kinds`` carrying the app's label, in one namespace or several."""
    items: list[dict[str, Any]] = []
    for one in [ns] if isinstance(ns, str) else ns:
        out = kubectl("get", kinds, "-n", one, "-l", f"applyset.kubernetes.io/part-of={app_id(app)}", "-o", "json")
        items += json.loads(out.stdout)["items"]
    return items


def _is_hook(obj: dict[str, Any]) -> bool:
    return "argocd.argoproj.io/hook" in ((obj.get("metadata") or {}).get("annotations") or {})


def desired_names(app: SyncApp) -> set[tuple[str, str]]:
    """(kind, name) of the app's non-hook objects, rendered from the repository as the CLI renders them."""
    proc = gitops("waves", "-o", "json", cwd=app.repo.path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    steps = doc["steps"] if isinstance(doc, dict) else doc
    return {(s["kind"], s["name"]) for s in steps if not s.get("hook")}


def problems(app: SyncApp, ns: str | Sequence[str], *, kinds: str = KINDS) -> list[str]:
    """What is wrong after a repair (empty: converged, no orphans, no leftover or duplicate hooks). ``ns``: the
    app's namespace, or all of them (object names unique across them); ``kinds``: the kinds to look for labels on.
    """
    out = []
    diff = app.run("diff")
    if diff.returncode != 0:
        out.append(f"diff exit {diff.returncode}: {diff.stdout[-800:]}{diff.stderr[-400:]}")
    secret = json.loads(kubectl("get", "secret", f"kubectl-gitops.{app.name}", "-n", app.namespace,
                                "-o", "json").stdout)
    ann = secret["metadata"]["annotations"]
    recorded = set(ann["applyset.kubernetes.io/contains-group-kinds"].split(","))
    scope = {app.namespace, *filter(None, ann.get("applyset.kubernetes.io/additional-namespaces", "").split(","))}
    items = labelled(app, ns, kinds)
    want = desired_names(app)
    have = set()
    for o in items:
        kind, group = o["kind"], o["apiVersion"].rpartition("/")[0]
        gk = f"{kind}.{group}" if group else kind
        if gk not in recorded:
            out.append(f"orphan: {gk} {o['metadata']['name']} is not covered by the record ({sorted(recorded)})")
        if o["metadata"].get("namespace") not in scope:
            out.append(f"orphan: {gk} {o['metadata']['name']}: namespace {o['metadata'].get('namespace')} is not in "
                       f"the record's scope ({sorted(scope)})")
        if not _is_hook(o):
            have.add((kind, o["metadata"]["name"]))
    out += [f"orphan: {k} {n} carries the app's label but is not in Git" for k, n in sorted(have - want)]
    out += [f"missing: {k} {n}" for k, n in sorted(want - have)]
    hooks: dict[str, list[str]] = {}
    for o in items:
        if _is_hook(o):
            ident = (o["metadata"].get("labels") or {}).get("gitops.kubectl.dev/hook", o["metadata"]["name"])
            hooks.setdefault(ident, []).append(o["metadata"]["name"])
    out += [f"{len(names)} copies of one hook: {names}" for names in hooks.values() if len(names) > 1]
    dry = app.run("prune", "--dry-run", "-o", "json")
    if dry.returncode != 0:
        out.append(f"prune --dry-run exit {dry.returncode}: {dry.stderr[-400:]}")
    else:
        prune = json.loads(dry.stdout).get("prune") or {}
        out += [f"leftover hook: {h['kind']} {h['name']}: {h.get('note')}" for h in prune.get("leftoverHooks", [])]
        out += [f"prune would delete {d['kind']} {d['name']}" for d in prune.get("delete", [])]
    return out
