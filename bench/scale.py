#!/usr/bin/env python3
"""Benchmark: ours, kubectl and kapp side by side on one app, at 0, 20 and 50 ms per API request.

    python bench/scale.py                                   # 10,000 objects in 100 namespaces, 0 and 20 ms
    python bench/scale.py --objects 300 --namespaces 3 --latency 0,20,50 --rounds 3 --out bench/small.md
    KUBECTL_GITOPS_CLUSTER_DIR=/tmp/scale-cluster python bench/scale.py ...   # on a control plane of its own

The app: ``--objects`` objects over ``--namespaces`` namespaces, per 100 objects 40 ConfigMaps, 20 Secrets
written with ``stringData``, 20 Services, 10 Deployments (1 replica) and 10 ServiceAccounts, one file per kind
and namespace, every object labelled ``bench-scale/app=<tool's app>``. Each tool gets the same files with its
own namespaces (created before timing) and, at each latency, fresh ones. Every step, for each tool:

  step          ours (kubectl gitops)          kubectl                                  kapp
  first sync    sync --no-wait                 apply --server-side -R -f manifests      deploy --wait=false -y
  re-sync       sync --no-wait                 apply --server-side -R -f manifests      deploy --wait=false -y
  diff, none    diff                           diff --server-side --force-conflicts     deploy --diff-run
  diff, 10      diff (10 ConfigMaps edited)    diff --server-side --force-conflicts     deploy --diff-run
  no-op prune   prune --yes                    (none, see below)                        deploy (prunes always)

No tool waits for health (ours ``--no-wait``, kapp ``--wait=false``; kubectl never waits). Between the first
sync and the re-sync the cluster settles (every Deployment has its pod). kubectl's diffs run on the objects
ours synced (with ``--force-conflicts``, fields ours owns with the same values do not differ: exit 0 when
nothing changed), so ``--skip kubectl:first,kubectl:resync`` still measures them. kubectl cannot prune this app: its
label-selected ``--prune`` refuses objects written by server-side apply ("alpha"), its ApplySet prune refuses
an app in more than one namespace, and it has no prune-only mode. kapp prunes on every deploy.

Every command runs through the latency proxy (``bench/latency.py``): at 0 ms too, so requests are counted the
same way for every tool and the proxy's own cost (~1 ms a request) is in every column. Reported per step:
median wall time (min-max over ``--rounds``), API requests and peak memory (largest resident set of the
process tree, from ``wait4``), and the ratios kubectl/ours and kapp/ours. Every run's exit code is checked.

Needs the local control plane (``hack/local-cluster``; started if not up), kubectl on PATH and kapp
(``hack/tools.sh path kapp``). Namespaces ``bs-<latency>-<tool>-NN`` and the records' ``bench-scale`` are
deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import ROOT, bench_env, cluster_state, cpu_model, git_commit, run
from latency import Proxy, through

RECORDS = "bench-scale"
TOOLS = ("ours", "kubectl", "kapp")
STEPS = ("first", "resync", "diff0", "diffN", "prune")
STEP_NAMES = {"first": "first sync", "resync": "re-sync, nothing changed", "diff0": "diff, nothing changed",
              "diffN": "diff, {n} changed", "prune": "no-op prune"}
LABEL = "bench-scale/app"
KINDS_PER_100 = {"ConfigMap": 40, "Secret": 20, "Service": 20, "Deployment": 10, "ServiceAccount": 10}


@dataclass
class Measured:
    seconds: float
    max_rss_kb: int
    requests: int
    dry_runs: int
    code: int
    out: str


def measure(cmd: list[str], env: dict[str, str], cwd: Path, proxy: Proxy, ok: tuple[int, ...]) -> Measured:
    """Wall time, peak memory (``wait4``: the largest resident set of the process and its children) and the
    API requests the proxy forwarded while it ran."""
    proxy.reset()
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if code not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {code} (expected {ok}):\n{text[-4000:]}")
    dry = sum(1 for m, t in proxy.requests() if m in ("PATCH", "POST", "PUT") and "dryRun=All" in t)
    return Measured(seconds, usage.ru_maxrss, proxy.count(), dry, code, text)


# --- the app ----------------------------------------------------------------------------------------------

def _objects(kind: str, ns: str, n: int, app: str, changed: frozenset[str]) -> str:
    docs = []
    for i in range(n):
        name = f"{kind.lower()}-{i:03}"
        meta = f"metadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    {LABEL}: {app}\n    tier: t{i % 4}\n"
        if kind == "ConfigMap":
            value = "edited" if f"{ns}/{name}" in changed else f"v{i}"
            docs.append(f"apiVersion: v1\nkind: ConfigMap\n{meta}data:\n  value: {value}\n"
                        f"  settings.yaml: |\n    log: info\n    workers: {i % 8 + 1}\n")
        elif kind == "Secret":
            docs.append(f"apiVersion: v1\nkind: Secret\n{meta}type: Opaque\nstringData:\n"
                        f"  username: user-{i}\n  password: not-a-real-password-{i}\n")
        elif kind == "Service":
            docs.append(f"apiVersion: v1\nkind: Service\n{meta}spec:\n  selector:\n    app: d{i % 10}\n"
                        f"  ports:\n    - name: http\n      port: 80\n      targetPort: 8080\n")
        elif kind == "ServiceAccount":
            docs.append(f"apiVersion: v1\nkind: ServiceAccount\n{meta}")
        elif kind == "Deployment":
            docs.append(f"""apiVersion: apps/v1
kind: Deployment
{meta}spec:
  replicas: 1
  selector:
    matchLabels:
      app: d{i}
  template:
    metadata:
      labels:
        app: d{i}
    spec:
      containers:
        - name: app
          image: registry.example.com/shop/d{i}:1.0.0
          ports:
            - containerPort: 8080
          resources:
            requests:
              cpu: 10m
              memory: 16Mi
""")
    return "---\n".join(docs)


def write_app(folder: Path, namespaces: list[str], per_ns: int, app: str,
              changed: frozenset[str] = frozenset()) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for ns in namespaces:
        (folder / ns).mkdir(parents=True)
        for kind, per100 in KINDS_PER_100.items():
            n = max(1, per_ns * per100 // 100)
            (folder / ns / f"{kind.lower()}s.yaml").write_text(_objects(kind, ns, n, app, changed))


def changed_set(namespaces: list[str], n: int) -> frozenset[str]:
    """``n`` ConfigMaps spread over the namespaces."""
    return frozenset(f"{namespaces[i * len(namespaces) // n]}/configmap-{i:03}" for i in range(n))


# --- the tools ----------------------------------------------------------------------------------------------

def commands(tool: str, app: str, kapp: str, kubectl: str) -> dict[str, tuple[list[str], tuple[int, ...]]]:
    """step -> (command run in the tool's folder, accepted exit codes)."""
    if tool == "ours":
        sync = ["kubectl", "gitops", "sync", "--app", app, "--record-namespace", RECORDS, "--path", "manifests",
                "--no-wait"]
        return {"first": (sync, (0,)), "resync": (sync, (0,)),
                "diff0": (["kubectl", "gitops", "diff", "--app", app, "--record-namespace", RECORDS, "--path",
                           "manifests"], (0,)),
                "diffN": (["kubectl", "gitops", "diff", "--app", app, "--record-namespace", RECORDS, "--path",
                           "manifests"], (1,)),
                "prune": (["kubectl", "gitops", "prune", "--app", app, "--record-namespace", RECORDS, "--path",
                           "manifests", "--yes"], (0,))}
    if tool == "kubectl":
        apply = [kubectl, "apply", "--server-side", "-R", "-f", "manifests"]
        diff = [kubectl, "diff", "--server-side", "--force-conflicts", "-R", "-f", "manifests"]
        # No prune: label-selected --prune refuses objects written by server-side apply ("alpha"), and the
        # ApplySet prune refuses an app in more than one namespace (-n); kubectl has no prune-only mode either.
        return {"first": (apply, (0,)), "resync": (apply, (0,)), "diff0": (diff, (0,)), "diffN": (diff, (1,))}
    deploy = [kapp, "deploy", "-a", app, "-n", RECORDS, "-f", "manifests", "--tty=false"]
    return {"first": ([*deploy, "--wait=false", "-y"], (0,)), "resync": ([*deploy, "--wait=false", "-y"], (0,)),
            "diff0": ([*deploy, "--diff-run"], (0,)), "diffN": ([*deploy, "--diff-run"], (0,)),
            "prune": ([*deploy, "--wait=false", "-y"], (0,))}


def settle(kubectl: str, env: dict[str, str], namespaces: list[str]) -> None:
    """Every Deployment has its pod (kwok makes it ready), so re-syncs are timed on a quiet cluster."""
    for ns in namespaces:
        run([kubectl, "wait", "deployment", "--all", "-n", ns, "--for=jsonpath={.status.updatedReplicas}=1",
             "--timeout=600s"], env=env)


def delete_namespaces(kubectl: str, env: dict[str, str], namespaces: list[str]) -> None:
    for i in range(0, len(namespaces), 50):
        run([kubectl, "delete", "namespace", *namespaces[i:i + 50], "--ignore-not-found", "--wait=true",
             "--timeout=900s"], env=env, check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--namespaces", type=int, default=100)
    ap.add_argument("--latency", default="0,20", help="milliseconds per request, comma-separated")
    ap.add_argument("--rounds", type=int, default=1, help="timed repetitions of every step but the first sync")
    ap.add_argument("--changed", type=int, default=10)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--skip", default="", help="steps not run, e.g. kubectl:first@20,kubectl:resync@20 "
                    "(tool:step[@ms]; steps: first resync diff0 diffN prune)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "scale.md")
    ap.add_argument("--keep", action="store_true", help="keep the namespaces")
    args = ap.parse_args()
    latencies = [float(x) for x in args.latency.split(",")]
    tools = [t for t in args.tools.split(",") if t]
    per_ns = args.objects // args.namespaces

    state = cluster_state()
    env = bench_env(state)
    kubectl = shutil.which("kubectl", path=env["PATH"]) or "kubectl"
    kapp = run([str(ROOT / "hack" / "tools.sh"), "path", "kapp"]).stdout.strip() if "kapp" in tools else "kapp"
    if run([kubectl, "get", "namespace", RECORDS], env=env, check=False).returncode != 0:
        run([kubectl, "create", "namespace", RECORDS], env=env)
    results: dict[tuple[float, str, str], list[Measured]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    stamp = time.strftime("%H%M%S")
    objects = args.namespaces * sum(max(1, per_ns * p // 100) for p in KINDS_PER_100.values())
    server = run([kubectl, "version"], env=env).stdout.strip().replace("\n", "; ")
    kapp_version = run([kapp, "version"], env=env).stdout.splitlines()[0] if "kapp" in tools else "-"

    def write_report(partial: bool) -> str:
        """The report so far: written after every step, so an interrupted run leaves what it measured."""
        report = render(args, latencies, tools, objects, results, server, kapp_version)
        if partial:
            report += "\n(partial: the run was still going or was interrupted)\n"
        args.out.write_text(report)
        return report

    args.on_result = lambda: write_report(True)
    try:
        for ms in latencies:
            with through(state["kubeconfig"], ms, tmp / f"proxy-{ms:g}") as proxy:
                penv = {**env, "KUBECONFIG": proxy.kubeconfig}
                spaces = {t: [f"bs{stamp}-{ms:g}-{t}-{i:02}" for i in range(args.namespaces)] for t in tools}
                try:
                    run_latency(args, ms, tools, spaces, per_ns, penv, env, proxy, kubectl, kapp,
                                tmp / f"ms-{ms:g}", f"bs{stamp}-{ms:g}", results)
                finally:
                    if not args.keep:
                        delete_namespaces(kubectl, env, [ns for t in tools for ns in spaces[t]])
        print(write_report(False))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep:
            run([kubectl, "delete", "namespace", RECORDS, "--ignore-not-found", "--wait=false"], env=env, check=False)
    return 0


def run_latency(args: argparse.Namespace, ms: float, tools: list[str], spaces: dict[str, list[str]], per_ns: int,
                penv: dict[str, str], env: dict[str, str], proxy: Proxy, kubectl: str, kapp: str, where: Path,
                app_prefix: str, results: dict[tuple[float, str, str], list[Measured]]) -> None:
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}

    def skipped(t: str, name: str) -> bool:
        return f"{t}:{name}" in skip or f"{t}:{name}@{ms:g}" in skip

    def home(t: str, name: str) -> str:
        """Whose folder, namespaces and app a step runs on: kubectl diffs ours' objects (with --force-conflicts
        the fields ours owns with the same values do not differ), so its diffs need no apply of its own."""
        return "ours" if t == "kubectl" and name.startswith("diff") and "ours" in tools else t

    folders, cmds = {}, {}
    for t in tools:
        if t == "kubectl" and "ours" in tools and skipped(t, "first") and skipped(t, "resync"):
            spaces[t] = []  # nothing of its own to apply
        for ns in spaces[t]:
            run([kubectl, "create", "namespace", ns], env=env)
        app = f"{app_prefix}-{t}"
        folders[t] = where / t
        write_app(folders[t] / "manifests", spaces[t], per_ns, app)
        if t == "ours":
            git_commit(folders[t], "app")
        cmds[t] = commands(t, app, kapp, kubectl)

    def step(t: str, name: str) -> None:
        if name not in cmds[t] or skipped(t, name):
            return
        h = home(t, name)
        if name == "diffN":
            write_app(folders[h] / "manifests", spaces[h], per_ns, f"{app_prefix}-{h}",
                      changed_set(spaces[h], args.changed))
        cmd, ok = cmds[t][name]
        try:
            m = measure(cmd, penv, folders[h], proxy, ok)
        finally:
            if name == "diffN":
                write_app(folders[h] / "manifests", spaces[h], per_ns, f"{app_prefix}-{h}")
        results.setdefault((ms, t, name), []).append(m)
        args.on_result()
        print(f"[{ms:g} ms] {t:8} {name:7} {m.seconds:8.2f} s {m.requests:6} requests "
              f"{m.max_rss_kb / 1024:6.0f} MB", file=sys.stderr, flush=True)

    for t in tools:
        step(t, "first")
    for t in tools:
        settle(kubectl, env, spaces[t])
    for r in range(args.rounds):
        order = tools[r % len(tools):] + tools[:r % len(tools)]
        for name in ("resync", "diff0", "diffN", "prune"):
            for t in order:
                step(t, name)


def render(args: argparse.Namespace, latencies: list[float], tools: list[str], objects: int,
           results: dict[tuple[float, str, str], list[Measured]], server: str, kapp_version: str) -> str:
    def med(ms: float, t: str, s: str) -> float | None:
        got = results.get((ms, t, s))
        return statistics.median(m.seconds for m in got) if got else None

    def cell(ms: float, t: str, s: str) -> str:
        got = results.get((ms, t, s))
        if not got:
            return missing(t, s)
        secs = [m.seconds for m in got]
        spread = f" ({min(secs):.2f}-{max(secs):.2f})" if len(secs) > 1 else ""
        return (f"{statistics.median(secs):.2f} s{spread}<br>{max(m.requests for m in got)} req, "
                f"{max(m.max_rss_kb for m in got) / 1024:.0f} MB")

    def ratio(ms: float, t: str, s: str) -> str:
        ours, other = med(ms, "ours", s), med(ms, t, s)
        return f"{other / ours:.1f}×" if ours and other else "-"

    def missing(t: str, s: str) -> str:
        return "n/a (see above)" if t == "kubectl" and s == "prune" else "not run"

    invocation = " ".join(["python bench/scale.py", "--objects", str(args.objects), "--namespaces",
                           str(args.namespaces), "--latency", args.latency, "--rounds", str(args.rounds),
                           "--changed", str(args.changed), "--tools", args.tools,
                           *(["--skip", args.skip] if args.skip else [])])
    load = os.getloadavg()[0]
    others = [t for t in tools if t != "ours"]
    head = "| step | " + " | ".join(tools) + "".join(f" | {t}/ours" for t in others) + " |"
    sep = "|---" * (1 + len(tools) + len(others)) + "|"
    text = [f"""# Benchmark: {objects} objects in {args.namespaces} namespaces — ours, kubectl and kapp

Written by `{invocation}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} CPUs
({cpu_model()}), Python {platform.python_version()}, {server}, {kapp_version}; load average {load:.1f} at the end
(other work shares the machine). The control plane is `hack/local-cluster` (etcd, kube-apiserver,
controller-manager, scheduler, kwok on the same CPUs); every command goes through `bench/latency.py`'s
proxy, which adds the stated delay to each request (and once to each new connection).

Each cell: median wall time (min-max over {args.rounds} rounds; the first sync runs once), the API requests
the proxy forwarded and the peak memory of the command's process tree. Ratios: the other tool's median over
ours (above 1: ours is faster). Commands (each tool in its own folder, `manifests/` the app, each in its own
namespaces; `<app>` is the tool's app name):

```
ours     kubectl gitops sync --app <app> --record-namespace {RECORDS} --path manifests --no-wait
         kubectl gitops diff --app <app> --record-namespace {RECORDS} --path manifests
         kubectl gitops prune --app <app> --record-namespace {RECORDS} --path manifests --yes
kubectl  kubectl apply --server-side -R -f manifests
         kubectl diff --server-side --force-conflicts -R -f manifests
kapp     kapp deploy -a <app> -n {RECORDS} -f manifests --tty=false --wait=false -y   (first, re-sync, prune)
         kapp deploy -a <app> -n {RECORDS} -f manifests --tty=false --diff-run
```

No tool waits for health (ours `--no-wait`, kapp `--wait=false`). kubectl's diffs run on the objects ours
synced (with `--force-conflicts`, fields ours owns with the same values do not differ); its applies go to
namespaces of its own. kubectl cannot prune this app: label-selected `--prune` refuses objects written by
server-side apply, its ApplySet prune refuses an app in more than one namespace, and it has no prune-only
mode. kapp prunes on every `deploy`, so its no-op prune is a deploy with nothing changed. "not run": left out
with `--skip` (to keep the run within the time available).
"""]
    for ms in latencies:
        text.append(f"\n## {ms:g} ms per request\n\n{head}\n{sep}")
        for s in STEPS:
            label = STEP_NAMES[s].format(n=args.changed)
            text.append(f"| {label} | " + " | ".join(cell(ms, t, s) for t in tools)
                        + "".join(f" | {ratio(ms, t, s)}" for t in others) + " |")
        dry = {s: results[(ms, "ours", s)][0].dry_runs for s in ("diff0", "diffN") if (ms, "ours", s) in results}
        if dry:
            text.append("\nOur server-side dry runs: " + ", ".join(
                f"{STEP_NAMES[s].format(n=args.changed)}: {n}" for s, n in dry.items()) + ".")
    return "\n".join(text) + "\n"


if __name__ == "__main__":
    sys.exit(main())
