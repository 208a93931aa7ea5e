"""Prune within the selection, the pure parts: which recorded sources --include/--exclude cover, how a member
is attributed to its source, how the record stores the sources, and what ``select`` does with them."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from kubectl_gitops.engine.inventory import AppRef, Record, decode_sources, encode_sources, parent_object, parse_parent
from kubectl_gitops.engine.prune import PruneOptions, check_attributed, keep_still_in_git, select
from kubectl_gitops.engine.prune_sources import FileSelection, source_of
from kubectl_gitops.engine.run_record import next_sources
from kubectl_gitops.errors import RefusedError
from kubectl_gitops.model import Origin, ResourceKey

APP = AppRef("web", "ns")


def key(name: str) -> ResourceKey:
    return ResourceKey("", "ConfigMap", "ns", name)


def member(name: str) -> tuple[ResourceKey, dict]:
    return key(name), {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}",
                                    "labels": {"applyset.kubernetes.io/part-of": APP.id}}}


@pytest.mark.parametrize(("origin", "source"), [
    (Origin("deploy/a.yaml", 3, "file"), "file:deploy/a.yaml"),
    (Origin("deploy/overlay", None, "kustomize", ""), "kustomize:deploy/overlay"),
    (Origin("base/cm.yaml", None, "kustomize", "deploy/overlay"), "kustomize:deploy/overlay"),
    (Origin("deploy/web/templates/cm.yaml", None, "helm", "chart web, release web"), "helm:deploy/web"),
    (Origin("deploy/charts/web/crds/w.yaml", None, "helm", "chart x, release web"), "helm:deploy/charts/web"),
    (Origin("charts/web/templates/cm.yaml", None, "helm", "chart web, release prod"),  # --release-name prod
     "helm-template:charts/web/templates/cm.yaml"),
    (Origin("templates/cm.yaml", None, "helm", "chart web, release web"), "helm-template:templates/cm.yaml"),
    (Origin("deploy/web", None, "helm", "chart web, release web"), "helm:deploy/web"),
    (Origin("<unknown>"), None),
    (Origin("<cluster>"), None),
])
def test_source_of_names_the_unit_the_render_selected(origin: Origin, source: str | None) -> None:
    assert source_of(origin) == source


@pytest.mark.parametrize(("sel", "source", "covered"), [
    (FileSelection.of(["a.yaml"], []), "file:a.yaml", True),
    (FileSelection.of(["a.yaml"], []), "file:b.yaml", False),
    (FileSelection.of(["a.yaml"], []), None, None),
    (FileSelection.of(["a.yaml"], []), "other:a.yaml", None),
    (FileSelection.of([], ["b.yaml"]), "file:a.yaml", True),
    (FileSelection.of([], ["b.yaml"]), "file:b.yaml", False),
    (FileSelection.of([], []), None, True),  # inactive: everything, as before sources were recorded
    (FileSelection.of(["apps/*"], [], "deploy"), "file:deploy/apps/x.yaml", True),
    (FileSelection.of(["apps/*"], [], "deploy"), "file:deploy/db/x.yaml", False),
    (FileSelection.of(["apps/*"], [], "deploy"), "file:elsewhere/apps/x.yaml", False),  # outside the path
    (FileSelection.of(["x.yaml"], [], "deploy/overlay"), "kustomize:deploy/overlay", True),  # the path itself
    (FileSelection.of(["web"], []), "helm:web", True),
    (FileSelection.of([], ["web/templates/cm.yaml"]), "helm:web", True),  # units are whole
    (FileSelection.of(["web"], []), "helm-template:web/templates/cm.yaml", True),
    (FileSelection.of(["web"], []), "helm-template:web/charts/db/templates/cm.yaml", True),  # a subchart
    (FileSelection.of(["a/*"], []), "helm-template:a/templates/web/templates/cm.yaml", None),  # readings disagree
    (FileSelection.of(["x.yaml"], []), "helm-template:templates/cm.yaml", True),  # the root chart: never filtered
])
def test_covers(sel: FileSelection, source: str | None, covered: bool | None) -> None:
    assert sel.covers(source) is covered


def test_sources_round_trip_through_the_parent() -> None:
    sources = {key("a"): "file:a.yaml", key("b"): "file:b.yaml", ResourceKey("apps", "Deployment", "ns", "w"):
               "helm:web"}
    parent = parent_object(Record(APP, sources=sources))
    parent["metadata"]["resourceVersion"] = "1"
    assert parse_parent(parent, APP).sources == sources
    doc = json.loads(base64.b64decode(parent["data"]["sources"]))
    assert doc["file:a.yaml"] == [["", "ConfigMap", "ns", "a"]]


def test_damaged_or_missing_sources_attribute_nothing() -> None:
    assert decode_sources(None) == {}
    assert decode_sources("not base64 json!") == {}
    assert decode_sources(base64.b64encode(b'{"file:a.yaml": [["", "ConfigMap"]], "x": 3}').decode()) == {}
    assert encode_sources({}) is None
    assert "sources" not in parent_object(Record(APP))["data"]


def test_sources_over_the_limit_are_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubectl_gitops.engine import inventory

    monkeypatch.setattr(inventory, "SOURCES_LIMIT", 50)
    assert encode_sources({key(f"n{i}"): "file:a.yaml" for i in range(10)}) is None


def test_select_considers_only_members_within_the_selection() -> None:
    sources = {key("a2"): "file:a.yaml", key("b2"): "file:b.yaml"}
    sel_files = FileSelection.of(["a.yaml"], [])
    members = [member("a"), member("a2"), member("b"), member("b2")]
    sel = select(members, {key("a")}, APP.id, PruneOptions(),
                 covers=lambda k: sel_files.covers(sources.get(k)))
    assert [c.key.name for c in sel.delete] == ["a2"]
    assert sel.outside == 1  # b2
    assert sel.unattributed == [key("b")]  # no recorded source
    with pytest.raises(RefusedError) as err:
        check_attributed(sel, sel_files, APP)
    assert "1 member(s)" in err.value.message and "--include a.yaml" in err.value.message
    assert "without --include/--exclude" in (err.value.hint or "")


def test_without_a_selection_every_member_is_considered() -> None:
    sel = select([member("a"), member("b")], set(), APP.id, PruneOptions())
    assert sorted(c.key.name for c in sel.delete) == ["a", "b"] and not sel.unattributed and sel.outside == 0


def test_a_candidate_still_elsewhere_in_git_is_kept() -> None:
    sel = select([member("moved"), member("gone")], set(), APP.id, PruneOptions())
    keep_still_in_git(sel, {key("moved"): "b.yaml:1"})
    assert [c.key.name for c in sel.delete] == ["gone"]
    assert [(c.key.name, c.reason) for c in sel.kept] == [("moved", "still in Git (b.yaml:1), outside the selection")]


def test_next_sources_keeps_members_outside_the_selection_and_drops_pruned_ones() -> None:
    from kubectl_gitops.engine.prune import Selection
    from kubectl_gitops.engine.prune_delete import PruneOutcome
    from kubectl_gitops.engine.prune_listing import Listing
    from kubectl_gitops.engine.prune_plan import PruneReport

    previous = {key("a"): "file:a.yaml", key("b"): "file:b.yaml", key("c"): "file:c.yaml"}
    assert next_sources(previous, {key("a"): "file:new.yaml"}, None, None) == {
        key("a"): "file:new.yaml", key("b"): "file:b.yaml", key("c"): "file:c.yaml"}
    report = PruneReport(APP, Selection(), outcome=PruneOutcome(deleted=[key("c")]))
    listing = Listing(members=[member("a"), member("b"), member("c")])
    assert next_sources(previous, {key("a"): "file:a.yaml"}, report, listing) == {
        key("a"): "file:a.yaml", key("b"): "file:b.yaml"}
    gone_by_hand = Listing(members=[member("a")])
    assert next_sources(previous, {key("a"): "file:a.yaml"}, None, gone_by_hand) == {key("a"): "file:a.yaml"}


# --- covers agrees with the render itself -------------------------------------------------------------------------


@pytest.fixture
def mixed_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Plain files, a kustomize base and overlay, and a Helm chart (with crds/), side by side."""
    from source_helpers import FIXTURES, HELM_MISSING, configmap, find_helm

    helm = find_helm()
    if helm is None:
        pytest.skip(HELM_MISSING)
    monkeypatch.setenv("KUBECTL_GITOPS_HELM", helm)
    shutil.copytree(FIXTURES / "helm", tmp_path / "deploy/charts")
    shutil.copytree(FIXTURES / "kustomize", tmp_path / "deploy/k")
    (tmp_path / "deploy/plain").mkdir()
    (tmp_path / "deploy/plain/a.yaml").write_text(configmap("a"))
    (tmp_path / "deploy/plain/b.yaml").write_text(configmap("b"))
    return tmp_path


@pytest.mark.parametrize(("include", "exclude"), [
    (["plain/a.yaml"], []), (["charts"], []), (["charts/demo"], []), (["k/overlays/*"], []), (["k/base"], []),
    ([], ["plain"]), ([], ["charts/*"]), (["*.yaml"], []), ([], ["charts/demo/templates/deployment.yaml"]),
    (["plain/*", "k/**"], ["k/base"]),
])
def test_covers_agrees_with_what_the_render_selects(mixed_repo: Path, include: list[str], exclude: list[str]) -> None:
    """For every object of the whole repository: the selection covers its recorded source exactly when the
    render limited by the same globs produces it."""
    from kubectl_gitops.settings import SourceOptions
    from kubectl_gitops.source.render import render

    whole, problems = render(mixed_repo, "deploy", SourceOptions(path="deploy"), namespace="ns")
    assert problems == [] and {m.origin.renderer for m in whole} == {"file", "kustomize", "helm"}
    part, _ = render(mixed_repo, "deploy", SourceOptions(path="deploy", include=tuple(include),
                                                         exclude=tuple(exclude)), namespace="ns")
    rendered = {(m.key, str(m.origin)) for m in part}
    files = FileSelection.of(include, exclude, "deploy")
    for m in whole:
        assert files.covers(source_of(m.origin)) is ((m.key, str(m.origin)) in rendered), (m.key, m.origin)
