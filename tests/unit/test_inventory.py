"""The app record (ApplySet parent), app names and ownership: pure functions, plain data."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from kubectl_gitops.engine.app_names import default_app_name, validate_app_name
from kubectl_gitops.engine.inventory import (
    ANN_ADDITIONAL_NAMESPACES,
    ANN_GROUP_KINDS,
    ANN_TOOLING,
    HISTORY_LIMIT,
    LABEL_APPLYSET_ID,
    LABEL_PART_OF,
    TOOLING,
    AppRef,
    HistoryEntry,
    Record,
    Scope,
    applyset_id,
    parent_object,
    parse_parent,
)
from kubectl_gitops.engine.ownership import conflicts_error, owner_of, ownership_conflicts
from kubectl_gitops.errors import ExitCode, RefusedError, UsageError
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.source.remote import normalize_remote

APP = AppRef("web", "team-a")


def key(kind: str, name: str, namespace: str = "", group: str = "") -> ResourceKey:
    return ResourceKey(group, kind, namespace, name)


def obj(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
        managers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x", "namespace": "team-a", "labels": labels or {},
                            "annotations": annotations or {}}
    if managers:
        meta["managedFields"] = [{"manager": m, "operation": "Apply"} for m in managers]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


# --- identity --------------------------------------------------------------------------------------------

def test_applyset_id_is_the_one_kubectl_computes() -> None:
    # Recorded from `KUBECTL_APPLYSET=true kubectl apply --prune --applyset=kubectl-gitops.demo -n idcheck`
    # (kubectl v1.32) against the local control plane: the parent Secret's applyset.kubernetes.io/id label.
    assert applyset_id("kubectl-gitops.demo", "idcheck") == "applyset-NYeitnW6oRDCZojnw59q8PcHSjehtSdFtpnPfegJsFI-v1"


def test_app_ref_names_its_parent_and_member_selector() -> None:
    assert APP.parent_name == "kubectl-gitops.web"
    assert APP.id == applyset_id("kubectl-gitops.web", "team-a")
    assert APP.selector == f"{LABEL_PART_OF}={APP.id}"
    assert AppRef("web", "team-b").id != APP.id  # the record namespace is part of the identity


# --- app names -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("remote", [
    "https://github.com/acme/deploy.git",
    "https://user:s3cret@github.com/acme/deploy",
    "ssh://git@github.com/acme/deploy.git",
    "ssh://git@github.com:22/acme/deploy.git",
    "git@github.com:acme/deploy.git",
    "github.com:acme/deploy",
])
def test_every_spelling_of_a_remote_gives_the_same_app_name(remote: str) -> None:
    assert normalize_remote(remote) == "github.com/acme/deploy"
    assert default_app_name(remote, "checkout-dir", "apps/web") == "github-com-acme-deploy-apps-web"


@pytest.mark.parametrize(("remote", "folder", "path", "expected"), [
    (None, "deploy", ".", "deploy"),
    (None, "My Repo", "apps/Web_1", "my-repo-apps-web-1"),
    ("https://gitlab.example.com/g/sub/repo.git", "x", ".", "gitlab-example-com-g-sub-repo"),
    (None, None, ".", "app"),
])
def test_default_app_name_from_remote_or_folder_and_path(remote: str | None, folder: str | None, path: str,
                                                         expected: str) -> None:
    assert default_app_name(remote, folder, path) == expected


def test_a_long_default_app_name_is_cut_to_63_with_a_stable_hash() -> None:
    long_path = "/".join(["environments", "production", "europe-west", "services", "payments", "api"])
    a = default_app_name("https://github.com/acme-corporation/platform-deployments", None, long_path)
    b = default_app_name("https://github.com/acme-corporation/platform-deployments", None, long_path)
    other = default_app_name("https://github.com/acme-corporation/platform-deployments", None, long_path + "2")
    assert len(a) <= 63 and a == b and a != other
    assert a.startswith("github-com-acme-corporation-platform-deployments-env")
    assert validate_app_name(a) == a


@pytest.mark.parametrize(("name", "ok"), [
    ("web", True), ("web-1", True), ("team.web", True), ("a", True), ("x" * 63, True),
    ("x" * 64, False), ("Web", False), ("-web", False), ("web-", False), ("we_b", False), ("", False),
])
def test_app_names_must_make_a_valid_secret_name(name: str, ok: bool) -> None:
    if ok:
        assert validate_app_name(name) == name
    else:
        with pytest.raises(UsageError):
            validate_app_name(name)


# --- scope -----------------------------------------------------------------------------------------------

def test_scope_annotations_are_sorted_core_kinds_bare_and_without_the_record_namespace() -> None:
    scope = Scope.of([key("Deployment", "web", "team-a", "apps"), key("ConfigMap", "c", "team-b"),
                      key("Namespace", "team-b"), key("Widget", "w", "team-a", "example.com")])
    assert scope.annotations("team-a") == {ANN_GROUP_KINDS: "ConfigMap,Deployment.apps,Namespace,Widget.example.com",
                                           ANN_ADDITIONAL_NAMESPACES: "team-b"}
    assert Scope.from_annotations(scope.annotations("team-a"), "team-a") == scope
    assert scope.search_namespaces("team-a") == ["team-a", "team-b"]
    assert Scope().search_namespaces("ops") == ["ops"]  # the record's namespace is always searched


def test_scope_union_covers_both_sides() -> None:
    old = Scope(frozenset({"ConfigMap"}), frozenset({"a"}))
    new = Scope(frozenset({"Secret"}), frozenset({"b"}))
    both = old.union(new)
    assert both.covers(old) and both.covers(new)
    assert not old.covers(new)


# --- the parent object -------------------------------------------------------------------------------------

def test_parent_object_round_trips_through_parse_parent() -> None:
    record = Record(APP, Scope(frozenset({"ConfigMap", "Deployment.apps"}), frozenset({"team-a", "team-b"})),
                    exists=True, source="github.com/acme/deploy apps/web")
    record = record.with_entry(HistoryEntry(0, "sync", "succeeded", commit="abc", counts={"created": 2}))
    live = parent_object(record)
    assert live["kind"] == "Secret" and live["metadata"]["name"] == "kubectl-gitops.web"
    assert live["metadata"]["labels"][LABEL_APPLYSET_ID] == APP.id
    assert live["metadata"]["annotations"][ANN_TOOLING] == TOOLING
    assert LABEL_PART_OF not in live["metadata"]["labels"]  # the parent is never its own member
    back = parse_parent(live, APP)
    assert back.scope == record.scope
    assert [h.to_json() for h in back.history] == [h.to_json() for h in record.history]
    assert back.source == record.source and back.exists


@pytest.mark.parametrize(("annotations", "labels", "says"), [
    ({ANN_TOOLING: "kubectl/v1.32"}, {LABEL_APPLYSET_ID: APP.id}, "managed by 'kubectl'"),
    ({ANN_TOOLING: "helm/v3"}, {LABEL_APPLYSET_ID: APP.id}, "managed by 'helm'"),
    ({}, {LABEL_APPLYSET_ID: APP.id}, "not an ApplySet parent of kubectl-gitops"),
    ({ANN_TOOLING: TOOLING}, {LABEL_APPLYSET_ID: "applyset-other-v1"}, "expected"),
])
def test_a_parent_of_another_tool_or_with_a_wrong_id_is_refused(annotations: dict[str, str],
                                                                 labels: dict[str, str], says: str) -> None:
    live = {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": APP.parent_name, "namespace": APP.namespace, "labels": labels,
                         "annotations": annotations}}
    with pytest.raises(RefusedError) as e:
        parse_parent(live, APP)
    assert says in e.value.message
    assert e.value.exit_code == ExitCode.REFUSED


def test_a_parent_of_an_older_kubectl_gitops_version_is_ours() -> None:
    live = parent_object(Record(APP))
    live["metadata"]["annotations"][ANN_TOOLING] = "kubectl-gitops/v0.0.1"
    assert parse_parent(live, APP).exists


def test_a_damaged_history_does_not_block_the_record() -> None:
    live = parent_object(Record(APP, Scope(frozenset({"ConfigMap"}))))
    live["data"]["history"] = base64.b64encode(b"{not json").decode()
    record = parse_parent(live, APP)
    assert record.history == () and record.scope.group_kinds == {"ConfigMap"}


def test_history_revisions_grow_and_only_the_last_20_are_kept() -> None:
    record = Record(APP)
    for i in range(HISTORY_LIMIT + 5):
        record = record.with_entry(HistoryEntry(0, "sync", "succeeded", commit=f"c{i}"))
    assert len(record.history) == HISTORY_LIMIT
    assert [h.revision for h in record.history] == list(range(6, HISTORY_LIMIT + 6))
    assert record.history[-1].commit == f"c{HISTORY_LIMIT + 4}"
    assert record.next_revision == HISTORY_LIMIT + 6


def test_history_entries_are_plain_json() -> None:
    entry = HistoryEntry(3, "prune", "failed", time="2024-05-01T12:00:00Z", user="ana", context="prod",
                         commit="abc", ref="main", path="apps", counts={"pruned": 1}, message="m", seconds=1.23456)
    doc = json.loads(json.dumps(entry.to_json()))
    assert HistoryEntry.from_json(doc) == HistoryEntry(3, "prune", "failed", time="2024-05-01T12:00:00Z", user="ana",
                                                       context="prod", commit="abc", ref="main", path="apps",
                                                       counts={"pruned": 1}, message="m", seconds=1.235)


# --- ownership ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("live", "owner"), [
    (obj(labels={LABEL_PART_OF: APP.id}), None),
    (obj(), None),
    (obj(labels={LABEL_PART_OF: "applyset-xyz-v1"}), "ApplySet applyset-xyz-v1"),
    (obj(annotations={"argocd.argoproj.io/tracking-id": "gb:apps/Deployment:team-a/web"}), "Argo CD app gb"),
    # The instance label alone is Helm's and kustomize's standard label: not Argo's without Argo's own writes.
    (obj(labels={"app.kubernetes.io/instance": "web"}, managers=["helm", "kubectl-client-side-apply"]), None),
    (obj(labels={"app.kubernetes.io/instance": "guestbook"}, managers=["argocd-controller"]), "Argo CD app guestbook"),
    (obj(labels={"app.kubernetes.io/instance": "gb"}, managers=["argocd-application-controller"]), "Argo CD app gb"),
    (obj(labels={"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}),
     "Flux Kustomization flux-system/apps"),
    (obj(labels={"helm.toolkit.fluxcd.io/name": "redis"}), "Flux HelmRelease redis"),
    (obj(labels={"kapp.k14s.io/app": "1700000000"}), "kapp app 1700000000"),
    (obj(annotations={"meta.helm.sh/release-name": "db", "meta.helm.sh/release-namespace": "data"}),
     "Helm release data/db"),
    # Ours wins over leftovers of a tool it was adopted from.
    (obj(labels={LABEL_PART_OF: APP.id}, annotations={"argocd.argoproj.io/tracking-id": "gb:/ConfigMap:a/x"}), None),
])
def test_owner_of_names_the_other_tool(live: dict[str, Any], owner: str | None) -> None:
    found = owner_of(live, APP.id)
    assert (None if found is None else f"{found.tool} {found.name}") == owner


def test_ownership_conflicts_list_every_existing_object_that_is_not_ours() -> None:
    mine, argo, nobody, missing = (key("ConfigMap", n, "team-a") for n in ("mine", "argo", "nobody", "missing"))
    live = {mine: obj(labels={LABEL_PART_OF: APP.id}),
            argo: obj(annotations={"argocd.argoproj.io/tracking-id": "gb:/ConfigMap:team-a/argo"}),
            nobody: obj()}
    conflicts = ownership_conflicts([nobody, mine, argo, missing], live, APP.id, where={argo: "argo.yaml:1"})
    assert [c.key for c in conflicts] == [argo, nobody]
    assert conflicts[0].owner is not None and conflicts[0].owner.tool == "Argo CD"
    assert conflicts[1].owner is None
    err = conflicts_error(conflicts, APP, {})
    assert err.exit_code == ExitCode.REFUSED
    assert len(err.details) == 2
    assert "argo.yaml:1" in err.details[0] and "Argo CD app gb" in err.details[0]
    assert "belongs to no app" in err.details[1]
    assert err.hint is not None and "--adopt" in err.hint


def test_a_conflict_with_another_app_names_its_record() -> None:
    other = AppRef("api", "team-b")
    k = key("ConfigMap", "shared", "team-a")
    conflicts = ownership_conflicts([k], {k: obj(labels={LABEL_PART_OF: other.id})}, APP.id)
    err = conflicts_error(conflicts, APP, {other.id: "kubectl-gitops app api (Secret team-b/kubectl-gitops.api)"})
    assert "kubectl-gitops app api (Secret team-b/kubectl-gitops.api)" in err.details[0]


def test_diff_notes_objects_sync_would_refuse_without_adopt() -> None:
    from kubectl_gitops.engine.diff import Change, Op
    from kubectl_gitops.ops.app import note_ownership

    mine, theirs, new = (key("ConfigMap", n, "team-a") for n in ("mine", "theirs", "new"))
    changes = [Change(mine, Op.UNCHANGED, None, None, None), Change(theirs, Op.UPDATE, None, None, None),
               Change(new, Op.CREATE, None, None, None)]
    live = {mine: obj(labels={LABEL_PART_OF: APP.id}), theirs: obj(labels={"kapp.k14s.io/app": "17"})}
    note_ownership(changes, live, APP)
    assert [c.note for c in changes] == [
        "", "not owned by app web (belongs to kapp app 17 (label kapp.k14s.io/app)): sync refuses it without --adopt",
        ""]
