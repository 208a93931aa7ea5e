"""SIGKILL ``sync`` and ``sync --prune --yes`` at 30 seeded moments (issue 12): after each kill the next sync must
converge with no orphans and no leftover or duplicate hooks (tests/faults/recovery.py does the checks; the
suite's tests/e2e/test_kills.py runs eight of these).

    python bench/kills.py [--kills 30] [--window 0.3,4.0]

Prints one line per kill and a summary; results are in bench/kills.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _common import cluster_state  # noqa: E402
from cluster_helpers import kubectl  # noqa: E402
from faults.recovery import kill_sync, problems, recover, write_app  # noqa: E402
from sync_helpers import SyncApp  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--window", default="0.3,4.0")
    args = ap.parse_args()
    window = tuple(float(x) for x in args.window.split(","))
    state = cluster_state()
    import os

    os.environ["KUBECONFIG"] = state["kubeconfig"]
    ns = f"bench-kills-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", ns)
    killed = failures = 0
    t0 = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            app = SyncApp(Path(tmp), "kills", ns)
            write_app(app, ns, variant=0)
            app.commit()
            assert recover(app).returncode == 0
            for seed in range(args.kills):
                write_app(app, ns, variant=seed + 1)
                app.commit(f"variant {seed + 1}")
                prune = seed % 2 == 1
                r = kill_sync(app, seed=seed, window=window, prune=prune)  # type: ignore[arg-type]
                killed += r.killed
                nxt: subprocess.CompletedProcess[str] = recover(app)
                found = problems(app, ns) if nxt.returncode == 0 else [f"next sync exit {nxt.returncode}: "
                                                                       f"{nxt.stderr[-500:]}"]
                failures += bool(found)
                what = "sync --prune" if prune else "sync"
                when = f"killed at {r.delay:.2f}s" if r.killed else f"finished first (exit {r.returncode})"
                print(f"seed {seed:2d} {what:12s} {when:28s} -> " + ("OK" if not found else "; ".join(found)),
                      flush=True)
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")
    print(f"{args.kills} runs, {killed} killed mid-way, {failures} not repaired by the next sync "
          f"({time.monotonic() - t0:.0f}s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
