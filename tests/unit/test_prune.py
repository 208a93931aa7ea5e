"""Prune selection: what is deleted, what is never deleted, and in which order. Pure, plain data."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_gitops.engine.inventory import LABEL_PART_OF, AppRef, Scope
from kubectl_gitops.engine.prune import (
    PruneOptions,
    Selection,
    batches,
    check_not_empty,
    namespace_blockers,
    namespace_candidates,
    select,
)
from kubectl_gitops.engine.prune_delete import PruneOutcome
from kubectl_gitops.engine.prune_plan import PruneReport
from kubectl_gitops.engine.run_record import final_scope
from kubectl_gitops.errors import ExitCode, RefusedError
from kubectl_gitops.model import ResourceKey

APP = AppRef("web", "team-a")
API_VERSIONS = {"": "v1", "apps": "apps/v1", "apiextensions.k8s.io": "apiextensions.k8s.io/v1",
                "example.com": "example.com/v1", "batch": "batch/v1"}


def member(kind: str, name: str, namespace: str = "team-a", group: str = "", *,
           annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None, ours: bool = True,
           owners: bool = False) -> tuple[ResourceKey, Any]:
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{kind}-{name}", "annotations": annotations or {},
                            "labels": {**({LABEL_PART_OF: APP.id} if ours else {}), **(labels or {})}}
    if namespace:
        meta["namespace"] = namespace
    if owners:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": "rs", "uid": "u"}]
    live = {"apiVersion": API_VERSIONS[group], "kind": kind, "metadata": meta}
    return ResourceKey(group, kind, namespace, name), live


def names(cands: list[Any]) -> list[str]:
    return [f"{c.key.kind}/{c.key.name}" for c in cands]


def test_only_our_members_that_left_git_are_candidates() -> None:
    kept_in_git = member("ConfigMap", "still-there")
    gone = member("ConfigMap", "removed")
    foreign = member("ConfigMap", "foreign", labels={LABEL_PART_OF: "applyset-other-v1"}, ours=False)
    unlabelled = member("ConfigMap", "unlabelled", ours=False)
    sel = select([kept_in_git, gone, foreign, unlabelled], {kept_in_git[0]}, APP.id, PruneOptions())
    assert names(sel.delete) == ["ConfigMap/removed"]
    assert sel.kept == [] and sel.confirm == []


@pytest.mark.parametrize(("annotations", "kind", "group", "reason"), [
    ({"argocd.argoproj.io/sync-options": "Prune=false"}, "ConfigMap", "", "Prune=false"),
    ({"argocd.argoproj.io/sync-options": "ServerSideApply=true, Prune=false"}, "ConfigMap", "", "Prune=false"),
    ({"kustomize.toolkit.fluxcd.io/prune": "disabled"}, "ConfigMap", "", "kustomize.toolkit.fluxcd.io/prune"),
    ({"argocd.argoproj.io/hook": "PreSync"}, "Job", "batch", "a hook"),
    ({"helm.sh/hook": "pre-install"}, "Job", "batch", "a hook"),
    ({}, "CustomResourceDefinition", "apiextensions.k8s.io", "--allow-crd-deletion"),
])
def test_guarded_members_are_kept_with_the_reason(annotations: dict[str, str], kind: str, group: str,
                                                  reason: str) -> None:
    m = member(kind, "x", "" if kind == "CustomResourceDefinition" else "team-a", group, annotations=annotations)
    sel = select([m], set(), APP.id, PruneOptions())
    assert sel.delete == [] and len(sel.kept) == 1
    assert reason in sel.kept[0].reason


def test_a_crd_is_pruned_only_with_allow_crd_deletion() -> None:
    crd = member("CustomResourceDefinition", "widgets.example.com", "", "apiextensions.k8s.io")
    assert names(select([crd], set(), APP.id, PruneOptions(allow_crd_deletion=True)).delete) == \
        ["CustomResourceDefinition/widgets.example.com"]


def test_prune_confirm_objects_wait_for_confirmation() -> None:
    m = member("ConfigMap", "precious", annotations={"argocd.argoproj.io/sync-options": "Prune=confirm"})
    plain = member("ConfigMap", "plain")
    sel = select([m, plain], set(), APP.id, PruneOptions())
    assert names(sel.confirm) == ["ConfigMap/precious"] and names(sel.delete) == ["ConfigMap/plain"]
    assert names(sel.approved(include_confirm=False)) == ["ConfigMap/plain"]
    assert sorted(names(sel.approved(include_confirm=True))) == ["ConfigMap/plain", "ConfigMap/precious"]
    confirmed = select([m, plain], set(), APP.id, PruneOptions(confirm_prune=True))
    assert sorted(names(confirmed.delete)) == ["ConfigMap/plain", "ConfigMap/precious"] and confirmed.confirm == []


def test_deletion_order_is_the_sync_order_reversed_with_prune_last_at_the_end() -> None:
    wave = "argocd.argoproj.io/sync-wave"
    members = [
        member("Namespace", "team-a", ""),
        member("ConfigMap", "config"),
        member("Service", "web"),
        member("Deployment", "web", group="apps"),
        member("Deployment", "late", group="apps", annotations={wave: "2"}),
        member("Secret", "early", annotations={wave: "-1"}),
        member("CustomResourceDefinition", "widgets.example.com", "", "apiextensions.k8s.io"),
        member("Widget", "w1", group="example.com"),
        member("ConfigMap", "last", annotations={"argocd.argoproj.io/sync-options": "PruneLast=true"}),
    ]
    sel = select(members, set(), APP.id, PruneOptions(allow_crd_deletion=True), namespace_contents={"team-a": []})
    assert names(sel.delete) == [
        "Deployment/late",  # wave 2 first
        "Widget/w1",  # custom resources before their CRD
        "Deployment/web", "Service/web", "CustomResourceDefinition/widgets.example.com", "ConfigMap/config",
        "Namespace/team-a",  # a Namespace after everything in it
        "Secret/early",  # wave -1 after wave 0
        "ConfigMap/last",  # PruneLast after all others
    ]
    assert [names(b) for b in batches(sel.delete)][:3] == [["Deployment/late"], ["Widget/w1"], ["Deployment/web"]]


def test_one_batch_holds_the_objects_of_one_wave_and_kind() -> None:
    sel = select([member("ConfigMap", n) for n in "abc"] + [member("Secret", "s")], set(), APP.id, PruneOptions())
    assert [len(b) for b in batches(sel.delete)] == [3, 1]


# --- the Namespace guard ---------------------------------------------------------------------------------

def contents(*items: tuple[ResourceKey, Any]) -> list[Any]:
    return [o for _, o in items]


def test_a_namespace_holding_objects_of_others_is_kept() -> None:
    ns = member("Namespace", "shared", "")
    foreign = member("ConfigMap", "someone-elses", "shared", ours=False)
    sel = select([ns], set(), APP.id, PruneOptions(), namespace_contents={"shared": contents(foreign)})
    assert sel.delete == []
    assert "still holds 1 object(s)" in sel.kept[0].reason and "ConfigMap shared/someone-elses" in sel.kept[0].reason


def test_a_namespace_holding_objects_still_in_git_is_kept() -> None:
    ns = member("Namespace", "apps", "")
    desired = member("ConfigMap", "still-in-git", "apps")
    sel = select([ns, desired], {desired[0]}, APP.id, PruneOptions(), namespace_contents={"apps": contents(desired)})
    assert sel.delete == [] and "still-in-git" in sel.kept[0].reason


def test_a_namespace_holding_a_kept_member_is_kept() -> None:
    ns = member("Namespace", "apps", "")
    keep = member("ConfigMap", "keep", "apps", annotations={"argocd.argoproj.io/sync-options": "Prune=false"})
    sel = select([ns, keep], set(), APP.id, PruneOptions(), namespace_contents={"apps": contents(keep)})
    assert sel.delete == [] and sorted(names(sel.kept)) == ["ConfigMap/keep", "Namespace/apps"]


def test_a_namespace_holding_only_what_is_pruned_and_what_the_cluster_made_is_deleted() -> None:
    ns = member("Namespace", "apps", "")
    pruned = member("ConfigMap", "old", "apps")
    svc = member("Service", "web", "apps")
    auto = [member("ServiceAccount", "default", "apps", ours=False),
            member("ConfigMap", "kube-root-ca.crt", "apps", ours=False),
            member("Event", "web.17a", "apps", ours=False),
            member("Endpoints", "web", "apps", ours=False),
            member("Pod", "web-abc", "apps", ours=False, owners=True)]
    sel = select([ns, pruned, svc], set(), APP.id, PruneOptions(),
                 namespace_contents={"apps": contents(pruned, svc, *auto)})
    assert names(sel.delete) == ["Service/web", "ConfigMap/old", "Namespace/apps"]
    assert sel.kept == []


def test_endpoints_without_a_service_of_that_name_keep_the_namespace() -> None:
    stray = member("Endpoints", "external-db", "apps", ours=False)
    assert namespace_blockers(contents(stray), APP.id, set()) == [stray[0]]


def test_a_namespace_whose_contents_were_not_read_is_listed_with_a_note() -> None:
    ns = member("Namespace", "apps", "")
    sel = select([ns], set(), APP.id, PruneOptions(), namespace_contents=None)
    assert names(sel.delete) == ["Namespace/apps"] and "only if it holds nothing else" in sel.delete[0].note
    assert namespace_candidates([ns], set()) == ["apps"] and namespace_candidates([ns], {ns[0]}) == []


# --- the empty-render guard ------------------------------------------------------------------------------

def test_an_empty_render_that_would_delete_everything_is_refused() -> None:
    sel = select([member("ConfigMap", "a"), member("ConfigMap", "b")], set(), APP.id, PruneOptions())
    with pytest.raises(RefusedError) as e:
        check_not_empty(0, sel, PruneOptions(), APP)
    assert e.value.exit_code == ExitCode.REFUSED and "all 2" in e.value.message
    assert e.value.hint is not None and "--allow-empty" in e.value.hint
    check_not_empty(0, sel, PruneOptions(allow_empty=True), APP)  # deliberate
    check_not_empty(3, sel, PruneOptions(), APP)  # not empty
    check_not_empty(0, Selection(), PruneOptions(), APP)  # nothing to delete anyway


# --- the record after a prune ----------------------------------------------------------------------------

def test_after_a_prune_the_scope_is_exactly_what_is_desired_and_what_survived() -> None:
    from kubectl_gitops.engine.prune_listing import Listing

    desired = [ResourceKey("apps", "Deployment", "team-a", "web")]
    gone = member("Secret", "old", "team-b")
    kept = member("ConfigMap", "keep", "team-c", annotations={"argocd.argoproj.io/sync-options": "Prune=false"})
    listing = Listing(members=[gone, kept])
    sel = select(listing.members, set(desired), APP.id, PruneOptions())
    report = PruneReport(APP, sel, approved=sel.delete, outcome=PruneOutcome(deleted=[gone[0]]))
    previous = Scope(frozenset({"Deployment.apps", "Secret", "ConfigMap"}), frozenset({"team-a", "team-b", "team-c"}))
    assert final_scope(desired, report, previous, listing) == Scope(frozenset({"Deployment.apps", "ConfigMap"}),
                                                                    frozenset({"team-a", "team-c"}))
    # A deletion that did not finish keeps its kind and namespace in the record.
    stuck = PruneReport(APP, sel, approved=sel.delete, outcome=PruneOutcome(remaining=[gone[0]]))
    assert final_scope(desired, stuck, previous, listing) == previous
    # Without a prune the record stays the superset.
    assert final_scope(desired, None, previous, None) == previous


def test_kinds_the_cluster_does_not_serve_now_stay_in_the_record() -> None:
    from kubectl_gitops.engine.prune_listing import Listing

    desired = [ResourceKey("", "ConfigMap", "team-a", "c")]
    report = PruneReport(APP, Selection(), unserved=["Widget.example.com"])
    previous = Scope(frozenset({"ConfigMap", "Widget.example.com"}), frozenset({"team-a", "team-w"}))
    assert final_scope(desired, report, previous, Listing()) == previous
