"""One writer per app (issue 12, item 1) on the local control plane: two runs of one app never interleave.

The app has a slow wave (a Deployment rollout with ``minReadySeconds``: its new pods count as available only
after a few seconds), so a run holds the app's Lease long enough for a second run to meet it. Runs are real
CLI processes; whichever wins, the loser must refuse (exit 6) naming the holder, or with ``--lock-timeout``
wait and then run on the state the first one left.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cli_helpers import ROOT
from cluster_helpers import audit_mark, kubectl, kubectl_json, wait_for, writes_since
from faults.kill import run_and_kill
from sync_helpers import SyncApp, configmap, deployment, ok

pytestmark = pytest.mark.e2e

LEASE_ENV = "KUBECTL_GITOPS_LEASE_SECONDS"


def slow_deployment(ns: str, image: str) -> str:
    """A Deployment whose rollout takes ~3 s on kwok: new pods are available only after minReadySeconds."""
    return deployment("web", ns, replicas=1, image=image).replace("spec:\n  replicas", "spec:\n  minReadySeconds: 3\n"
                                                                                      "  replicas", 1)


def version(app: SyncApp, ns: str, value: str, image: str) -> str:
    app.write("config.yaml", configmap("settings", ns, value=value))
    app.write("web.yaml", slow_deployment(ns, image))
    return app.commit(f"value {value}, image {image}")


def start(app: SyncApp, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`kubectl gitops ...` of the app as a background process (as cli_helpers.gitops runs it)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECTL_GITOPS_", "KUBECTL_EXTERNAL_DIFF"))}
    full.update({"PATH": f"{ROOT / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1", **(env or {})})
    return subprocess.Popen(["kubectl", "gitops", args[0], "--app", app.name, "--record-namespace", app.namespace,
                             *args[1:]], cwd=app.repo.path, env=full, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=180)
    return proc.returncode, err


def lease(app: SyncApp) -> dict[str, object] | None:
    proc = kubectl("get", "lease", f"kubectl-gitops.{app.name}", "-n", app.namespace, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def held(app: SyncApp) -> bool:
    obj = lease(app)
    return bool(obj and (obj.get("spec") or {}).get("holderIdentity"))  # type: ignore[attr-defined]


def live_state(ns: str) -> tuple[str, str]:
    cm = kubectl_json("get", "configmap", "settings", "-n", ns)["data"]["value"]
    image = kubectl_json("get", "deployment", "web", "-n", ns)["spec"]["template"]["spec"]["containers"][0]["image"]
    return cm, image


def last_commit(app: SyncApp) -> str:
    return str(app.history()[-1]["commit"])


def test_two_syncs_of_different_commits_one_proceeds_the_other_refuses(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "twins", ns)
    version(app, ns, "base", "example.com/web:0")
    ok(app.sync())
    x = version(app, ns, "x", "example.com/web:1")
    y = version(app, ns, "y", "example.com/web:2")
    runs = {x: start(app, "sync", "--ref", x), y: start(app, "sync", "--ref", y)}
    results = {c: finish(p) for c, p in runs.items()}
    codes = sorted(code for code, _ in results.values())
    assert codes == [0, 6], results
    winner = next(c for c, (code, _) in results.items() if code == 0)
    _, refusal = next(r for c, r in results.items() if c != winner)
    assert "is being synced or pruned by" in refusal and f"sync {winner[:12]}" in refusal, refusal
    assert "nothing was changed" in refusal and "--lock-timeout" in refusal and "Traceback" not in refusal
    assert last_commit(app) == winner  # the record and the cluster agree on the winner's commit
    assert live_state(ns) == (("x", "example.com/web:1") if winner == x else ("y", "example.com/web:2"))
    assert not held(app)  # released at the end
    ok(app.run("diff", "--ref", winner))


def test_prune_refuses_while_a_sync_holds_the_app(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "pair", ns)
    app.write("old.yaml", configmap("old", ns))
    version(app, ns, "base", "example.com/web:0")
    ok(app.sync())
    app.remove("old.yaml")
    version(app, ns, "next", "example.com/web:1")
    sync = start(app, "sync", "--prune", "--yes")
    wait_for("the sync to hold the app's Lease", lambda: held(app) or sync.poll() is not None, timeout=60)
    prune = app.prune("--yes")
    code, err = finish(sync)
    assert code == 0, err
    assert prune.returncode == 6, prune.stderr
    assert "is being synced or pruned by" in prune.stderr and "sync " in prune.stderr
    assert kubectl("get", "configmap", "old", "-n", ns, check=False).returncode != 0  # the sync's prune did it
    assert live_state(ns) == ("next", "example.com/web:1")


def test_lock_timeout_waits_then_runs_on_the_new_state(tmp_path: Path, namespace: str) -> None:
    """The second sync reverts to the base commit's values. Had it computed its changes before the first one
    finished, it would have found them unchanged and written nothing; it waits, reads again, writes them."""
    ns = namespace
    app = SyncApp(tmp_path, "queue", ns)
    base = version(app, ns, "base", "example.com/web:0")
    ok(app.sync())
    x = version(app, ns, "x", "example.com/web:1")
    first = start(app, "sync", "--ref", x)
    wait_for("the first sync to hold the app's Lease", lambda: held(app) or first.poll() is not None, timeout=60)
    second = start(app, "sync", "--ref", base, "--lock-timeout", "2m")
    (code1, err1), (code2, err2) = finish(first), finish(second)
    assert code1 == 0, err1
    assert code2 == 0, err2
    assert "waiting (--lock-timeout)" in err2 and f"sync {x[:12]}" in err2
    assert live_state(ns) == ("base", "example.com/web:0")
    assert [h["commit"] for h in app.history()[-2:]] == [x, base]


def test_a_killed_holder_blocks_until_its_lease_expires_then_is_taken_over(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "killed", ns)
    version(app, ns, "base", "example.com/web:0")
    ok(app.sync())
    version(app, ns, "v1", "example.com/web:1")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECTL_GITOPS_", "KUBECTL_EXTERNAL_DIFF"))}
    env.update({"PATH": f"{ROOT / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1",
                LEASE_ENV: "10"})
    killed = run_and_kill(["kubectl", "gitops", "sync", "--app", app.name, "--record-namespace", ns],
                          cwd=app.repo.path, env=env, when_stderr="==> Sync wave")
    assert killed.killed, killed.stderr
    assert held(app)  # a dead holder's Lease stays until it expires
    refused = app.sync()
    assert refused.returncode == 6, refused.stderr
    assert "is being synced or pruned by" in refused.stderr and "expires 10s after its last renewal" in refused.stderr
    took = ok(app.sync("--lock-timeout", "1m"))
    assert "took over the Lease of app killed" in took.stderr and "probably died" in took.stderr
    assert live_state(ns) == ("v1", "example.com/web:1") and not held(app)


def test_read_only_commands_never_take_the_lease(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "reader", ns)
    version(app, ns, "base", "example.com/web:0")
    mark = audit_mark()
    for args in (("sync", "--dry-run"), ("prune", "--dry-run"), ("diff",), ("history",)):
        proc = app.run(*args)
        assert proc.returncode in (0, 1), f"{args}: {proc.stderr}"
    assert lease(app) is None
    assert [w for w in writes_since(mark, leases=True) if w.namespace == ns and not w.dry_run] == []
    ok(app.sync())  # a sync leaves the Lease, released: get, create and update, never delete
    obj = lease(app)
    assert obj is not None and not held(app)
    assert [(w.verb, w.resource) for w in writes_since(mark, leases=True)
            if w.namespace == ns and w.resource == "leases"] == [("create", "leases"), ("update", "leases")]


def can(user: str, verb: str, resource: str, ns: str) -> bool:
    proc = kubectl("auth", "can-i", verb, resource, "-n", ns, "--as", user, check=False)
    return proc.stdout.strip() == "yes"


def test_without_rbac_for_leases_sync_stops_before_any_write(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    user = f"gitops-{ns[-6:]}"
    kubectl("create", "role", "objects", "-n", ns, "--verb=*", "--resource=configmaps,secrets")
    kubectl("create", "rolebinding", "objects", "-n", ns, "--role=objects", f"--user={user}")
    wait_for("RBAC for configmaps", lambda: can(user, "patch", "configmaps", ns))
    config = json.loads(kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    config["users"][0]["user"]["as"] = user
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    app = SyncApp(tmp_path, "rbac", ns).write("config.yaml", configmap("settings", ns))
    app.commit()
    mark = audit_mark()
    proc = app.run("sync", env={"KUBECONFIG": str(kubeconfig)})
    assert proc.returncode == 5, proc.stderr
    assert "not allowed to read the Lease" in proc.stderr and "get, create and update on leases" in proc.stderr
    assert [w for w in writes_since(mark, leases=True) if w.namespace == ns and not w.dry_run] == []
    kubectl("create", "role", "lease", "-n", ns, "--verb=get,create,update", "--resource=leases.coordination.k8s.io")
    kubectl("create", "rolebinding", "lease", "-n", ns, "--role=lease", f"--user={user}")
    wait_for("RBAC for leases", lambda: can(user, "update", "leases.coordination.k8s.io", ns))
    ok(app.run("sync", env={"KUBECONFIG": str(kubeconfig)}))
    assert not held(app)
