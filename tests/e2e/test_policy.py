"""The cluster's policy, used as a platform team would: a ConfigMap kubectl-gitops-policy in a namespace, apps
synced with `kubectl gitops sync --policy-namespace NS` against the local control plane (RBAC on). The audit log
proves what was (not) written and as whom.

Every test puts its policy and its app record in its own namespace; the "aws-auth" ConfigMap lives there too
(kube-system is shared by everyone using the control plane).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import on_terminal
from cluster_helpers import audit_events_since, audit_mark, kubectl, kubectl_json, writes_since
from source_helpers import configmap
from sync_helpers import SyncApp, exists, ok

pytestmark = pytest.mark.e2e


def put_policy(namespace: str, text: str) -> None:
    kubectl("create", "configmap", "kubectl-gitops-policy", "-n", namespace, f"--from-literal=policy.yaml={text}")


def ours(mark: object, *namespaces: str, dry_run: bool | None = False) -> list[tuple[str, str, str, str]]:
    """Our write calls in these namespaces since mark (other tests run alongside): (verb, resource, name, user)."""
    return [(w.verb, w.resource, w.name, w.user) for w in writes_since(mark)  # type: ignore[arg-type]
            if w.namespace in namespaces and (dry_run is None or w.dry_run == dry_run)]


def aws_auth(namespace: str, users: str) -> str:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: {namespace}\ndata:\n"
            f"  mapUsers: |\n{users}")


def test_a_commit_that_changes_a_protected_aws_auth_is_stopped_with_its_diff(tmp_path: Path, namespace: str) -> None:
    put_policy(namespace, f"protected:\n- {{kind: ConfigMap, namespace: {namespace}, name: aws-auth}}\n"
                          "rules:\n- {name: everyone, apps: ['*']}\n")
    admins = "    - userarn: arn:aws:iam::111122223333:user/admin\n      groups: [system:masters]\n"
    app = SyncApp(tmp_path, "cluster-auth", namespace).write("aws-auth.yaml", aws_auth(namespace, admins))
    app.write("other.yaml", configmap("other", namespace=namespace))
    app.commit()
    policy = ("--policy-namespace", namespace)
    first = app.sync(*policy)  # creating a protected object needs a person too
    assert first.returncode == 6, first.stderr
    assert f"--confirm-protected ConfigMap/{namespace}/aws-auth" in first.stderr
    assert not exists("configmap", "aws-auth", namespace) and not exists("configmap", "other", namespace)
    ok(app.sync(*policy, "--confirm-protected", f"ConfigMap/{namespace}/aws-auth"))

    # the refactor that locks everyone out: the admin mapping is lost
    app.write("aws-auth.yaml", aws_auth(namespace, "    - userarn: arn:aws:iam::111122223333:user/ci\n"
                                                   "      groups: [deployers]\n"))
    app.write("other.yaml", configmap("other", namespace=namespace, value="2"))
    app.commit("refactor aws-auth")
    mark = audit_mark()
    stopped = app.sync(*policy)
    assert stopped.returncode == 6, stopped.stdout + stopped.stderr
    assert "refused by policy for app cluster-auth: 1 change(s) to protected objects not confirmed" in stopped.stderr
    assert "-    - userarn: arn:aws:iam::111122223333:user/admin" in stopped.stderr  # the diff is shown
    assert "+    - userarn: arn:aws:iam::111122223333:user/ci" in stopped.stderr
    assert ours(mark, namespace) == []  # not even the unprotected ConfigMap: all or nothing
    live = kubectl_json("get", "configmap", "aws-auth", "-n", namespace)
    assert "user/admin" in live["data"]["mapUsers"]

    diff = app.run("diff", *policy)
    assert diff.returncode == 1 and f"sync needs --confirm-protected ConfigMap/{namespace}/aws-auth" in diff.stderr

    ok(app.sync(*policy, "--confirm-protected", f"configmap/{namespace}/aws-auth"))
    assert "user/ci" in kubectl_json("get", "configmap", "aws-auth", "-n", namespace)["data"]["mapUsers"]


def test_objects_in_a_disallowed_namespace_and_a_denied_kind_are_all_listed_and_nothing_is_written(
        tmp_path: Path, namespace: str) -> None:
    elsewhere = f"{namespace}-x"[:63]
    put_policy(namespace, f"rules:\n- name: team-a\n  apps: [team-a]\n  namespaces: [{namespace}]\n"
                          "  denyKinds: [{group: rbac.authorization.k8s.io}]\n")
    app = SyncApp(tmp_path, "team-a", namespace).write("cm.yaml", configmap("fine", namespace=namespace))
    app.write("away.yaml", configmap("away", namespace=elsewhere))
    app.write("role.yaml", f"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: admin\n"
                           f"  namespace: {namespace}\nrules:\n- apiGroups: ['*']\n  resources: ['*']\n"
                           "  verbs: ['*']\n")
    app.commit()
    mark = audit_mark()
    res = app.sync("--policy-namespace", namespace)
    assert res.returncode == 6, res.stdout + res.stderr
    assert "2 policy violation(s)" in res.stderr
    assert f"ConfigMap {elsewhere}/away (apply): namespace '{elsewhere}' is not an allowed destination" in res.stderr
    assert (f"Role.rbac.authorization.k8s.io {namespace}/admin (apply): kind Role.rbac.authorization.k8s.io is "
            "denied") in res.stderr and "[rules[0] (team-a)]" in res.stderr
    assert ours(mark, namespace, elsewhere, dry_run=None) == []  # no write and not even a dry run
    assert not exists("configmap", "fine", namespace)

    diff = app.run("diff", "--policy-namespace", namespace)  # a pull request sees the same before merge
    assert diff.returncode == 6 and "2 policy violation(s)" in diff.stderr

    other = SyncApp(tmp_path, "not-named", namespace).write("cm.yaml", configmap("fine", namespace=namespace))
    other.commit()
    res = other.sync("--policy-namespace", namespace)
    assert res.returncode == 6 and "no rule matches app 'not-named'" in res.stderr


def test_a_configured_policy_fails_closed_and_no_policy_changes_nothing(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "plain", namespace).write("cm.yaml", configmap("c", namespace=namespace))
    app.commit()
    res = app.sync("--policy-namespace", namespace)  # configured, but there is no ConfigMap
    assert res.returncode == 6 and "does not exist" in res.stderr and "fails closed" in res.stderr
    res = app.run("sync", env={"KUBECTL_GITOPS_POLICY_NAMESPACE": namespace})
    assert res.returncode == 6
    put_policy(namespace, "rules:\n- name: broken\n  apps: [x]\n  maxDeletes: many\n")
    res = app.sync("--policy-namespace", namespace)
    assert res.returncode == 3 and "rules[0] (broken): maxDeletes must be a whole number" in res.stderr
    ok(app.sync())  # without a policy: as before
    assert exists("configmap", "c", namespace)


def test_a_prune_budget_exceeded_is_refused_before_any_delete(tmp_path: Path, namespace: str) -> None:
    put_policy(namespace, "rules:\n- {name: careful, apps: ['*'], maxDeletes: 1}\n")
    app = SyncApp(tmp_path, "budget", namespace)
    for i in range(3):
        app.write(f"c{i}.yaml", configmap(f"c{i}", namespace=namespace))
    app.commit()
    ok(app.sync("--policy-namespace", namespace))
    app.remove("c1.yaml").remove("c2.yaml").commit("remove two")
    mark = audit_mark()
    res = app.sync("--policy-namespace", namespace, "--prune", "--yes")
    assert res.returncode == 6, res.stdout + res.stderr
    assert "2 deletions exceed maxDeletes 1 of one run" in res.stderr
    res = app.prune("--policy-namespace", namespace, "--yes")
    assert res.returncode == 6 and "2 deletions exceed maxDeletes 1" in res.stderr
    assert ours(mark, namespace) == []
    assert exists("configmap", "c1", namespace) and exists("configmap", "c2", namespace)
    app.write("c1.yaml", configmap("c1", namespace=namespace)).commit("keep c1")
    ok(app.prune("--policy-namespace", namespace, "--yes"))  # one deletion is within the budget
    assert not exists("configmap", "c2", namespace)


def _service_account_with_a_role(namespace: str) -> str:
    kubectl("create", "serviceaccount", "deployer", "-n", namespace)
    rules = [("configmaps", "get,list,watch,create,patch,update,delete"),
             ("secrets", "get,list,create,patch,update"),  # the app's record
             ("services", "get,list,watch")]  # may read Services, not write them
    for resource, verbs in rules:
        kubectl("create", "role", f"deploy-{resource}", "-n", namespace, f"--verb={verbs}", f"--resource={resource}")
        kubectl("create", "rolebinding", f"deploy-{resource}", "-n", namespace, f"--role=deploy-{resource}",
                f"--serviceaccount={namespace}:deployer")
    kubectl("create", "role", "deploy-leases", "-n", namespace, "--verb=get,create,update,patch,delete",
            "--resource=leases.coordination.k8s.io")
    kubectl("create", "rolebinding", "deploy-leases", "-n", namespace, "--role=deploy-leases",
            f"--serviceaccount={namespace}:deployer")
    return f"system:serviceaccount:{namespace}:deployer"


def test_the_whole_sync_acts_as_the_rules_service_account(tmp_path: Path, namespace: str) -> None:
    identity = _service_account_with_a_role(namespace)
    put_policy(namespace, f"rules:\n- {{name: team, apps: ['*'], serviceAccount: {namespace}/deployer}}\n")
    service = (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {namespace}\nspec:\n"
               "  ports: [{port: 80}]\n")
    app = SyncApp(tmp_path, "as-sa", namespace).write("cm.yaml", configmap("allowed", namespace=namespace))
    app.write("svc.yaml", service).commit()
    mark = audit_mark()
    res = app.sync("--policy-namespace", namespace)
    assert res.returncode == 3, res.stdout + res.stderr  # the API server refused the Service's dry run
    assert f'User "{identity}" cannot patch resource "services"' in res.stderr
    assert ours(mark, namespace) == []
    assert not exists("configmap", "allowed", namespace)

    app.remove("svc.yaml").commit("no service")
    mark = audit_mark()
    ok(app.sync("--policy-namespace", namespace))
    ours_now = [e for e in audit_events_since(mark) if (e.get("objectRef") or {}).get("namespace") == namespace
                and str(e.get("userAgent", "")).startswith("kubectl-gitops")]
    written = {e["objectRef"]["resource"] for e in ours_now if e["verb"] in ("create", "patch", "update", "delete")}
    assert written >= {"configmaps", "secrets", "leases"}
    # reads, dry runs, record, Lease and objects: all as the ServiceAccount
    assert {(e.get("impersonatedUser") or {}).get("username") for e in ours_now} == {identity}
    assert exists("configmap", "allowed", namespace)


def test_as_flags_impersonate_like_kubectl(tmp_path: Path, namespace: str) -> None:
    identity = _service_account_with_a_role(namespace)
    app = SyncApp(tmp_path, "as-flag", namespace).write("cm.yaml", configmap("c", namespace=f"{namespace}-elsewhere"))
    app.commit()
    res = app.run("diff", "--as", identity)
    assert res.returncode == 5, res.stdout + res.stderr
    assert f'User "{identity}" cannot get resource "configmaps"' in res.stderr
    res = app.run("diff", "--as-group", "system:masters")
    assert res.returncode == 3 and "need --as" in res.stderr


def test_signed_commits_unsigned_and_wrongly_signed_are_refused_correctly_signed_accepted(
        tmp_path: Path, namespace: str) -> None:
    import subprocess

    keys = {}
    for who in ("alice", "mallory"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(tmp_path / who)],
                       check=True)
        keys[who] = (tmp_path / f"{who}.pub").read_text().strip()
    signers = f'alice@example.com namespaces="git" {keys["alice"]}'
    put_policy(namespace, "rules:\n- {name: signed, apps: ['*'], requireSigned: true}\n"
                          f"allowedSigners: |\n  {signers}\n")
    app = SyncApp(tmp_path, "signed", namespace).write("cm.yaml", configmap("c", namespace=namespace))

    def signed_by(who: str, message: str) -> str:  # a real SSH signature, made by git
        app.repo.git("add", "-A")
        app.repo.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={tmp_path / who}.pub", "commit", "-q", "-S",
                     "-m", message)
        return app.repo.head()

    unsigned = app.commit("unsigned")
    mark = audit_mark()
    res = app.sync("--policy-namespace", namespace)
    assert res.returncode == 6, res.stdout + res.stderr
    assert f"commit {unsigned[:12]} is not signed" in res.stderr

    app.write("cm.yaml", configmap("c", namespace=namespace, value="2"))
    by_mallory = signed_by("mallory", "mallory")
    res = app.sync("--policy-namespace", namespace)
    assert res.returncode == 6 and f"commit {by_mallory[:12]} is signed by a key that is not an allowed signer" \
        in res.stderr
    assert ours(mark, namespace, dry_run=None) == [] and not exists("configmap", "c", namespace)

    app.write("cm.yaml", configmap("c", namespace=namespace, value="3"))
    by_alice = signed_by("alice", "alice")
    run = app.sync_json("--policy-namespace", namespace)
    assert run.code == 0, str(run)
    assert run.of("signature")[0]["signer"] == "alice@example.com"
    assert kubectl_json("get", "configmap", "c", "-n", namespace)["data"]["value"] == "3"

    # the same with flags, no policy (CI): --require-signed --allowed-signers FILE
    (tmp_path / "allowed").write_text(signers + "\n")
    ok(app.sync("--require-signed", "--allowed-signers", str(tmp_path / "allowed")))
    res = app.sync("--require-signed")
    assert res.returncode == 2 and "--allowed-signers" in res.stderr
    assert app.history()[-1]["commit"].startswith(by_alice[:12])


def test_the_watch_loop_never_changes_a_protected_object_and_reports_it_waiting(tmp_path: Path,
                                                                                namespace: str) -> None:
    from watch_helpers import WatchProc

    put_policy(namespace, f"protected:\n- {{kind: ConfigMap, namespace: {namespace}, name: aws-auth}}\n"
                          "rules:\n- {name: everyone, apps: ['*']}\n")
    app = SyncApp(tmp_path, "watched", namespace).write("aws-auth.yaml", aws_auth(namespace, "    - admin\n"))
    app.commit()
    ok(app.sync("--policy-namespace", namespace, "--confirm-protected", f"ConfigMap/{namespace}/aws-auth"))
    app.write("aws-auth.yaml", aws_auth(namespace, "    - nobody\n"))
    changed = app.commit("lock everyone out")
    w = WatchProc.start(app, "--interval", "1s", "--drift-interval", "0", "--policy-namespace", namespace)
    try:
        waiting = w.wait_event(lambda e: e.get("type") == "watch.waiting" and e.get("commit") == changed,
                               timeout=90, what="the protected change reported as waiting")
        assert waiting["protected"] == [f"ConfigMap/{namespace}/aws-auth"]
        assert "waiting for confirmation" in waiting["message"]
        assert "admin" in kubectl_json("get", "configmap", "aws-auth", "-n", namespace)["data"]["mapUsers"]
        assert w.stop() == 0, w.dump()
    finally:
        w.kill()
    ok(app.sync("--policy-namespace", namespace, "--confirm-protected", f"ConfigMap/{namespace}/aws-auth"))
    assert "nobody" in kubectl_json("get", "configmap", "aws-auth", "-n", namespace)["data"]["mapUsers"]


def test_on_a_terminal_a_protected_change_is_shown_and_asked_about(tmp_path: Path, namespace: str) -> None:
    put_policy(namespace, f"protected:\n- {{kind: ConfigMap, namespace: {namespace}, name: aws-auth}}\n"
                          "rules:\n- {name: everyone, apps: ['*']}\n")
    app = SyncApp(tmp_path, "tty-auth", namespace).write("aws-auth.yaml", aws_auth(namespace, "    - admin\n"))
    app.commit()
    args = ["sync", "--app", "tty-auth", "--record-namespace", namespace, "--policy-namespace", namespace]
    code, out = on_terminal(args, cwd=app.repo.path, answer="n")
    assert code == 6, out
    assert f"Apply the create of protected ConfigMap {namespace}/aws-auth?" in out and "+    - admin" in out
    assert not exists("configmap", "aws-auth", namespace)
    code, out = on_terminal(args, cwd=app.repo.path, answer="y")
    assert code == 0, out
    assert exists("configmap", "aws-auth", namespace)
