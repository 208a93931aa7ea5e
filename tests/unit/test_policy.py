"""The policy: reading and validating it (exit 3 naming the rule), evaluating a run against it, and the offline
commands that show it (`policy check`, `waves --policy`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from source_helpers import GitRepo

from kubectl_gitops.cli.main import main
from kubectl_gitops.cluster.kubeconfig import flag_impersonation
from kubectl_gitops.engine.policy import PolicyError, parse_policy
from kubectl_gitops.engine.policy_check import confirm_token, confirmed_by, evaluate
from kubectl_gitops.errors import ExitCode, InvalidInputError
from kubectl_gitops.model import ResourceKey

POLICY = """
apiVersion: gitops.kubectl.dev/v1alpha1
kind: Policy
protected:
  - {kind: ConfigMap, namespace: kube-system, name: aws-auth}
rules:
  - name: payments
    apps: ["payments-*"]
    namespaces: ["payments", "payments-*"]
    denyKinds: [{group: rbac.authorization.k8s.io}]
    clusterScoped: false
    serviceAccount: payments/deployer
    maxDeletes: 2
    protected:
      - {group: apps, kind: Deployment, namespace: payments, name: ledger}
  - name: platform
    apps: ["*"]
    allowKinds: [{group: "", kind: "*"}, {group: apps}]
"""

CM = ResourceKey("", "ConfigMap", "payments", "settings")
DEPLOY = ResourceKey("apps", "Deployment", "payments", "ledger")


def policy():  # type: ignore[no-untyped-def]
    return parse_policy(POLICY, "file policy.yaml")


def test_the_first_rule_whose_apps_match_wins() -> None:
    p = policy()
    assert p.rule_for("payments-api").name == "payments"  # type: ignore[union-attr]
    assert p.rule_for("web").name == "platform"  # type: ignore[union-attr]
    assert p.rule_for("payments-api").identity == "system:serviceaccount:payments:deployer"  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "problem"), [
    ("rules: {}", "`rules` must be a list"),
    ("rules:\n- apps: [a]", "rules[0]: `name` is required"),
    ("rules:\n- name: x\n  apps: []", "rules[0] (x): apps must be a non-empty list"),
    ("rules:\n- name: x\n  apps: [a]\n  namespace: [b]", "rules[0] (x): unknown field 'namespace'"),
    ("rules:\n- name: x\n  apps: [a]\n  maxDeletes: -1", "rules[0] (x): maxDeletes must be a whole number"),
    ("rules:\n- name: x\n  apps: [a]\n  maxDeletes: true", "rules[0] (x): maxDeletes must be a whole number"),
    ("rules:\n- name: x\n  apps: [a]\n  clusterScoped: 'no'", "rules[0] (x): clusterScoped must be true or false"),
    ("rules:\n- name: x\n  apps: [a]\n  serviceAccount: deployer", "rules[0] (x): serviceAccount must be "
                                                                   "NAMESPACE/NAME"),
    ("rules:\n- name: x\n  apps: [a]\n  denyKinds: [Secret]", "rules[0] (x): denyKinds[0] must be a mapping"),
    ("rules:\n- name: x\n  apps: [a]\n  protected: [{knd: Secret}]", "rules[0] (x): protected[0] must be"),
    ("rules:\n- name: x\n  apps: [a]\n  requireSigned: true", "requireSigned but the policy has no allowedSigners"),
    ("rules:\n- name: x\n  apps: [a]\n- name: x\n  apps: [b]", "two rules are named 'x'"),
    ("kind: AppProject\nrules: []", "kind must be Policy"),
])
def test_an_invalid_policy_is_invalid_input_naming_the_rule(text: str, problem: str) -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy(text, "file p.yaml")
    assert e.value.exit_code == ExitCode.INVALID_INPUT
    assert "p.yaml" in e.value.message
    assert any(problem in line for line in [e.value.message, *e.value.details]), (e.value.message, e.value.details)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy("rules:\n- name: a\n  apps: [x]\n  maxDeletes: -1\n- name: b\n  apps: 3\n", "file p.yaml")
    assert "2 problems" in e.value.message
    assert [d.split(":")[0] for d in e.value.details] == ["rules[0] (a)", "rules[1] (b)"]


def test_yaml_errors_name_the_line() -> None:
    with pytest.raises(PolicyError, match="line 3: not valid YAML"):
        parse_policy("rules:\n  - name: a\n  b: c\n", "ConfigMap ns/kubectl-gitops-policy")


def test_without_a_policy_everything_is_allowed() -> None:
    verdict = evaluate(None, "anything", {ResourceKey("rbac.authorization.k8s.io", "ClusterRole", "", "x"): "create"})
    assert verdict.violations == [] and verdict.refusal() is None


def test_violations_are_listed_together_with_object_rule_and_why() -> None:
    apply = {CM: "create", ResourceKey("", "Secret", "kube-system", "stolen"): "create",
             ResourceKey("rbac.authorization.k8s.io", "Role", "payments", "admin"): "create",
             ResourceKey("", "Namespace", "", "payments-eu"): "create",
             ResourceKey("", "Namespace", "", "other"): "create"}
    verdict = evaluate(policy(), "payments-api", apply)
    lines = [str(v) for v in verdict.violations]
    assert lines == [
        "Secret kube-system/stolen (apply): namespace 'kube-system' is not an allowed destination "
        "(namespaces: payments, payments-*) [rules[0] (payments)]",
        "Role.rbac.authorization.k8s.io payments/admin (apply): kind Role.rbac.authorization.k8s.io is denied "
        "(denyKinds: *.rbac.authorization.k8s.io) [rules[0] (payments)]",
        "Namespace payments-eu (apply): cluster-scoped objects are not allowed (clusterScoped: false) "
        "[rules[0] (payments)]",
        "Namespace other (apply): namespace 'other' is not an allowed destination (namespaces: payments, "
        "payments-*) [rules[0] (payments)]",
        "Namespace other (apply): cluster-scoped objects are not allowed (clusterScoped: false) [rules[0] (payments)]",
    ]
    err = verdict.refusal()
    assert err is not None and err.exit_code == ExitCode.REFUSED and "5 policy violation(s)" in err.message


def test_allow_kinds_is_a_whitelist() -> None:
    verdict = evaluate(policy(), "web", {CM: "create", ResourceKey("batch", "Job", "web", "j"): "create",
                                          DEPLOY: "update"})
    assert [(str(v.key), v.why) for v in verdict.violations] == [
        ("Job.batch web/j", "kind Job.batch is not in allowKinds")]


def test_an_app_no_rule_matches_is_refused() -> None:
    p = parse_policy("rules:\n- name: only\n  apps: [billing]\n", "file p.yaml")
    verdict = evaluate(p, "web", {CM: "unchanged"})
    assert len(verdict.violations) == 1 and "no rule matches app 'web'" in verdict.violations[0].why


def test_deletions_are_held_to_the_rules_and_the_budget() -> None:
    deletes = [ResourceKey("", "ConfigMap", "payments", f"c{i}") for i in range(3)]
    verdict = evaluate(policy(), "payments-api", {}, deletes)
    assert [v.why for v in verdict.violations] == ["3 deletions exceed maxDeletes 2 of one run"]
    assert evaluate(policy(), "payments-api", {}, deletes[:2]).violations == []
    outside = evaluate(policy(), "payments-api", {}, [ResourceKey("", "ConfigMap", "default", "x")])
    assert outside.violations[0].action == "delete" and "'default' is not an allowed" in outside.violations[0].why


def test_protected_changes_need_confirmation_unchanged_ones_do_not() -> None:
    aws = ResourceKey("", "ConfigMap", "kube-system", "aws-auth")
    p = parse_policy("protected: [{kind: ConfigMap, namespace: kube-system, name: aws-auth}]\n"
                     "rules: [{name: all, apps: ['*']}]", "file p.yaml")
    assert evaluate(p, "infra", {aws: "unchanged"}).protected == []
    verdict = evaluate(p, "infra", {aws: "update"})
    assert [(str(pc.key), pc.op, pc.token) for pc in verdict.protected] == [
        ("ConfigMap kube-system/aws-auth", "update", "ConfigMap/kube-system/aws-auth")]
    err = verdict.refusal()
    assert err is not None and "--confirm-protected ConfigMap/kube-system/aws-auth" in (err.hint or "")
    assert verdict.refusal(["configmap/kube-system/aws-auth"]) is None
    assert verdict.refusal(["ConfigMap/default/aws-auth"]) is not None
    assert [pc.op for pc in evaluate(p, "infra", {}, [aws]).protected] == ["delete"]


def test_rule_protected_objects_apply_to_that_rule_only() -> None:
    assert [str(pc.key) for pc in evaluate(policy(), "payments-api", {DEPLOY: "update"}).protected] == [
        "Deployment.apps payments/ledger"]
    assert evaluate(policy(), "web", {DEPLOY: "update"}).protected == []


@pytest.mark.parametrize(("key", "tokens", "ok"), [
    (DEPLOY, ["Deployment.apps/payments/ledger"], True),
    (DEPLOY, ["deployment/payments/ledger"], True),
    (DEPLOY, ["Deployment/payments/other"], False),
    (ResourceKey("rbac.authorization.k8s.io", "ClusterRole", "", "admin"), ["ClusterRole/admin"], True),
    (ResourceKey("rbac.authorization.k8s.io", "ClusterRole", "", "admin"), ["ClusterRole//admin"], True),
])
def test_confirm_tokens(key: ResourceKey, tokens: list[str], ok: bool) -> None:
    assert confirmed_by(key, tokens) is ok
    assert confirmed_by(key, [confirm_token(key)])


def test_impersonation_flags_replace_the_kubeconfig_users_and_need_as() -> None:
    assert flag_impersonation(None) is None
    assert flag_impersonation("jane", ("dev", "ops"), "42") == (
        ("Impersonate-User", "jane"), ("Impersonate-Uid", "42"), ("Impersonate-Group", "dev"),
        ("Impersonate-Group", "ops"))
    with pytest.raises(InvalidInputError, match="need --as"):
        flag_impersonation(None, ("dev",))


# --- offline commands --------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_policy_check_shows_the_rules_and_the_rule_of_an_app(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text(POLICY)
    code, out, err = run(capsys, "policy", "check", "--policy", str(f))
    assert code == 0, err
    assert "valid, 2 rule(s)" in out and "payments" in out and "system:serviceaccount:payments:deployer" in out
    code, out, _ = run(capsys, "policy", "check", "--policy", str(f), "--app", "payments-api", "-o", "json")
    doc = json.loads(out)
    assert code == 0 and [r["name"] for r in doc["rules"]] == ["payments"] and doc["rules"][0]["maxDeletes"] == 2
    f.write_text("rules:\n- name: x\n  apps: [a]\n")
    code, out, _ = run(capsys, "policy", "check", "--policy", str(f), "--app", "web")
    assert code == ExitCode.REFUSED and "no rule matches" in out


def test_policy_check_of_an_invalid_file_exits_3_naming_the_rule(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text("rules:\n- name: team-a\n  apps: [a]\n  maxDeletes: lots\n")
    code, _, err = run(capsys, "policy", "check", "--policy", str(f))
    assert code == ExitCode.INVALID_INPUT
    assert "rules[0] (team-a): maxDeletes must be a whole number" in err
    code, _, err = run(capsys, "policy", "check")
    assert code == ExitCode.USAGE and "--policy FILE" in err


def test_waves_with_a_policy_file_lists_violations_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: payments}\n---\n"
                          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: elsewhere}\n---\n"
                          "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ledger, namespace: payments}\n"
                          "spec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, "
                          "spec: {containers: [{name: c, image: x}]}}}\n")
    repo.commit()
    f = tmp_path / "policy.yaml"
    f.write_text(POLICY)
    monkeypatch.chdir(repo.path)
    code, out, err = run(capsys, "waves", "--policy", str(f), "--app", "payments-api")
    assert code == ExitCode.REFUSED, err
    assert "1 violation(s)" in err and "ConfigMap elsewhere/b (apply): namespace 'elsewhere'" in err
    assert "protected: Deployment.apps payments/ledger (unknown)" in err
    code, out, err = run(capsys, "waves", "--policy", str(f), "--app", "payments-api", "-o", "json")
    steps = {s["name"]: s for s in json.loads(out)}
    assert steps["b"]["policy"] and not steps["a"]["policy"] and steps["ledger"]["protected"] is True
    code, out, err = run(capsys, "waves", "--app", "payments-api")
    assert code == 0 and "policy" not in err  # no policy: as before


def test_the_json_schema_names_exactly_the_fields_the_reader_knows() -> None:
    from kubectl_gitops.engine import policy as model

    schema = json.loads((Path(__file__).parents[2] / "docs" / "policy.schema.json").read_text())
    assert set(schema["properties"]) == model._TOP
    assert set(schema["$defs"]["rule"]["properties"]) == model._RULE
    assert set(schema["$defs"]["kind"]["properties"]) == model._KIND
    assert set(schema["$defs"]["object"]["properties"]) == model._OBJECT


def test_a_client_dry_run_of_sync_checks_a_policy_file_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: elsewhere}\n")
    repo.commit()
    f = tmp_path / "policy.yaml"
    f.write_text(POLICY)
    monkeypatch.chdir(repo.path)
    code, _, err = run(capsys, "sync", "--dry-run=client", "--policy", str(f), "--app", "payments-api")
    assert code == ExitCode.REFUSED and "namespace 'elsewhere' is not an allowed destination" in err
