#!/usr/bin/env python3
"""Benchmark: `kubectl gitops diff` beside `kubectl diff --server-side` on 1,000 objects, in one run.

    python bench/diff.py                        # 1,000 objects in 10 namespaces, 3 rounds; writes bench/diff.md
    python bench/diff.py --objects 200 --rounds 1 --out /tmp/diff.md

The repository: ``--objects`` manifests, one per file under ``manifests/<namespace>/``, spread over
``--namespaces`` namespaces, each holding its Namespace object and a realistic mix: 20% Deployments (probes,
resources, envFrom), 20% Services, 25% ConfigMaps, 15% Secrets, 10% ServiceAccounts, 5% Roles and 5%
RoleBindings. It is synced once with ``kubectl gitops sync`` (field manager kubectl-gitops), then a copy of
the repository gets ``--changed`` edits (Deployment images, ConfigMap values, a Service port, a Secret value).

What is timed, on the same files (rounds interleave every command, so a slow moment hits them all):

  A  kubectl gitops diff --app bench-diff --path manifests          (a) nothing changed, (b) 10 changed
  B  kubectl diff --server-side --force-conflicts -R -f manifests   the same, kubectl's default: one object at
                                                                     a time
  C  kubectl diff ... --concurrency 8                                kubectl's own parallel mode, for reference

B and C use kubectl's default field manager, so with ``--force-conflicts`` they show exactly the edits (the
fields another manager already owns with the same values do not differ). Every run's exit code and number
of objects shown are checked: 0 and none with nothing changed, 1 and ``--changed`` objects otherwise.

Reported: median, min and max wall time, the ratios B/A and C/A, and peak memory (the largest resident set
of the command's process tree, from ``wait4``). One more untimed run of each gives API requests (ours from
``-v``, kubectl's from ``-v=6``) and dry runs (the apiserver's audit log); three more give our time phase by
phase (``PHASES``); ``--profile`` adds a cProfile of ours with nothing changed.

Needs the local control plane (``hack/local-cluster``; started if it is not up) and kubectl on PATH. Run it with
the Python that has kubectl-gitops' dependencies (``.venv/bin/python bench/diff.py`` after ``hack/test``): that
interpreter runs ours.
Namespaces bench-diff and bench-diff-NN are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import ROOT, Audit, bench_env, cluster_state, cpu_model, git_commit, run

APP = "bench-diff"
RECORD_NS = "bench-diff"
NS_PREFIX = "bench-diff-"


def in_bench(namespace: str) -> bool:
    return namespace.startswith(NS_PREFIX)

# 20 slots: 4 Deployments, 4 Services, 5 ConfigMaps, 3 Secrets, 2 ServiceAccounts, 1 Role, 1 RoleBinding
PATTERN = ["Deployment", "Service", "ConfigMap", "Secret", "ServiceAccount",
           "Deployment", "Service", "ConfigMap", "ConfigMap", "Role",
           "Deployment", "Service", "ConfigMap", "Secret", "ServiceAccount",
           "Deployment", "Service", "ConfigMap", "Secret", "RoleBinding"]


# --- running things ---------------------------------------------------------------------------------------

@dataclass
class Measured:
    seconds: float
    max_rss_kb: int
    code: int
    stdout: str
    stderr: str


def measure(cmd: list[str], *, env: dict[str, str], cwd: Path) -> Measured:
    """Wall time and peak memory of one command: ``wait4`` reports the largest resident set of the process
    and of the descendants it waited for (what ``/usr/bin/time -v`` calls "Maximum resident set size")."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(seconds, usage.ru_maxrss, proc.returncode, out.read().decode(errors="replace"),
                        err.read().decode(errors="replace"))


# --- the repository ---------------------------------------------------------------------------------------

def _deployment(ns: str, name: str, image: str = "registry.example.com/shop/{name}:1.0.0") -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/part-of: shop
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
        app.kubernetes.io/part-of: shop
    spec:
      serviceAccountName: default
      containers:
        - name: app
          image: {image.format(name=name)}
          ports:
            - name: http
              containerPort: 8080
          envFrom:
            - configMapRef:
                name: {name}-config
                optional: true
          resources:
            requests:
              cpu: 10m
              memory: 32Mi
            limits:
              memory: 128Mi
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
"""


def _service(ns: str, name: str, port: int = 80) -> str:
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
  labels:
    app.kubernetes.io/name: {name}
spec:
  selector:
    app.kubernetes.io/name: {name}
  ports:
    - name: http
      port: {port}
      targetPort: http
"""


def _configmap(ns: str, name: str, level: str = "info") -> str:
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: {ns}
data:
  LOG_LEVEL: {level}
  FEATURE_FLAGS: "checkout,search"
  app.properties: |
    server.port=8080
    cache.ttl=300
    upstream.url=http://{name}.{ns}.svc.cluster.local
"""


def _secret(ns: str, name: str, value: str) -> str:
    encoded = base64.b64encode(value.encode()).decode()
    return f"""apiVersion: v1
kind: Secret
metadata:
  name: {name}
  namespace: {ns}
type: Opaque
data:
  username: {base64.b64encode(b"app").decode()}
  password: {encoded}
"""


def _service_account(ns: str, name: str) -> str:
    return f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  namespace: {ns}\n"


def _role(ns: str, name: str) -> str:
    return f"""apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {name}
  namespace: {ns}
rules:
  - apiGroups: [""]
    resources: [configmaps, secrets]
    verbs: [get, list, watch]
  - apiGroups: [apps]
    resources: [deployments]
    verbs: [get, list]
"""


def _role_binding(ns: str, name: str, role: str, sa: str) -> str:
    return f"""apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {name}
  namespace: {ns}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {role}
subjects:
  - kind: ServiceAccount
    name: {sa}
    namespace: {ns}
"""


def generate(manifests: Path, objects: int, namespaces: int) -> dict[str, int]:
    """Write the manifests; returns how many objects of each kind."""
    counts: dict[str, int] = {}
    per_ns = [objects // namespaces + (1 if i < objects % namespaces else 0) for i in range(namespaces)]
    for i, n in enumerate(per_ns):
        ns = f"{NS_PREFIX}{i:02d}"
        folder = manifests / ns
        folder.mkdir(parents=True)
        (folder / "namespace.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
        counts["Namespace"] = counts.get("Namespace", 0) + 1
        seen: dict[str, int] = {}
        for slot in range(n - 1):
            kind = PATTERN[slot % len(PATTERN)]
            k = seen.get(kind, 0)
            seen[kind] = k + 1
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "Deployment":
                text = _deployment(ns, f"svc-{k:03d}")
            elif kind == "Service":
                text = _service(ns, f"svc-{k:03d}")
            elif kind == "ConfigMap":
                text = _configmap(ns, f"svc-{k:03d}-config")
            elif kind == "Secret":
                text = _secret(ns, f"svc-{k:03d}-credentials", f"bench-password-{i}-{k}")
            elif kind == "ServiceAccount":
                text = _service_account(ns, f"worker-{k:03d}")
            elif kind == "Role":
                text = _role(ns, f"reader-{k:03d}")
            else:
                text = _role_binding(ns, f"reader-{k:03d}", f"reader-{k:03d}", "default")
            (folder / f"{kind.lower()}-{k:03d}.yaml").write_text(text)
    return counts


def edit(manifests: Path, changed: int) -> list[str]:
    """Change ``changed`` objects in place, spread over namespaces and kinds; returns their files."""
    files = sorted(manifests.glob("*/*.yaml"))
    by_kind: dict[str, list[Path]] = {}
    for f in files:
        by_kind.setdefault(f.name.split("-")[0], []).append(f)
    plan = ["deployment", "configmap", "deployment", "service", "configmap", "secret", "deployment", "configmap",
            "deployment", "configmap"]
    needed: dict[str, int] = {}
    for i in range(changed):
        needed[plan[i % len(plan)]] = needed.get(plan[i % len(plan)], 0) + 1
    done: list[str] = []
    for kind, n in needed.items():
        pool = by_kind[kind]
        if n > len(pool):
            raise SystemExit(f"cannot change {n} {kind}s: the repository has {len(pool)}")
        stride = len(pool) / n  # spread over the namespaces
        for j in range(n):
            f = pool[int(j * stride + stride / 2)]
            text = f.read_text()
            if kind == "deployment":
                new = re.sub(r":1\.0\.0$", ":1.1.0", text, flags=re.M)
            elif kind == "configmap":
                new = text.replace("LOG_LEVEL: info", "LOG_LEVEL: debug")
            elif kind == "service":
                new = text.replace("targetPort: http\n", "targetPort: 8080\n")
            else:
                new = re.sub(r"password: .*", "password: " + base64.b64encode(b"rotated").decode(), text)
            if new == text:
                raise SystemExit(f"benchmark bug: could not edit {f}")
            f.write_text(new)
            done.append(str(f))
    return done


# --- the benchmark ----------------------------------------------------------------------------------------

@dataclass
class Series:
    runs: list[Measured] = field(default_factory=list)

    @property
    def times(self) -> list[float]:
        return [r.seconds for r in self.runs]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def peak_mb(self) -> float:
        return max(r.max_rss_kb for r in self.runs) / 1024


def shown_objects(m: Measured) -> int:
    """How many objects a run showed as different."""
    return len(re.findall(r"^diff -u -N ", m.stdout, re.M))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--namespaces", type=int, default=10)
    ap.add_argument("--changed", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kubectl-concurrency", type=int, default=8, help="for the reference row C (0: skip C)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "diff.md")
    ap.add_argument("--profile", action="store_true", help="add a cProfile of ours (nothing changed) to the report")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark namespaces (faster reruns)")
    args = ap.parse_args()

    state = cluster_state()
    env = bench_env(state)
    kubectl = shutil.which("kubectl", path=env["PATH"]) or "kubectl"
    audit = Audit(Path(state["audit_log"]))

    tmp = Path(tempfile.mkdtemp(prefix="bench-diff-"))
    try:
        base = tmp / "synced"
        counts = generate(base / "manifests", args.objects, args.namespaces)
        git_commit(base, "bench app")
        changed = tmp / "changed"
        shutil.copytree(base, changed)
        edited = edit(changed / "manifests", args.changed)
        git_commit(changed, f"{args.changed} changes")

        wait_for_terminating_namespaces(kubectl, env)
        run([kubectl, "create", "namespace", RECORD_NS], env=env, check=False)
        print(f"syncing {args.objects} objects ...", file=sys.stderr)
        t0 = time.perf_counter()
        run(["kubectl", "gitops", "sync", "--app", APP, "--record-namespace", RECORD_NS, "--path", "manifests",
             "--adopt", "--wave-timeout", "10m"], env=env, cwd=base)
        t_sync = time.perf_counter() - t0
        print(f"  first sync {t_sync:.1f}s", file=sys.stderr)

        ours = ["kubectl", "gitops", "diff", "--app", APP, "--record-namespace", RECORD_NS, "--path", "manifests"]
        theirs = [kubectl, "diff", "--server-side", "--force-conflicts", "-R", "-f", "manifests"]
        tools: dict[str, list[str]] = {"A": ours, "B": theirs}
        if args.kubectl_concurrency:
            tools["C"] = [*theirs, f"--concurrency={args.kubectl_concurrency}"]
        scenarios = {"unchanged": (base, 0), "changed": (changed, args.changed)}
        series = {(s, t): Series() for s in scenarios for t in tools}

        # Warm-up (untimed): disk caches, the apiserver's watch caches, kubectl's discovery cache.
        for repo, _ in scenarios.values():
            for cmd in tools.values():
                measure(cmd, env=env, cwd=repo)

        load0 = os.getloadavg()
        for r in range(args.rounds):
            line = []
            for s, (repo, expected) in scenarios.items():
                for t, cmd in tools.items():
                    m = measure(cmd, env=env, cwd=repo)
                    want_code = 1 if expected else 0
                    if m.code != want_code or shown_objects(m) != expected:
                        raise SystemExit(f"{t} on {s}: exit {m.code} (want {want_code}), "
                                         f"{shown_objects(m)} objects shown (want {expected}):\n"
                                         f"{m.stdout[-2000:]}\n{m.stderr[-2000:]}")
                    series[(s, t)].runs.append(m)
                    line.append(f"{s[:2]}/{t} {m.seconds:.2f}s")
            print(f"  round {r + 1}: " + ", ".join(line), file=sys.stderr)
        load1 = os.getloadavg()

        # Counting runs (untimed): requests, dry runs, where our time goes.
        info: dict[str, dict[str, Any]] = {}
        for s, (repo, _) in scenarios.items():
            audit.mark()
            v = run([*ours, "-v"], env=env, cwd=repo, check=False)
            dry_a, real_a = audit.writes("kubectl-gitops", in_bench)
            audit.mark()
            vk = run([*theirs, "-v=6"], env=env, cwd=repo, check=False)
            dry_b, real_b = audit.writes("kubectl/", in_bench)
            found = re.search(r"(\d+) objects, (\d+) dry runs, (\d+) requests; (.*)", v.stderr)
            info[s] = {
                "ours_line": found.group(0) if found else "?",
                "ours_requests": int(found.group(3)) if found else -1,
                "ours_timings": found.group(4) if found else "?",
                "ours_dry": dry_a, "ours_real": real_a,
                "kubectl_requests": sum(1 for ln in vk.stderr.splitlines()
                                        if "round_trippers" in ln and "https://" in ln),
                "kubectl_dry": dry_b, "kubectl_real": real_b,
            }
        profile = profile_ours(ours, env, base) if args.profile else ""
        phase_times = phases(env, base)

        kversion = json.loads(run([kubectl, "version", "-o", "json"], env=env).stdout)
        report = render(args, counts, edited, t_sync, series, tools, info, kversion, (load0, load1), profile,
                        phase_times)
        args.out.write_text(report)
        print(report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep:
            names = [RECORD_NS] + [f"{NS_PREFIX}{i:02d}" for i in range(args.namespaces)]
            run([kubectl, "delete", "namespace", *names, "--ignore-not-found", "--wait=false"], env=env, check=False)
    return 0


def wait_for_terminating_namespaces(kubectl: str, env: dict[str, str]) -> None:
    """A previous run's namespaces may still be going away (deleted with --wait=false): wait until they are."""
    items = json.loads(run([kubectl, "get", "namespaces", "-o", "json"], env=env).stdout)["items"]
    going = [i["metadata"]["name"] for i in items
             if i["metadata"]["name"].startswith(NS_PREFIX[:-1]) and i["metadata"].get("deletionTimestamp")]
    if going:
        print(f"waiting for {len(going)} namespaces of an earlier run to be deleted ...", file=sys.stderr)
        run([kubectl, "wait", "--for=delete", "--timeout=600s", *(f"namespace/{n}" for n in going)], env=env,
            check=False)


PHASES = r"""
import json, sys, time
marks = [("python start-up", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import click, tabulate, yaml  # what the CLI imports before the command runs
from kubectl_gitops.cli import diff_view, main
from kubectl_gitops.ops import common
from kubectl_gitops.ops.app import pending_deletions, resolve_app
from kubectl_gitops.engine.plan import build_plan, plan_annotation_checks
from kubectl_gitops.secrets import decrypt_if_encrypted
from kubectl_gitops.settings import Settings
import dataclasses
from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.source.desired import load_desired
from kubectl_gitops.cluster.live import Target, fetch_live
mark("import our CLI, click, PyYAML")
s = Settings()
s.source = dataclasses.replace(s.source, path=sys.argv[1])
s.app = dataclasses.replace(s.app, name=sys.argv[2], record_namespace=sys.argv[3])
c = Cluster.connect(s.cluster, pool_size=8)
mark("connect: kubeconfig, TLS context")
d = c.discovery
mark("discovery (2 requests)")
des = load_desired(s.source, committed_only=False, default_namespace=c.namespace, resolve=d.scope,
                   transform=decrypt_if_encrypted, extra_checks=plan_annotation_checks)
mark("read the work tree, parse YAML, validate")
targets = [Target(m.key, d.lookup(m.api_version, m.kind)) for m in des.manifests]
listed = {}
live = fetch_live(c, targets, workers=8, listed=listed)
mark("read live objects (LISTs)")
loaded = common.Loaded(c, des, {t.key: t.rt for t in targets}, live, {}, listed)
app = resolve_app(s, des.checkout, c)
comp = common.compute_changes(loaded, common.CompareOptions(), labels=app.member_labels)
mark("compare (may_differ, classify, dry runs)")
dels = pending_deletions(c, app, {m.key for m in des.manifests}, prefetched=listed)
mark("deletions (the app record, members)")
build_plan(des.manifests, checked=True)
mark("plan order")
print(json.dumps([(n, t - marks[i][1]) for i, (n, t) in enumerate(marks[1:])]))
"""


def phases(env: dict[str, str], repo: Path, runs: int = 3) -> list[tuple[str, float]]:
    """Where one no-change diff spends its time, phase by phase (in-process, the median of ``runs``); the
    phases mirror ``ops.diff.run_diff``. Empty if the internals moved on (the report says so)."""
    results: list[list[tuple[str, float]]] = []
    for _ in range(runs):
        proc = run([sys.executable, "-c", PHASES, "manifests", APP, RECORD_NS], env={**env, "PYTHONPATH": str(ROOT)},
                   cwd=repo, check=False)
        try:
            results.append([(str(n), float(t)) for n, t in json.loads(proc.stdout.strip().splitlines()[-1])])
        except (ValueError, IndexError):
            print(f"phase breakdown unavailable: {proc.stderr[-800:]}", file=sys.stderr)
            return []
    return [(name, statistics.median(r[i][1] for r in results)) for i, (name, _) in enumerate(results[0])]


def profile_ours(ours: list[str], env: dict[str, str], repo: Path) -> str:
    """cProfile of one diff with nothing changed, run in this interpreter's python (top functions by
    cumulative time, the noise of the profiler itself included)."""
    out = repo.parent / "diff.prof"
    script = repo.parent / "run_cli.py"
    script.write_text("import sys\nfrom kubectl_gitops.cli.main import main\n"
                      "sys.argv = ['kubectl-gitops', *sys.argv[1:]]\nsys.exit(main())\n")
    m = measure([sys.executable, "-m", "cProfile", "-o", str(out), str(script), *ours[2:]],
                env={**env, "PYTHONPATH": str(ROOT)}, cwd=repo)
    if not out.exists():
        return f"(profiling failed: {m.stderr[-500:]})"
    import io
    import pstats

    buf = io.StringIO()
    stats = pstats.Stats(str(out), stream=buf)
    stats.sort_stats("cumulative").print_stats(25)
    text = buf.getvalue()
    keep = [ln for ln in text.splitlines() if ln.strip() and "diff.prof" not in ln
            and not ln.startswith(("   Ordered", "         "))]
    return "\n".join(ln.replace(str(ROOT) + "/", "").replace(str(script), "run_cli.py") for ln in keep)


def target_notes(a: float, b: float, phase_times: list[tuple[str, float]], objects: int, requests: int) -> str:
    """What missing the no-change target means here, from the measured phases (empty when it is met)."""
    if not phase_times or b / a >= 10:
        return ""
    t = dict(phase_times)
    setup = sum(v for n, v in phase_times if n.startswith(("import", "connect", "discovery")))
    render = t.get("read the work tree, parse YAML, validate", 0.0)
    live = t.get("read live objects (LISTs)", 0.0)
    rest = sum(v for _, v in phase_times) - setup - render - live
    return f"""
## The no-change target on this machine

To be 10× faster than B here, A would have to finish in {b / 10:.2f} s; it takes {a:.2f} s (median), with
{requests} requests in all and no dry run. From the phase table: {setup:.2f} s of start-up (imports, kubeconfig,
discovery; interpreter start and the plugin dispatch come on top), {render:.2f} s to read, parse and validate
{objects} files, {live:.2f} s for the LISTs, and {rest:.2f} s to compare, find deletions and order the plan.
With few objects start-up dominates and no ratio near 10× is possible; B pays ~{1000 * b / (2 * objects):.1f} ms
per request here, on loopback, where a real cluster would add a network round trip to each of its
{2 * objects} requests.
"""


def render(args: argparse.Namespace, counts: dict[str, int], edited: list[str], t_sync: float,
           series: dict[tuple[str, str], Series], tools: dict[str, list[str]], info: dict[str, dict[str, Any]],
           kversion: dict[str, Any], load: tuple[tuple[float, ...], tuple[float, ...]], profile: str,
           phase_times: list[tuple[str, float]]) -> str:
    def show(cmd: list[str]) -> str:
        return " ".join(c for c in cmd)

    label = {"A": "A `kubectl gitops diff`", "B": "B `kubectl diff --server-side`",
             "C": f"C `kubectl diff --server-side --concurrency={args.kubectl_concurrency}`"}
    target = {"unchanged": 10, "changed": 5}
    rows = []
    for s in ("unchanged", "changed"):
        a = series[(s, "A")]
        for t in tools:
            x = series[(s, t)]
            ratio = "1×" if t == "A" else f"**{x.median / a.median:.1f}×**"
            requests = info[s]["ours_requests"] if t == "A" else info[s]["kubectl_requests"] if t == "B" else "-"
            dry = info[s]["ours_dry"] if t == "A" else info[s]["kubectl_dry"] if t == "B" else "-"
            rows.append(f"| {s} | {label[t]} | {x.median:.2f} s | {min(x.times):.2f} s | {max(x.times):.2f} s "
                        f"| {ratio} | {x.peak_mb:.0f} MB | {requests} | {dry} |")
    verdict = []
    for s in ("unchanged", "changed"):
        speedup = series[(s, "B")].median / series[(s, "A")].median
        ok = "met" if speedup >= target[s] else "MISSED"
        verdict.append(f"* {s}: {speedup:.1f}× faster than `kubectl diff --server-side` "
                       f"(target ≥{target[s]}×: {ok})")
    kinds = ", ".join(f"{n} {k}s" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    client = kversion.get("clientVersion", {}).get("gitVersion", "?")
    server = kversion.get("serverVersion", {}).get("gitVersion", "?")
    edits = ", ".join(sorted({Path(e).name.split("-")[0] for e in edited}))
    total = sum(t for _, t in phase_times)
    phase_rows = "\n".join(f"| {n} | {t:.2f} s | {100 * t / total:.0f}% |" for n, t in phase_times) if total else \
        "| (unavailable: the internals this reads have changed) | | |"
    notes = target_notes(series[("unchanged", "A")].median, series[("unchanged", "B")].median, phase_times,
                         args.objects, info["unchanged"]["ours_requests"])
    prof = f"\n## Profile of A, nothing changed (cProfile, cumulative)\n\n```\n{profile}\n```\n" if profile else ""
    return f"""# Benchmark: `kubectl gitops diff` vs `kubectl diff --server-side`, {args.objects} objects

Written by `python bench/diff.py --objects {args.objects} --namespaces {args.namespaces} --changed {args.changed} \
--rounds {args.rounds}{' --profile' if args.profile else ''}` on {time.strftime('%Y-%m-%d', time.gmtime())}:
{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, kubectl {client}, API server {server}
(the local control plane of `hack/local-cluster`: etcd, kube-apiserver, controller-manager, scheduler and kwok
as local processes, on the same machine as the clients). Load average {load[0][0]:.1f} when the rounds began,
{load[1][0]:.1f} at the end (the benchmark's own API server, etcd and clients count in it).

The repository: {args.objects} objects in {args.namespaces} namespaces, one file each: {kinds}. Synced once by
`kubectl gitops sync` ({t_sync:.0f} s, including waiting for the Deployments to become available). "changed" is a
copy of the repository with {args.changed} edited objects ({edits}). Every timed run was checked: exit 0 and no
object shown when nothing changed, exit 1 and exactly {args.changed} objects shown otherwise. Rounds interleave
every command; one untimed warm-up run of each came first.

| scenario | command | median | min | max | B/A, C/A | peak memory | API requests | dry runs |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{chr(10).join(verdict)}

Exact commands, run in the repository (`manifests/` is its manifests folder), with KUBECONFIG set to the
local control plane's (`eval "$(hack/local-cluster up)"`):

```
A  {show(tools['A'])}
B  {show(tools['B'])}
{('C  ' + show(tools['C'])) if 'C' in tools else ''}
```

## Where our time goes

Nothing changed, one diff in-process, phase by phase (the median of 3 untimed runs; the phases of
`ops.diff.run_diff`, measured with `time.perf_counter`, {total:.2f} s in all; the `kubectl` plugin dispatch
adds ~0.06 s to a run from the shell):

| phase | time | share |
|---|---|---|
{phase_rows}

From `-v` of one untimed run: nothing changed: `{info['unchanged']['ours_line']}`;
{args.changed} changed: `{info['changed']['ours_line']}`.

How to read it:

* A reads live state with one LIST per type and namespace (Deployments, Services, ... in each of the
  {args.namespaces} namespaces, in parallel), decides from `managedFields` which objects may differ
  (`diff.may_differ`), and dry-runs only those, on a pool of 8. With nothing changed it makes no dry run at
  all; with {args.changed} changed it dry-runs exactly those.
* B is `kubectl diff --server-side` as users run it: for each object, one GET and one server-side apply
  dry run, one after the other ({args.objects} objects: ~{2 * args.objects} requests). C is the same with
  kubectl's own `--concurrency`: kubectl gets faster, but still makes a request pair per object.
* API requests of B come from `kubectl -v=6` request lines; dry runs of both from the apiserver's audit log
  (neither writes anything). Peak memory is the largest resident set of the process tree (`wait4`).
* Both tools use server-side apply dry runs for what may change, so their answers are the same objects;
  B uses kubectl's default field manager with `--force-conflicts` (without it, kubectl stops at the first
  field owned by our manager).
{notes}{prof}"""


if __name__ == "__main__":
    sys.exit(main())
