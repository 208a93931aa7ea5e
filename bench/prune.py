#!/usr/bin/env python3
"""Benchmark: a no-op prune of an app of 1,000 objects, beside kubectl's ApplySet prune, in one run.

    python bench/prune.py                  # 1,000 objects, 5 rounds; writes bench/prune.md
    python bench/prune.py --objects 200 --rounds 3 --out /tmp/prune.md

What runs (the same manifest files, one object per file, no namespace in them, so each tool puts them in its
own namespace with -n: kubectl's ApplySet refuses objects outside -n, and an object can be a member of
only one ApplySet):

  A  kubectl gitops prune --yes -n bench-gitops                  no-op prune (renders the repo, LISTs members)
  B  KUBECTL_APPLYSET=true kubectl apply --server-side --prune \\
       --applyset=kubectl-bench -n bench-kubectl -R -f <dir>     kubectl has no prune-only mode: it re-applies
  C  kubectl gitops sync --prune --yes -n bench-gitops           the like-for-like of B: apply (no-op) + prune

Rounds interleave A, B, C so a slower moment of the machine hits all three. Reported: median, min and max
wall time; API requests (ours from -o json, kubectl's from -v=6 request lines, in one extra untimed run)
and write requests seen in the apiserver's audit log.

Needs the local control plane (hack/local-cluster; started if it is not up) and kubectl on PATH.
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

NS_OURS = "bench-gitops"
NS_KUBECTL = "bench-kubectl"
APP = "bench"


def make_repo(where: Path, objects: int) -> Path:
    """A git repository with ``objects`` manifests: 60% ConfigMaps, 40% Secrets, one per file."""
    repo = where / "repo"
    (repo / "app").mkdir(parents=True)
    for i in range(objects):
        if i % 5 < 3:
            text = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{i:04d}\n  labels:\n    tier: bench\n"
                    f"data:\n  index: \"{i}\"\n  greeting: hello\n")
        else:
            text = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-{i:04d}\ntype: Opaque\n"
                    f"stringData:\n  index: \"{i}\"\n")
        (repo / "app" / f"obj-{i:04d}.yaml").write_text(text)
    git_commit(repo, "bench app")
    return repo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "prune.md")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark namespaces")
    args = ap.parse_args()

    state = cluster_state()
    env = bench_env(state)
    kenv = {**env, "KUBECTL_APPLYSET": "true"}
    audit = Audit(Path(state["audit_log"]))
    kubectl = shutil.which("kubectl", path=env["PATH"]) or "kubectl"

    for ns in (NS_OURS, NS_KUBECTL):
        run([kubectl, "delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=180s"], env=env)
        run([kubectl, "create", "namespace", ns], env=env)

    tmp = Path(tempfile.mkdtemp(prefix="bench-prune-"))
    try:
        repo = make_repo(tmp, args.objects)
        ours_common = ["--app", APP, "-n", NS_OURS, "--path", "app"]
        cmd_a = ["kubectl", "gitops", "prune", *ours_common, "--yes", "-o", "json"]
        cmd_b = [kubectl, "apply", "--server-side", "--prune", "--applyset=kubectl-bench", "-n", NS_KUBECTL,
                 "-R", "-f", str(repo / "app")]
        cmd_c = ["kubectl", "gitops", "sync", *ours_common, "--prune", "--yes", "-o", "json"]

        print(f"setting up {args.objects} objects in {NS_OURS} and {NS_KUBECTL} ...", file=sys.stderr)
        t_sync, _ = timed(["kubectl", "gitops", "sync", *ours_common], env, repo)
        t_kapply, _ = timed(cmd_b, kenv, repo)
        print(f"  first sync {t_sync:.1f}s, first kubectl apply {t_kapply:.1f}s", file=sys.stderr)

        load = os.getloadavg()
        times: dict[str, list[float]] = {"A": [], "B": [], "C": []}
        last: dict[str, subprocess.CompletedProcess[str]] = {}
        for r in range(args.rounds):
            for name, cmd, e in (("A", cmd_a, env), ("B", cmd_b, kenv), ("C", cmd_c, env)):
                seconds, proc = timed(cmd, e, repo)
                times[name].append(seconds)
                last[name] = proc
            print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), file=sys.stderr)

        # Counting runs (untimed): requests and writes of each.
        doc_a = json.loads(last["A"].stdout)
        audit.mark()
        run(cmd_a, env=env, cwd=repo)
        writes_a = audit.writes("kubectl-gitops", [NS_OURS]).real
        audit.mark()
        verbose = run([*cmd_b, "-v=6"], env=kenv, cwd=repo)
        writes_b = audit.writes("kubectl/", [NS_KUBECTL]).real
        requests_b = sum(1 for line in verbose.stderr.splitlines() if "round_trippers" in line and "https://" in line)
        audit.mark()
        proc_c = run(cmd_c, env=env, cwd=repo)
        writes_c = audit.writes("kubectl-gitops", [NS_OURS]).real
        result_c = [json.loads(line) for line in proc_c.stdout.splitlines() if line.startswith("{")][-1]
        pruned_b = [line for line in last["B"].stdout.splitlines() if "pruned" in line]
        assert not pruned_b, f"kubectl pruned something in a no-op run: {pruned_b}"
        assert doc_a["prune"]["deleted"] == [], "our no-op prune deleted something"

        server = json.loads(run([kubectl, "version", "-o", "json"], env=env).stdout)
        report = render(args, times, doc_a, requests_b, writes_a, writes_b, writes_c, result_c, server,
                        t_sync, t_kapply, cmd_a, cmd_b, cmd_c, load)
        args.out.write_text(report)
        print(report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep:
            for ns in (NS_OURS, NS_KUBECTL):
                run([kubectl, "delete", "namespace", ns, "--ignore-not-found", "--wait=false"], env=env, check=False)
    return 0


def render(args: argparse.Namespace, times: dict[str, list[float]], doc_a: dict[str, Any], requests_b: int,
           writes_a: int, writes_b: int, writes_c: int, result_c: dict[str, Any], server: dict[str, Any],
           t_sync: float, t_kapply: float, cmd_a: list[str], cmd_b: list[str], cmd_c: list[str],
           load: tuple[float, float, float]) -> str:
    def row(label: str, name: str, requests: str, writes: int) -> str:
        v = times[name]
        return (f"| {label} | {statistics.median(v):.2f} s | {min(v):.2f} s | {max(v):.2f} s | {requests} "
                f"| {writes} |")

    def show(cmd: list[str]) -> str:
        return " ".join("<repo>/app" if c.endswith("/app") and c.startswith("/") else c for c in cmd)

    lists = doc_a["prune"]["lists"]
    client = server.get("clientVersion", {}).get("gitVersion", "?")
    srv = server.get("serverVersion", {}).get("gitVersion", "?")
    return f"""# Benchmark: no-op prune of {args.objects} objects

Written by `python bench/prune.py --objects {args.objects} --rounds {args.rounds}` on
{time.strftime('%Y-%m-%d', time.gmtime())}: {os.cpu_count()} CPUs ({cpu_model()}), Python
{platform.python_version()}, kubectl {client}, API server {srv} (the local control plane of
`hack/local-cluster`: etcd, kube-apiserver, controller-manager and scheduler as local processes).

The app: {args.objects} objects ({args.objects * 3 // 5} ConfigMaps, {args.objects - args.objects * 3 // 5} Secrets),
one per file in a git repository, synced once before timing (first sync {t_sync:.1f} s; first kubectl apply
{t_kapply:.1f} s). Each tool has its own namespace holding the same objects: kubectl's ApplySet refuses objects
outside `-n`, and an object can belong to one ApplySet only. Rounds interleave A, B and C. The machine
was shared with other work: load average {load[0]:.1f} when the rounds began, {os.getloadavg()[0]:.1f} at the end.

| command (no-op) | median | min | max | API requests | writes |
|---|---|---|---|---|---|
{row("A `kubectl gitops prune`", "A", f"{doc_a['requests']} ({lists} LISTs)", writes_a)}
{row("B `kubectl apply --prune --applyset` (KUBECTL_APPLYSET=true)", "B", str(requests_b), writes_b)}
{row("C `kubectl gitops sync --prune`", "C", "-", writes_c)}

Exact commands (run in the repository; `<repo>/app` is its manifests folder):

```
A  {show(cmd_a)}
B  KUBECTL_APPLYSET=true {show(cmd_b)}
C  {show(cmd_c)}
```

How to read it:

* A is what the issue asks for: a prune with nothing to delete. It renders and validates the repository,
  reads the record (one GET) and lists the members: one LIST per group-kind and namespace recorded in the
  parent ({lists} here: ConfigMap and Secret in one namespace; a LIST of more than 500 objects is fetched
  in pages of 500, each page a request), plus two discovery requests. It writes nothing.
* kubectl has no prune-only mode, so B also re-applies every object (one server-side apply PATCH each,
  which the server turns into no-ops) before its own ApplySet prune. C is our equivalent of B: a full
  no-op sync (objects are compared from one LIST per kind and namespace and are not written at all,
  see `ops/common.py`) followed by the same prune. C's one write is the history entry in the record.
* API requests of B come from `kubectl -v=6` request lines, in one extra untimed run; writes from the
  apiserver's audit log (non-dry-run create/update/patch/delete) of one extra untimed run each.
"""


if __name__ == "__main__":
    sys.exit(main())
