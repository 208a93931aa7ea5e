"""Progress you can see (issue 17, item 5), against the local control plane: while a wave waits, a line every few
seconds says for what (stderr, or a "wave.waiting" JSON event); errors under -o json are a JSON line too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import gitops
from sync_helpers import SyncApp, configmap, deployment, ok, parse_run

pytestmark = pytest.mark.e2e


def test_a_waiting_wave_says_what_it_waits_for(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "prog", namespace)
    app.write("web.yaml", deployment("web", namespace, replicas=3, never_available=True))
    app.write("c.yaml", configmap("c", namespace))
    app.commit("a Deployment that never becomes available")
    human = app.sync("--wave-timeout", "3s", "--progress-interval", "500ms")
    assert human.returncode == 4, human.stderr
    waiting = [line for line in human.stderr.splitlines() if "Sync wave 0: waiting for" in line]
    assert waiting, human.stderr
    assert all("waiting for 1 of 2 objects: Deployment web " in line for line in waiting), waiting
    # what the Deployment says: the controller has not caught up yet, or none of its 3 replicas is available
    assert any("replicas" in line or "controller" in line for line in waiting), waiting

    run = parse_run(app.sync("--wave-timeout", "3s", "--progress-interval", "500ms", "-o", "json"))
    assert run.code == 4
    events = [e for e in run.events if e["type"] == "wave.waiting"]
    assert events, run.stdout
    assert events[0]["total"] == 2
    assert [p["key"] for p in events[0]["pending"]] == [f"Deployment.apps {namespace}/web"]
    assert events[0]["pending"][0]["status"] == "Progressing"
    assert run.result["ok"] is False


def test_errors_under_json_output_are_json(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "jerr", namespace)
    app.write("c.yaml", configmap("c", namespace))
    app.commit("c")
    ok(app.sync())
    app.write("c.yaml", configmap("c", namespace, value="2"))
    app.commit("change")
    res = app.sync("-c", "-o", "json")  # --diff-changes without a terminal: refused
    assert res.returncode == 6
    last = json.loads(res.stdout.strip().splitlines()[-1])
    assert last["type"] == "error" and last["exitCode"] == 6 and last["error"] == "RefusedError"
    assert "no terminal to ask" in last["message"] and last["hint"]
    bad = gitops("delete", "no-such-app", "--record-namespace", namespace, "-o", "json", cwd=app.repo.path)
    assert bad.returncode == 3
    assert json.loads(bad.stdout)["exitCode"] == 3
