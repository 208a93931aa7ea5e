"""The agent's objects (engine.agent_manifests): RBAC from the kinds the repository holds, the Deployment's args
and Git credentials, the Containerfile. Pure; the e2e test (tests/e2e/test_agent.py) dry-runs them on a real
server and runs the agent as its ServiceAccount."""

from __future__ import annotations

from kubectl_gitops.engine.agent_manifests import AgentSpec, Resource, containerfile, manifests

SPEC = AgentSpec(app="shop", namespace="gitops", record_namespace="gitops", image="img:1",
                 repo="https://git.example.com/ops.git", ref="main", path="prod")


def by_kind(objs: list[dict[str, object]], kind: str) -> list[dict]:  # type: ignore[type-arg]
    return [o for o in objs if o["kind"] == kind]


def grants(role: dict) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}


def test_namespaced_kinds_get_a_role_per_namespace_and_no_cluster_role() -> None:
    objs = manifests(SPEC, {"shop": {Resource("apps", "deployments", True), Resource("", "configmaps", True)}})
    roles = {r["metadata"]["namespace"]: r for r in by_kind(objs, "Role")}
    assert set(roles) == {"gitops", "shop"}
    assert grants(roles["shop"]) == {("apps", "deployments"), ("", "configmaps")}
    assert grants(roles["gitops"]) == {("", "secrets"), ("coordination.k8s.io", "leases"), ("", "events"),
                                       ("events.k8s.io", "events")}
    lease_rule = next(r for r in roles["gitops"]["rules"] if r["resources"] == ["leases"])
    assert "delete" not in lease_rule["verbs"]
    assert not by_kind(objs, "ClusterRole") and not by_kind(objs, "ClusterRoleBinding")
    bindings = by_kind(objs, "RoleBinding")
    assert {b["subjects"][0]["name"] for b in bindings} == {"kubectl-gitops-shop"}


def test_cluster_scoped_kinds_get_a_cluster_role() -> None:
    objs = manifests(SPEC, {"": {Resource("", "namespaces", False),
                                 Resource("apiextensions.k8s.io", "customresourcedefinitions", False)}})
    [cr] = by_kind(objs, "ClusterRole")
    assert grants(cr) == {("", "namespaces"), ("apiextensions.k8s.io", "customresourcedefinitions")}
    assert by_kind(objs, "ClusterRoleBinding")[0]["roleRef"]["name"] == cr["metadata"]["name"]


def test_the_deployment_runs_the_watch_loop_with_two_replicas_as_non_root() -> None:
    [d] = by_kind(manifests(SPEC, {}), "Deployment")
    pod = d["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert d["spec"]["replicas"] == 2 and pod["serviceAccountName"] == "kubectl-gitops-shop"
    assert c["args"][:2] == ["sync", "--watch"] and c["args"][c["args"].index("--repo") + 1] == SPEC.repo
    assert c["args"][c["args"].index("--metrics-addr") + 1] == "0.0.0.0:9090"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] and c["securityContext"]["readOnlyRootFilesystem"]
    assert pod["terminationGracePeriodSeconds"] >= 300  # SIGTERM lets the wave finish


def test_git_credentials_come_from_the_secret() -> None:
    token = manifests(AgentSpec(**{**SPEC.__dict__, "repo": None, "git_secret": "ops-git"}), {})
    [c] = by_kind(token, "Deployment")[0]["spec"]["template"]["spec"]["containers"]
    url = next(e for e in c["env"] if e["name"] == "KUBECTL_GITOPS_REPO")
    assert url["valueFrom"]["secretKeyRef"] == {"name": "ops-git", "key": "url"} and "--repo" not in c["args"]
    ssh = manifests(AgentSpec(**{**SPEC.__dict__, "repo": "git@git.example.com:ops.git", "git_secret": "ops-ssh",
                                 "git_auth": "ssh"}), {})
    pod = by_kind(ssh, "Deployment")[0]["spec"]["template"]["spec"]
    assert pod["volumes"][-1]["secret"]["secretName"] == "ops-ssh"
    command = next(e["value"] for e in pod["containers"][0]["env"] if e["name"] == "GIT_SSH_COMMAND")
    assert "StrictHostKeyChecking=yes" in command and "known_hosts" in command


def test_the_containerfile_builds_from_the_released_bundle() -> None:
    text = containerfile("1.2.3")
    assert "kubectl-gitops_v${VERSION}_linux_${TARGETARCH}.tar.gz" in text and "ARG VERSION=1.2.3" in text
    assert "USER 65532:65532" in text and 'ENTRYPOINT ["kubectl-gitops"]' in text


def test_an_agent_of_several_apps_watches_every_path_without_an_app_name() -> None:
    from dataclasses import replace

    from kubectl_gitops.engine.agent_manifests import agent_args

    args = agent_args(replace(SPEC, app="shop", paths=("prod/web", "prod/db")))
    assert args[:4] == ["sync", "--watch", "prod/web", "prod/db"]
    assert "--app" not in args and "--path" not in args and args[args.index("--repo") + 1] == SPEC.repo
    assert agent_args(SPEC)[:4] == ["sync", "--watch", "--app", "shop"] and "--path" in agent_args(SPEC)
