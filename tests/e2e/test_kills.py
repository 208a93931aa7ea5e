"""Kills and signals during sync (issue 12, items 3 and 4), on the local control plane.

SIGKILL at seeded moments of ``sync`` and ``sync --prune --yes`` of a small app (tests/faults/recovery.py:
ConfigMaps in two waves, a Deployment, a Service, a PreSync Job hook and a generateName PostSync hook): the
next sync converges (``diff`` exit 0), nothing carries the app's label outside the record or Git, no hook is
left over or duplicated. Eight kills here; bench/kills.py runs the full thirty.

SIGTERM: the sync stops before its next write, exits 143, the record shows the run as interrupted, and the
next sync converges.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from faults.recovery import env, kill_sync, problems, recover, sync_argv, write_app
from sync_helpers import SyncApp

pytestmark = pytest.mark.e2e

KILLS = range(8)  # seeds: even ones kill `sync`, odd ones `sync --prune --yes`
WINDOW = (0.3, 3.5)  # seconds after start; a clean sync of the app takes ~2-4 s here


def test_seeded_kills_then_the_next_sync_repairs(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "kills", ns)
    write_app(app, ns, variant=0)
    app.commit()
    first = recover(app)
    assert first.returncode == 0, first.stderr
    killed = 0
    for seed in KILLS:
        write_app(app, ns, variant=seed + 1)
        app.commit(f"variant {seed + 1}")
        r = kill_sync(app, seed=seed, window=WINDOW, prune=seed % 2 == 1)
        killed += r.killed
        assert r.killed or r.returncode == 0, f"seed {seed}: exit {r.returncode}\n{r.stderr}"
        nxt = recover(app)
        assert nxt.returncode == 0, f"seed {seed} (killed at {r.delay}s): {nxt.stderr}"
        found = problems(app, ns)
        assert found == [], f"seed {seed} (killed at {r.delay}s):\n" + "\n".join(found)
    assert killed >= len(KILLS) // 2, f"only {killed} of {len(KILLS)} runs were killed mid-way: widen WINDOW"


def test_sigterm_stops_before_the_next_write_and_is_recorded(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "sigterm", ns)
    write_app(app, ns, variant=0)
    app.commit()
    assert recover(app).returncode == 0
    write_app(app, ns, variant=1)
    app.commit("variant 1")
    proc = subprocess.Popen(sync_argv(app, prune=True), cwd=app.repo.path, env=env(), text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # TERM once the first wave started writing
        lines.append(line)
        if "==> Sync wave 0" in line:
            break
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)
    stderr = "".join(lines) + rest
    assert proc.returncode == 143, stderr
    assert "SIGTERM: finishing the requests in flight" in stderr and "Traceback" not in stderr, stderr
    last = app.history()[-1]
    assert last["result"] == "interrupted", last
    nxt = recover(app)  # the Lease was released: no wait for it to expire
    assert nxt.returncode == 0, nxt.stderr
    assert problems(app, ns) == []
