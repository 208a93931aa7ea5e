#!/usr/bin/env python3
"""Benchmark: `kubectl gitops sync` of 1,000 objects in 3 waves beside `kubectl apply --server-side`, in one run.

    python bench/sync.py                      # 1,000 objects in 10 namespaces, 3 rounds; writes bench/sync.md
    python bench/sync.py --objects 200 --rounds 1 --out /tmp/sync.md

The app (per namespace, 100 objects; --objects / 100 namespaces):
  wave 0   5 ServiceAccounts, 15 Secrets, 45 ConfigMaps, 5 Roles, 5 RoleBindings
  wave 1   17 Services (headless: the local cluster's service range holds 254 addresses)
  wave 2   8 Deployments (1 replica each: kwok makes their pods Running)

What runs, per round, each tool into its own fresh namespaces (the same manifests but for the namespace
names; the namespaces are created before timing):

  A1  kubectl gitops sync --no-wait ...                              first sync (health gating off)
  B1  kubectl apply --server-side -f rendered.yaml                   the same manifests, in one file
  C1  kubectl apply --server-side --validate=false -f rendered.yaml  for reference: kubectl without its
                                                                     client-side validation work
      (the cluster settles: every Deployment has its pod, untimed)
  A2, B2, C2  the same commands again, nothing changed

Rounds rotate which tool goes first. Reported: median (min-max) wall time of each, the ratios A1/B1 (target
<= 1.0) and B2/A2 (target >= 10), the same against C for reference, and the write requests each made (from
the apiserver's audit log). Needs the local control plane (hack/local-cluster; started when not up) and kubectl.
With --profile, one extra first sync and re-sync run under cProfile and the top functions are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, Audit, bench_env, cluster_state, cpu_model, git_commit, run, timed

RECORDS = "bench-sync-records"  # where the app records (Secrets) live
PER_NAMESPACE = 100


# --- the app ---------------------------------------------------------------------------------------------

def _meta(kind: str, api: str, name: str, ns: str, wave: int) -> str:
    return (f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"  labels:\n    app.kubernetes.io/part-of: bench\n"
            f"  annotations:\n    argocd.argoproj.io/sync-wave: \"{wave}\"\n")


def namespace_objects(ns: str) -> dict[str, list[str]]:
    """file name -> documents, 100 objects for one namespace."""
    files: dict[str, list[str]] = {"rbac.yaml": [], "config.yaml": [], "secrets.yaml": [], "services.yaml": [],
                                   "deployments.yaml": []}
    for i in range(5):
        files["rbac.yaml"].append(_meta("ServiceAccount", "v1", f"sa-{i}", ns, 0))
        files["rbac.yaml"].append(
            _meta("Role", "rbac.authorization.k8s.io/v1", f"reader-{i}", ns, 0)
            + "rules:\n- apiGroups: [\"\"]\n  resources: [configmaps, secrets]\n  verbs: [get, list, watch]\n")
        files["rbac.yaml"].append(
            _meta("RoleBinding", "rbac.authorization.k8s.io/v1", f"reader-{i}", ns, 0)
            + f"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: reader-{i}\n"
            + f"subjects:\n- kind: ServiceAccount\n  name: sa-{i}\n  namespace: {ns}\n")
    for i in range(15):
        files["secrets.yaml"].append(_meta("Secret", "v1", f"secret-{i:02d}", ns, 0)
                                     + f"type: Opaque\nstringData:\n  token: bench-token-{i}\n  index: \"{i}\"\n")
    for i in range(45):
        files["config.yaml"].append(_meta("ConfigMap", "v1", f"config-{i:02d}", ns, 0)
                                    + f"data:\n  index: \"{i}\"\n  greeting: hello\n  settings.yaml: |\n"
                                    + "    log_level: info\n    replicas: 3\n    feature_x: true\n")
    for i in range(17):
        files["services.yaml"].append(_meta("Service", "v1", f"svc-{i:02d}", ns, 1)
                                      + f"spec:\n  clusterIP: None\n  selector:\n    app: web-{i % 8}\n  ports:\n"
                                      + "  - name: http\n    port: 80\n    targetPort: 8080\n")
    for i in range(8):
        files["deployments.yaml"].append(
            _meta("Deployment", "apps/v1", f"web-{i}", ns, 2)
            + f"spec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web-{i}\n  template:\n"
            + f"    metadata:\n      labels:\n        app: web-{i}\n    spec:\n      serviceAccountName: sa-{i % 5}\n"
            + "      containers:\n      - name: web\n        image: example.com/web:1.0\n"
            + "        ports:\n        - containerPort: 8080\n"
            + "        resources:\n          requests:\n            cpu: 10m\n            memory: 16Mi\n")
    return files


def make_repo(where: Path, namespaces: list[str]) -> Path:
    """A git repository with the app: one folder per namespace, a file per kind."""
    repo = where / "repo"
    for ns in namespaces:
        for fname, docs in namespace_objects(ns).items():
            path = repo / "app" / ns / fname
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("---\n".join(docs))
    git_commit(repo, "bench app")
    return repo


def render_file(where: Path, namespaces: list[str]) -> Path:
    """The same manifests rendered into one file, for kubectl."""
    docs = [d for ns in namespaces for docs in namespace_objects(ns).values() for d in docs]
    path = where / "rendered.yaml"
    path.write_text("---\n".join(docs))
    return path


# --- measuring -----------------------------------------------------------------------------------------------

def result_line(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    if doc.get("type") != "result" or not doc.get("ok"):
        raise SystemExit(f"sync did not succeed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return doc


def settle(kubectl: str, env: dict[str, str], namespaces: list[str], timeout: float = 300) -> None:
    """Wait until the controllers have done their part (every Deployment has its pod), so the re-sync is timed
    on a quiet cluster. Not "Available": other work on the cluster may have used up the fake nodes' pod capacity,
    and a pending pod changes nothing for an apply."""
    deadline = time.monotonic() + timeout
    for ns in namespaces:
        left = max(1.0, deadline - time.monotonic())
        run([kubectl, "wait", "deployment", "--all", "-n", ns, "--for=jsonpath={.status.updatedReplicas}=1",
             f"--timeout={left:.0f}s"], env=env)


def cleanup(kubectl: str, env: dict[str, str], namespaces: list[str]) -> None:
    if namespaces:
        run([kubectl, "delete", "namespace", *namespaces, "--ignore-not-found", "--wait=true", "--timeout=300s"],
            env=env, check=False)


def profile_runs(env: dict[str, str], kubectl: str, tmp: Path, n_ns: int) -> str:
    """One first sync and one re-sync under cProfile (in fresh namespaces): the top functions by cumulative
    and by own time."""
    import io
    import pstats

    namespaces = [f"bench-sync-prof-{i}" for i in range(n_ns)]
    cleanup(kubectl, env, namespaces)
    for ns in namespaces:
        run([kubectl, "create", "namespace", ns], env=env)
    where = tmp / "profile"
    where.mkdir()
    repo = make_repo(where, namespaces)
    out = []
    try:
        for label in ("first sync", "re-sync"):
            prof = where / f"{label.replace(' ', '-')}.prof"
            cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "kubectl_gitops", "sync",
                   "--app", "bench-sync-prof", "--record-namespace", RECORDS, "--no-wait", "-o", "json"]
            penv = {**env, "PYTHONPATH": str(ROOT)}
            seconds, _ = timed(cmd, penv, repo)
            # Our functions by cumulative time (where the wall time goes), then anything by own time.
            for sort, restrict in (("cumulative", ("kubectl_gitops/(?!cli/main|__main__)", 22)), ("tottime", (12,))):
                buf = io.StringIO()
                pstats.Stats(str(prof), stream=buf).sort_stats(sort).print_stats(*restrict)
                table = buf.getvalue().strip().splitlines()
                start = next(i for i, line in enumerate(table) if line.lstrip().startswith("ncalls"))
                out.append(f"### {label} ({seconds:.2f} s under the profiler), by {sort}\n\n```\n"
                           + "\n".join(line.replace(str(ROOT) + "/", "") for line in table[start:]) + "\n```\n")
    finally:
        cleanup(kubectl, env, namespaces)
        run([kubectl, "delete", "secret", "kubectl-gitops.bench-sync-prof", "-n", RECORDS, "--ignore-not-found"],
            env=env, check=False)
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=1000, help="a multiple of 100 (100 per namespace)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=None, help="pass --concurrency to kubectl gitops sync")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "sync.md")
    ap.add_argument("--profile", action="store_true", help="also profile one first sync and one re-sync")
    args = ap.parse_args()
    n_ns = max(1, args.objects // PER_NAMESPACE)
    objects = n_ns * PER_NAMESPACE

    state = cluster_state()
    env = bench_env(state)
    audit = Audit(Path(state["audit_log"]))
    kubectl = shutil.which("kubectl", path=env["PATH"]) or "kubectl"
    if run([kubectl, "get", "namespace", RECORDS], env=env, check=False).returncode != 0:
        run([kubectl, "create", "namespace", RECORDS], env=env)

    times: dict[str, list[float]] = {f"{t}{n}": [] for n in "12" for t in "ABC"}
    writes: dict[str, list[int]] = {k: [] for k in times}
    dry_runs: list[int] = []
    extra = ["--concurrency", str(args.concurrency)] if args.concurrency else []
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    stamp = time.strftime("%H%M%S")
    try:
        for r in range(args.rounds):
            spaces = {t: [f"bench-sync-{stamp}-{r}-{t.lower()}{i}" for i in range(n_ns)] for t in "ABC"}
            every = [ns for t in "ABC" for ns in spaces[t]]
            for ns in every:
                run([kubectl, "create", "namespace", ns], env=env)
            where = tmp / f"round-{r}"
            where.mkdir()
            repo = make_repo(where, spaces["A"])
            (where / "b").mkdir()
            (where / "c").mkdir()
            cmd_a = ["kubectl", "gitops", "sync", "--app", f"bench-sync-{stamp}-{r}", "--record-namespace", RECORDS,
                     "--no-wait", *extra, "-o", "json"]
            cmd_b = [kubectl, "apply", "--server-side", "-f", str(render_file(where / "b", spaces["B"]))]
            cmd_c = [kubectl, "apply", "--server-side", "--validate=false", "-f",
                     str(render_file(where / "c", spaces["C"]))]
            order = [("A", cmd_a, "kubectl-gitops"), ("B", cmd_b, "kubectl/"), ("C", cmd_c, "kubectl/")]
            order = order[r % 3:] + order[:r % 3]
            try:
                for step in ("1", "2"):
                    for tool, cmd, agent in order:
                        audit.mark()
                        seconds, proc = timed(cmd, env, repo)
                        name = tool + step
                        times[name].append(seconds)
                        writes[name].append(audit.writes(agent, spaces[tool]).real)
                        if tool == "A":
                            result_line(proc)
                            events = [json.loads(line) for line in proc.stdout.splitlines()[:-1]]
                            if step == "1":
                                dry_runs.append(next((int(e.get("dry_runs", 0)) for e in events
                                                      if e.get("type") == "compare"), 0))
                    if step == "1":
                        settle(kubectl, env, every)
                print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), file=sys.stderr)
            finally:
                cleanup(kubectl, env, every)
                run([kubectl, "delete", "secret", f"kubectl-gitops.bench-sync-{stamp}-{r}", "-n", RECORDS,
                     "--ignore-not-found"], env=env, check=False)
        profile = profile_runs(env, kubectl, tmp, n_ns) if args.profile else ""
        server = json.loads(run([kubectl, "version", "-o", "json"], env=env).stdout)
        report = render(args, objects, n_ns, times, writes, dry_runs, server, cmd_a, extra, profile)
        args.out.write_text(report)
        print(report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def render(args: argparse.Namespace, objects: int, n_ns: int, times: dict[str, list[float]],
           writes: dict[str, list[int]], dry_runs: list[int], server: dict[str, Any],
           cmd_a: list[str], extra: list[str], profile: str) -> str:
    med = {k: statistics.median(v) for k, v in times.items()}

    def cell(name: str) -> str:
        v = times[name]
        return f"{med[name]:.2f} s ({min(v):.2f}-{max(v):.2f})"

    def w(name: str) -> str:
        return "/".join(str(x) for x in sorted(set(writes[name])))

    def speed(x: float) -> str:
        return f"{x:.1f}× faster" if x >= 1 else f"{1 / x:.1f}× slower"

    first_ratio, first_ratio_c = med["A1"] / med["B1"], med["A1"] / med["C1"]
    resync_speedup, resync_speedup_c = med["B2"] / med["A2"], med["C2"] / med["A2"]
    client = server.get("clientVersion", {}).get("gitVersion", "?")
    srv = server.get("serverVersion", {}).get("gitVersion", "?")
    verdict_first = "met" if first_ratio <= 1.0 else "MISSED"
    verdict_resync = "met" if resync_speedup >= 10 else "MISSED"
    ours_cmd = " ".join(["kubectl gitops sync --app <app> --record-namespace", RECORDS, "--no-wait", *extra, "-o json"])
    invocation = " ".join(["python bench/sync.py", "--objects", str(args.objects), "--rounds", str(args.rounds),
                           *extra])
    dry = "/".join(str(x) for x in sorted(set(dry_runs)))
    text = f"""# Benchmark: sync of {objects} objects in 3 waves vs `kubectl apply --server-side`

Written by `{invocation}` on {time.strftime('%Y-%m-%d', time.gmtime())}: {os.cpu_count()} CPUs
({cpu_model()}), Python {platform.python_version()}, kubectl {client}, API server {srv} (the local control plane
of `hack/local-cluster`: etcd, kube-apiserver, controller-manager and scheduler as local processes on the same
CPUs, kwok as the kubelet). Other work may share the machine; rounds rotate which tool goes first, and the
table gives the median (min-max) of {args.rounds} rounds.

The app: {objects} objects in {n_ns} namespaces, per namespace 5 ServiceAccounts, 15 Secrets, 45 ConfigMaps,
5 Roles, 5 RoleBindings (wave 0), 17 headless Services (wave 1), 8 Deployments of 1 replica (wave 2), in a git
repository (one folder per namespace, a file per kind). kubectl applies the same manifests rendered into one
file. Each tool writes into its own fresh namespaces (created before timing); health gating is off
(`--no-wait`), so every tool only applies. Between the first apply and the re-apply the cluster settles (every
Deployment has its pod).

| | A `kubectl gitops sync` | B `kubectl apply --server-side` | A vs B | target | C `... --validate=false` | A vs C |
|---|---|---|---|---|---|---|
| first sync, fresh namespaces | {cell("A1")} | {cell("B1")} | {first_ratio:.2f} (A/B) | ≤ 1: {verdict_first} \
| {cell("C1")} | {first_ratio_c:.2f} (A/C) |
| re-sync, nothing changed | {cell("A2")} | {cell("B2")} | {speed(resync_speedup)} | ≥ 10×: {verdict_resync} \
| {cell("C2")} | {speed(resync_speedup_c)} |
| write requests, first | {w("A1")} | {w("B1")} | | | {w("C1")} | |
| write requests, re-sync | {w("A2")} | {w("B2")} | | | {w("C2")} | |

Exact commands (A runs in the repository; `rendered.yaml` is the same manifests in one file):

```
A  {ours_cmd}
B  kubectl apply --server-side -f rendered.yaml
C  kubectl apply --server-side --validate=false -f rendered.yaml
```

How to read it:

* B is the comparison the issue sets: `kubectl apply --server-side -f` as users run it. C is the same with
  `--validate=false`, for reference: most of B's time is spent in kubectl itself, between its requests
  (`-v=6` shows the server answering each PATCH in a few milliseconds), on the work it does for `--validate`.
  Neither B nor C checks the whole set before writing: an object the server rejects stops kubectl with the
  objects before it already applied.
* A's first sync renders and validates the repository, reads live state (one LIST per kind and namespace),
  dry-runs every object on the server ({dry} server-side dry runs, so that a sync that would fail writes
  nothing), writes the app record, then applies wave by wave with server-side apply on a bounded pool
  (`--concurrency`, default 8): two requests per object, concurrently. kubectl sends one request per object,
  one after the other.
* A's re-sync compares the desired objects with the live ones from the same LISTs; unchanged objects are
  neither dry-run nor written. Its one write is the history entry in the app record (the Secret
  `kubectl-gitops.<app>` in `{RECORDS}`, outside the app's namespaces, so not counted in the table). Its time
  goes to start-up (importing the Kubernetes client), reading and parsing the YAML, the LISTs and the
  comparison (see the profile below, with `--profile`). kubectl re-applies every object (the server turns
  them into no-ops, so its writes are requests, not changes).
* Writes are non-dry-run create/update/patch/delete requests in each tool's namespaces, from the apiserver's
  audit log.
"""
    if profile:
        text += "\n## Profile\n\n" + profile
    return text


if __name__ == "__main__":
    sys.exit(main())
