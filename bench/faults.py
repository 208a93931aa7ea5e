"""Syncs of a ~146-object app through the seeded fault proxy (issue 12): 20 seeds at 5-30% faults (429,
500/503/504, resets before and after the server acted, cut LIST bodies), each a ``sync --prune --yes`` with a
change and a removal, then one 8 s outage of the API server in the middle of a sync. Every faulty run must exit
0, 4 or 5 with one clear ``error:`` line (no traceback); after it, one clean sync without the proxy must converge
with the checks of tests/faults/recovery.py (as bench/kills.py): ``diff`` exit 0, every object carrying the
app's label in Git and in the record's scope, nothing missing, no leftover or duplicate hooks.

    python bench/faults.py [--seeds 20] [--rates 0.05,0.10,0.20,0.30] [--objects 146] [--outage 8]

The app (``write_app``): 3 namespaces, each with ConfigMaps and Secrets in waves 0 and 1, two Deployments (wave
1), two Services and three ``extra-`` ConfigMaps of which every commit drops one (so every run prunes one per
namespace and re-creates the one dropped before); a PreSync Job hook and a generateName PostSync Job hook in the
first namespace. ``--objects`` counts the objects in Git at every commit. Seeds are spread over the rates in
blocks. Prints one line per run and a summary; results are in bench/faults.md.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# tests/faults is a namespace package, and a namespace package loses to a module of the same name anywhere on
# sys.path: this file, through the script's own folder. So the tests' helpers are imported without that folder.
sys.path[:] = [str(ROOT / "tests"), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

from cluster_helpers import kubectl  # noqa: E402
from faults.proxy import FaultProxy, Faults  # noqa: E402
from faults.recovery import KINDS, env, problems, recover, sync_argv  # noqa: E402
from sync_helpers import SyncApp, _meta, argo, configmap, deployment, job, service  # noqa: E402

sys.path.append(str(HERE))
from _common import cluster_state, cpu_model  # noqa: E402

LEASE_SECONDS = "5"  # a failed run that could not release its Lease: the next one waits for it (--lock-timeout)
CHECK_KINDS = KINDS + ",secrets"


def secret(name: str, namespace: str, annotations: dict[str, str] | None = None, *, value: str = "1") -> str:
    return ("apiVersion: v1\nkind: Secret\n" + _meta(name, namespace, annotations) + "type: Opaque\n"
            + f"data:\n  value: {base64.b64encode(value.encode()).decode()}\n")


def write_app(app: SyncApp, namespaces: list[str], *, variant: int, objects: int) -> None:
    """``objects`` objects in Git (hooks included); variant n changes every value and image and drops ConfigMap
    ``extra-<ns>-<n % 3>`` in each namespace. Names are unique across the namespaces (the checks compare names)."""
    fixed = 2 + len(namespaces) * 6  # 2 hooks; per namespace 2 Deployments, 2 Services, 2 extras
    fill = max(0, objects - fixed)
    v = str(variant)
    for i, ns in enumerate(namespaces):
        docs = [deployment(f"web-{i}", ns, argo(wave=1), replicas=1, image=f"example.com/web:{v}"),
                deployment(f"api-{i}", ns, argo(wave=1), replicas=1, image=f"example.com/api:{v}"),
                service(f"web-{i}", ns), service(f"api-{i}", ns)]
        docs += [configmap(f"extra-{i}-{k}", ns, argo(wave=1), value=v) for k in range(3) if k != variant % 3]
        for j in range(i, fill, len(namespaces)):
            make = configmap if j % 2 == 0 else secret
            docs.append(make(f"{'cm' if j % 2 == 0 else 'secret'}-{i}-{j}", ns, argo(wave=(j // 2) % 2), value=v))
        app.write(f"ns-{i}.yaml", "---\n".join(docs))
    app.write("hooks.yaml", job("migrate", namespaces[0], argo(hook="PreSync")) + "---\n"
              + job("smoke-", namespaces[0], argo(hook="PostSync"), generate=True))


@dataclass
class Outcome:
    code: int
    stderr: str
    seconds: float
    faults: Counter[str] = field(default_factory=Counter)
    requests: int = 0


def faulty_sync(app: SyncApp, kubeconfig: str, faults: Faults, workdir: Path, *,
                outage: float = 0.0) -> Outcome:
    """``sync --prune --yes --lock-timeout 60s`` through the proxy; with ``outage``, every request gets 503 for that
    many seconds from the first real apply PATCH of an app object on (not a dry run, not the record)."""
    with FaultProxy.start(kubeconfig, faults, workdir) as p:
        if outage:
            started = threading.Event()

            def at_first_apply(method: str, target: str) -> None:
                if (method == "PATCH" and "dryRun" not in target and f"kubectl-gitops.{app.name}" not in target
                        and not started.is_set()):
                    started.set()
                    p.outage(outage)

            p.on_request = at_first_apply
        full = env()
        full.update(KUBECONFIG=str(p.kubeconfig), KUBECTL_GITOPS_LEASE_SECONDS=LEASE_SECONDS)
        t0 = time.monotonic()
        try:
            proc = subprocess.run([*sync_argv(app, prune=True), "--lock-timeout", "60s"], cwd=app.repo.path,
                                  env=full, text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=900,
                                  check=False)
            code, stderr = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as e:
            tail = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or ""
            code, stderr = -1, f"hung: no exit after 900s\n{tail}"
        return Outcome(code, stderr, time.monotonic() - t0, Counter(i.fault for i in p.injected), len(p.requests))


def message_problem(o: Outcome) -> str | None:
    """Why the run's exit is a failure of ours: a code outside 0/4/5, a traceback, not exactly one error line."""
    if o.code not in (0, 4, 5):
        return f"exit {o.code}"
    if "Traceback" in o.stderr:
        return "a traceback"
    errors = [line for line in o.stderr.splitlines() if line.startswith("error:")]
    if o.code and len(errors) != 1:
        return f"{len(errors)} 'error:' lines, expected one"
    return None


def error_line(stderr: str) -> str:
    return next((line for line in stderr.splitlines() if line.startswith("error:")), "").strip()


def last_result(app: SyncApp, commit: str) -> str:
    """The history's last entry for ``commit`` (read without the proxy): succeeded, failed, ... or 'none'."""
    try:
        entries = [e for e in app.history() if e.get("commit") == commit]
    except AssertionError:
        return "history unreadable"
    return str(entries[-1].get("result")) if entries else "none"


def converge(app: SyncApp, namespaces: list[str]) -> list[str]:
    """The clean sync (no proxy) and the checks of bench/kills.py."""
    nxt = recover(app)
    if nxt.returncode != 0:
        return [f"clean sync exit {nxt.returncode}: {nxt.stderr[-500:]}"]
    return problems(app, namespaces, kinds=CHECK_KINDS)


def fmt_faults(c: Counter[str]) -> str:
    return f"{sum(c.values()):3d}" + (f" ({', '.join(f'{k} {n}' for k, n in sorted(c.items()))})" if c else "")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--rates", default="0.05,0.10,0.20,0.30")
    ap.add_argument("--objects", type=int, default=146)
    ap.add_argument("--namespaces", type=int, default=3)
    ap.add_argument("--outage", type=float, default=8.0, help="seconds of 503s mid-sync (0: no outage run)")
    args = ap.parse_args()
    rates = [float(x) for x in args.rates.split(",")]
    state = cluster_state()
    os.environ["KUBECONFIG"] = state["kubeconfig"]
    # bin/kubectl-gitops runs on the first python3 on PATH: this interpreter's, which has our dependencies
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    print(f"# {cpu_model()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.objects} objects in "
          f"{args.namespaces} namespaces, {args.seeds} seeds at {', '.join(f'{r:.0%}' for r in rates)}", flush=True)
    tag = uuid.uuid4().hex[:6]
    namespaces = [f"bench-faults-{tag}-{i}" for i in range(args.namespaces)]
    for ns in namespaces:
        kubectl("create", "namespace", ns)
    codes: Counter[int] = Counter()
    injected: Counter[str] = Counter()
    requests = 0
    failures: list[str] = []
    by_rate: dict[float, list[tuple[int, int, int, bool]]] = {r: [] for r in rates}
    t0 = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            app = SyncApp(Path(tmp), "faults", namespaces[0])
            write_app(app, namespaces, variant=0, objects=args.objects)
            app.commit()
            first = recover(app)
            if first.returncode != 0:
                raise SystemExit(f"the first (clean) sync failed: exit {first.returncode}\n{first.stderr}")
            runs: list[tuple[str, float, Faults, float]] = []
            for seed in range(args.seeds):
                rate = rates[seed * len(rates) // args.seeds]
                runs.append((f"seed {seed:2d}", rate, Faults.uniform(rate, seed=seed), 0.0))
            if args.outage:
                runs.append((f"outage {args.outage:.0f}s", 0.0, Faults(), args.outage))
            for n, (name, rate, faults, outage) in enumerate(runs, start=1):
                write_app(app, namespaces, variant=n, objects=args.objects)
                commit = app.commit(f"variant {n}")
                o = faulty_sync(app, state["kubeconfig"], faults, Path(tmp) / f"proxy-{n}", outage=outage)
                recorded = last_result(app, commit)
                bad = message_problem(o)
                found = converge(app, namespaces)
                codes[o.code] += 1
                injected += o.faults
                requests += o.requests
                if not outage:
                    by_rate[rate].append((o.code, sum(o.faults.values()), o.requests, bool(bad or found)))
                verdict = "; ".join(([f"FAILURE: {bad}"] if bad else []) + found) or "OK"
                if bad or found:
                    failures.append(f"{name}: {verdict}")
                what = f"{rate:4.0%}" if not outage else "    "
                print(f"{name:11s} {what} exit {o.code} {o.seconds:5.1f}s {o.requests:4d} requests, faults "
                      f"{fmt_faults(o.faults)}; history: {recorded} -> {verdict}", flush=True)
                if o.code:
                    print(f"            {error_line(o.stderr)[:400] or o.stderr.strip()[-400:]}", flush=True)
    finally:
        for ns in namespaces:
            kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")
    print()
    print("| rate | runs | exit 0 | exit 4 | exit 5 | faults injected | requests | failures |")
    print("|---|---|---|---|---|---|---|---|")
    for rate, rows in by_rate.items():
        c = Counter(code for code, _, _, _ in rows)
        print(f"| {rate:.0%} | {len(rows)} | {c[0]} | {c[4]} | {c[5]} | {sum(r[1] for r in rows)} | "
              f"{sum(r[2] for r in rows)} | {sum(r[3] for r in rows)} |")
    print()
    total = sum(codes.values())
    print(f"{total} runs ({args.seeds} seeded at {'/'.join(f'{r:.0%}' for r in rates)}"
          f"{f', 1 with a {args.outage:.0f}s outage' if args.outage else ''}): {codes[0]} exit 0, {codes[4]} exit 4, "
          f"{codes[5]} exit 5, {sum(injected.values())} faults injected in {requests} requests; "
          f"{len(failures)} failures ({time.monotonic() - t0:.0f}s)")
    for f in failures:
        print(f"  {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
