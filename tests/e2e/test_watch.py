"""Pull mode on the local control plane (issue 15): `sync --watch` keeps the cluster equal to Git.

Every test runs real watch processes (`kubectl gitops sync --watch -o json`, short intervals) against real git
repositories; what they did is read from their JSON events, the app's status and Events, the Lease and the
audit log. Time limits are generous bounds on waits, never assertions about speed (bench/watch.md measures).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from cli_helpers import gitops
from cluster_helpers import audit_mark, kubectl, kubectl_json, wait_for, writes_since
from sync_helpers import SyncApp, argo, configmap, deployment, ok
from watch_helpers import WatchProc, lease_holder, record_events, scrape, status

pytestmark = pytest.mark.e2e

FAST = ("--interval", "1s")


def cm_value(ns: str, name: str = "settings") -> str:
    return str(kubectl_json("get", "configmap", name, "-n", ns)["data"]["value"])


def replicas(ns: str, name: str = "web") -> int:
    return int(kubectl_json("get", "deployment", name, "-n", ns)["spec"]["replicas"])


def synced(commit: str):  # type: ignore[no-untyped-def]
    return lambda e: e.get("type") == "watch.synced" and e.get("commit") == commit


def test_a_pushed_commit_is_applied_by_the_loop_and_status_and_events_follow(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "pull", ns).write("config.yaml", configmap("settings", ns, value="one"))
    first = app.commit("one")
    w = WatchProc.start(app, *FAST, "--drift-interval", "0")
    try:
        w.wait_event(synced(first), timeout=90, what="the first sync")
        assert cm_value(ns) == "one"
        app.write("config.yaml", configmap("settings", ns, value="two"))
        second = app.commit("two")
        w.wait_event(synced(second), timeout=90, what="the sync of the pushed commit")  # a bound, not a speed test
        assert cm_value(ns) == "two"
        doc = status(app)
        assert (doc["phase"], doc["health"], doc["lastSyncedCommit"], doc["lastSeenCommit"]) == \
            ("Synced", "Healthy", second, second)
        assert doc["by"] == "watch" and doc["lease"]["command"] == "watch" and not doc["lease"]["expired"]
        reasons = [(e["reason"], e["type"]) for e in record_events(app)]
        assert reasons.count(("Synced", "Normal")) == 2, reasons
        listed = ok(gitops("list", "--record-namespace", ns, cwd=app.repo.path)).stdout
        assert "pull" in listed and second[:12] in listed and "Synced" in listed and "Healthy" in listed
        assert w.stop() == 0, w.dump()
        assert lease_holder(app) == ""  # released on SIGTERM
    finally:
        w.kill()


def test_drift_is_only_reported_without_self_heal_and_reverted_with_it(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "drifty", ns).write("web.yaml", deployment("web", ns, replicas=2))
    commit = app.commit()
    ok(app.sync())
    kubectl("scale", "deployment", "web", "-n", ns, "--replicas=5")
    w = WatchProc.start(app, *FAST, "--drift-interval", "1s")
    try:
        w.wait_event(lambda e: e.get("type") == "watch.drift-check" and e.get("drifted"), timeout=60,
                     what="a drift check finding the scaled Deployment")
        doc = wait_for("the status to report drift", lambda: (d := status(app))["phase"] == "OutOfSync" and d,
                       timeout=30)
        assert doc["drift"] == {"objects": 1, "keys": [f"Deployment.apps {ns}/web"]}, doc
        assert doc["lastSyncedCommit"] == commit and doc["selfHeals"] == 0
        assert replicas(ns) == 5  # reported only
        drift_events = [e for e in record_events(app) if e["reason"] == "DriftDetected"]
        assert len(drift_events) == 1 and drift_events[0]["type"] == "Warning"  # once per change, not per check
        assert f"Deployment.apps {ns}/web" in drift_events[0]["message"]
        assert not w.of("watch.sync")
        assert w.stop() == 0, w.dump()
    finally:
        w.kill()

    healer = WatchProc.start(app, *FAST, "--drift-interval", "1s", "--self-heal")
    try:
        healer.wait_event(lambda e: e.get("type") == "watch.synced" and e.get("trigger") == "self-heal", timeout=60,
                          what="the self-heal")
        assert replicas(ns) == 2
        doc = status(app)
        assert (doc["phase"], doc["selfHeals"], doc["drift"]["objects"]) == ("Synced", 1, 0)
        assert any(e["reason"] == "SelfHealed" and "reverted drift" in e["message"] for e in record_events(app))
        assert app.history()[-1]["result"] == "succeeded"
        assert healer.stop() == 0, healer.dump()
    finally:
        healer.kill()


def test_a_bad_commit_fails_changes_nothing_and_the_next_good_commit_recovers(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "bad", ns).write("config.yaml", configmap("settings", ns, value="good"))
    good = app.commit("good")
    w = WatchProc.start(app, *FAST, "--drift-interval", "0", "--max-backoff", "4s")
    try:
        w.wait_event(synced(good), timeout=90, what="the first sync")
        mark = audit_mark()
        app.write("config.yaml", configmap("settings", ns, value="changed"))
        app.write("broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Valid_Name\n"
                                 f"  namespace: {ns}\n")
        bad = app.commit("bad")
        failed = w.wait_event(lambda e: e.get("type") == "watch.failed" and e.get("commit") == bad, timeout=90,
                              what="the failure of the bad commit")
        assert failed["retryIn"] >= 1.0  # backs off: never a tight loop
        doc = wait_for("the status to say Failed", lambda: (d := status(app))["phase"] == "Failed" and d, timeout=30)
        assert doc["lastSeenCommit"] == bad and doc["lastSyncedCommit"] == good
        assert "Not_A_Valid_Name" in doc["message"] or "problem" in doc["message"], doc["message"]
        assert cm_value(ns) == "good"  # nothing changed
        # a few back-off rounds: still no object written, only the record's status and Events
        w.wait_event(lambda e: e.get("type") == "watch.failed" and e.get("failures", 0) >= 3, timeout=60,
                     what="retries after the back-off")
        writes = [(x.verb, x.resource) for x in writes_since(mark) if x.namespace == ns and not x.dry_run]
        assert {r for _, r in writes} <= {"secrets", "events"}, writes
        assert any(e["reason"] == "SyncFailed" and e["type"] == "Warning" for e in record_events(app))
        app.remove("broken.yaml")
        fixed = app.commit("fixed")
        w.wait_event(synced(fixed), timeout=90, what="the recovery")
        assert cm_value(ns) == "changed"
        assert status(app)["phase"] == "Synced"
        assert w.stop() == 0, w.dump()
    finally:
        w.kill()


def test_two_watchers_exactly_one_syncs_and_the_other_takes_over_after_kill_9(tmp_path: Path,
                                                                            namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "pair", ns).write("config.yaml", configmap("settings", ns, value="0"))
    app.commit("0")
    env = {"KUBECTL_GITOPS_LEASE_SECONDS": "4"}
    a = WatchProc.start(app, *FAST, "--drift-interval", "0", env=env)
    b: WatchProc | None = None
    try:
        a.wait_event(lambda e: e.get("type") == "watch.synced", timeout=90, what="A's first sync")
        b = WatchProc.start(app, *FAST, "--drift-interval", "0", env=env)
        b.wait_event(lambda e: e.get("type") == "watch.standby", timeout=60, what="B standing by")
        mark = audit_mark()
        app.write("config.yaml", configmap("settings", ns, value="1"))
        one = app.commit("1")
        a.wait_event(synced(one), timeout=90, what="A syncing commit 1")
        assert cm_value(ns) == "1"
        assert not b.of("watch.sync") and not b.of("watch.leading"), b.dump()
        patches = [x for x in writes_since(mark) if x.resource == "configmaps" and x.namespace == ns
                   and not x.dry_run]
        assert [(x.verb, x.name) for x in patches] == [("patch", "settings")]  # one writer, one write
        a.kill()  # SIGKILL: the Lease stays held until it expires
        app.write("config.yaml", configmap("settings", ns, value="2"))
        two = app.commit("2")
        b.wait_event(lambda e: e.get("type") == "watch.leading", timeout=4 + 1 + 30,
                     what="B taking over after the Lease expired (duration 4s + interval 1s, plus slack)")
        b.wait_event(synced(two), timeout=90, what="B syncing commit 2")
        assert cm_value(ns) == "2"
        assert any("took over the Lease" in e.get("message", "") for e in b.of("warning")), b.dump()
        assert b.stop() == 0, b.dump()
    finally:
        a.kill()
        if b is not None:
            b.kill()


def slow_deployment(ns: str, image: str) -> str:
    """A Deployment whose rollout takes ~3 s on kwok (minReadySeconds), in wave 0."""
    text = deployment("web", ns, argo(wave=0), replicas=1, image=image)
    return text.replace("spec:\n  replicas", "spec:\n  minReadySeconds: 3\n  replicas", 1)


def test_sigterm_mid_wave_finishes_the_wave_releases_the_lease_and_exits_0(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "term", ns)
    app.write("web.yaml", slow_deployment(ns, "example.com/web:1"))
    app.write("config.yaml", configmap("settings", ns, argo(wave=1), value="1"))
    first = app.commit("1")
    w = WatchProc.start(app, *FAST, "--drift-interval", "0", "--metrics-addr", "127.0.0.1:0")
    try:
        address = w.wait_event(lambda e: e.get("type") == "watch.metrics", timeout=30, what="the endpoint")["address"]
        w.wait_event(synced(first), timeout=90, what="the first sync")
        samples = scrape(address)
        assert samples['kubectl_gitops_syncs_total{app="term",result="succeeded"}'] == 1
        assert samples['kubectl_gitops_lease_held{app="term"}'] == 1
        assert samples['kubectl_gitops_objects{app="term"}'] == 2
        assert samples['kubectl_gitops_sync_duration_seconds_count{app="term"}'] == 1
        assert samples['kubectl_gitops_last_success_timestamp_seconds{app="term"}'] > 0
        assert samples['kubectl_gitops_polls_total{app="term"}'] >= 1
        start = w.mark()
        app.write("web.yaml", slow_deployment(ns, "example.com/web:2"))
        app.write("config.yaml", configmap("settings", ns, argo(wave=1), value="2"))
        second = app.commit("2")
        w.wait_event(lambda e: e.get("type") == "wave.start" and e.get("wave") == 0 and e.get("phase") == "Sync",
                     timeout=90, what="wave 0 of the second sync", after=start)
        w.send(signal.SIGTERM)
        assert w.proc.wait(timeout=120) == 0, w.dump()
        done = [e for e in w.events[start:] if e.get("type") == "wave.done"]
        assert [(e.get("phase"), e.get("wave")) for e in done] == [("Sync", 0)], w.dump()  # the wave finished
        image = kubectl_json("get", "deployment", "web", "-n", ns)["spec"]["template"]["spec"]["containers"][0]
        assert image["image"] == "example.com/web:2"
        assert cm_value(ns) == "1"  # wave 1 never started
        assert lease_holder(app) == ""  # released
        last = app.history()[-1]
        assert (last["result"], last["commit"]) == ("interrupted", second)
        assert "SIGTERM" in "".join(w.stderr)
    finally:
        w.kill()


def test_suspend_holds_the_loop_off_and_resume_lets_it_sync(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "napping", ns).write("config.yaml", configmap("settings", ns, value="1"))
    app.commit("1")
    ok(app.sync())
    assert "suspended" in ok(app.run("suspend", "napping")).stdout
    assert status(app)["phase"] == "Suspended"
    app.write("config.yaml", configmap("settings", ns, value="2"))
    two = app.commit("2")
    once = WatchProc.start(app, once=True)
    assert once.proc.wait(timeout=120) == 0, once.dump()
    assert once.of("watch.suspended") and not once.of("watch.sync")
    assert cm_value(ns) == "1"
    ok(app.run("resume", "napping"))
    again = WatchProc.start(app, once=True)
    assert again.proc.wait(timeout=120) == 0, again.dump()
    assert again.wait_event(synced(two), timeout=5, what="the sync after resume")
    assert cm_value(ns) == "2"
    reasons = [e["reason"] for e in record_events(app)]
    assert "Suspended" in reasons and "Resumed" in reasons
    missing = app.run("suspend", "no-such-app")
    assert missing.returncode == 3 and "no record" in missing.stderr


def test_once_fails_when_the_app_cannot_be_held_and_does_not_pretend_to_stand_by(tmp_path: Path,
                                                                                namespace: str) -> None:
    app = SyncApp(tmp_path, "nowhere", f"{namespace}-missing").write("config.yaml", configmap("settings", namespace))
    app.commit()
    once = WatchProc.start(app, once=True)
    assert once.proc.wait(timeout=120) == 4, once.dump()
    assert not once.of("watch.standby") and not once.of("watch.sync")
    assert any("does not exist" in e.get("message", "") for e in once.of("warning")), once.dump()


def test_one_process_watches_two_apps_in_two_repositories(tmp_path: Path, namespace: str) -> None:
    """`sync --watch PATH PATH`: one app per PATH (names derived as a sync of that folder derives them), each under
    its own Lease; a commit to either repository is applied; one /metrics labelled by app; SIGTERM releases both."""
    ns = namespace
    north = SyncApp(tmp_path, "north", ns).write("config.yaml", configmap("north", ns, value="n1"))
    south = SyncApp(tmp_path, "south", ns).write("config.yaml", configmap("south", ns, value="s1"))
    commits = {"north": north.commit("n1"), "south": south.commit("s1")}
    w = WatchProc.start_paths([str(north.repo.path), str(south.repo.path)], ns, *FAST, "--drift-interval", "0",
                              "--metrics-addr", "127.0.0.1:0", cwd=str(tmp_path))
    try:
        address = w.wait_event(lambda e: e.get("type") == "watch.metrics", timeout=30, what="the endpoint")["address"]
        names: dict[str, str] = {}
        for repo, commit in commits.items():
            ev = w.wait_event(synced(commit), timeout=120, what=f"the first sync of {repo}")
            names[repo] = ev["app"]
        assert names["north"].startswith("north-") and names["south"].startswith("south-"), names
        assert cm_value(ns, "north") == "n1" and cm_value(ns, "south") == "s1"
        starts = {e["app"] for e in w.of("watch.start")}
        assert starts == set(names.values())
        mark = w.mark()
        north.write("config.yaml", configmap("north", ns, value="n2"))
        south.write("config.yaml", configmap("south", ns, value="s2"))
        n2, s2 = north.commit("n2"), south.commit("s2")
        assert w.wait_event(synced(n2), timeout=120, what="the sync of north's commit", after=mark)["app"] == \
            names["north"]
        assert w.wait_event(synced(s2), timeout=120, what="the sync of south's commit", after=mark)["app"] == \
            names["south"]
        assert cm_value(ns, "north") == "n2" and cm_value(ns, "south") == "s2"
        samples = scrape(address)
        for name in names.values():
            assert samples[f'kubectl_gitops_syncs_total{{app="{name}",result="succeeded"}}'] == 2
            assert samples[f'kubectl_gitops_lease_held{{app="{name}"}}'] == 1
            doc = json.loads(ok(gitops("status", name, "--record-namespace", ns, "-o", "json",
                                       cwd=tmp_path)).stdout)
            assert doc["phase"] == "Synced" and doc["lease"]["command"] == "watch", doc
        assert w.stop() == 0, w.dump()
        for name in names.values():
            proc = kubectl("get", "lease", f"kubectl-gitops.{name}", "-n", ns, "-o", "json", check=False)
            holder = (json.loads(proc.stdout).get("spec") or {}).get("holderIdentity") if proc.returncode == 0 else ""
            assert not holder, f"the Lease of {name} was not released"
    finally:
        w.kill()
