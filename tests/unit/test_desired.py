"""load_desired: source + render + validate in one call, against real git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
from source_helpers import FIXTURES, ROOT, GitRepo, configmap

from kubectl_gitops.errors import ValidationError
from kubectl_gitops.settings import SourceOptions
from kubectl_gitops.source.desired import load_desired


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo.create(tmp_path / "repo")
    r.write("apps/a.yaml", configmap("a", value="committed"))
    r.write("apps/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n")
    r.commit("first")
    return r


def test_examples_are_a_valid_repository():
    d = load_desired(SourceOptions(repo=str(ROOT), path="examples"), committed_only=False, default_namespace="x")
    keys = sorted(str(m.key) for m in d.manifests)
    assert keys == ["ConfigMap demo/web-config", "Deployment.apps demo/web", "Job.batch demo/db-migrate",
                    "Job.batch demo/smoke-test", "Namespace demo", "Service demo/web"]
    hooks = {m.name: m.annotations.get("argocd.argoproj.io/hook") for m in d.manifests}
    assert hooks["db-migrate"] == "PreSync" and hooks["smoke-test"] == "PostSync"
    assert {m.annotations.get("argocd.argoproj.io/sync-wave") for m in d.manifests} >= {"-1", "0", "1"}


def test_work_tree_objects_get_the_default_namespace_and_the_checkout_is_recorded(repo: GitRepo):
    repo.write("apps/a.yaml", configmap("a", value="edited"))
    d = load_desired(SourceOptions(repo=str(repo.path)), committed_only=False, default_namespace="team")
    a = next(m for m in d.manifests if m.name == "a")
    assert a.obj["data"]["value"] == "edited"
    assert a.namespace == "team"
    assert next(m for m in d.manifests if m.kind == "Namespace").namespace == ""
    assert d.checkout.commit == repo.head() and d.checkout.dirty is True


def test_committed_only_reads_head_and_the_export_is_gone_afterwards(repo: GitRepo):
    repo.write("apps/a.yaml", configmap("a", value="edited"))
    d = load_desired(SourceOptions(repo=str(repo.path)), committed_only=True, default_namespace="team")
    assert next(m for m in d.manifests if m.name == "a").obj["data"]["value"] == "committed"
    assert d.checkout.commit == repo.head() and d.checkout.dirty is False
    assert not d.checkout.root.exists()


def test_all_problems_come_in_one_validation_error(repo: GitRepo):
    repo.write("apps/broken.yaml", "kind: [\n")
    repo.write("apps/copy.yaml", configmap("a"))
    repo.write("apps/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n")

    def policy(manifests):
        assert all(m.namespace for m in manifests if m.kind == "ConfigMap"), "defaults come before extra checks"
        return [f"{m.origin}: {m.key}: no ConfigMaps allowed; delete it" for m in manifests if m.name == "a"]

    with pytest.raises(ValidationError) as e:
        load_desired(SourceOptions(repo=str(repo.path)), committed_only=False, default_namespace="team",
                     extra_checks=policy)
    details = e.value.details
    assert details[0].startswith("apps/broken.yaml:2: invalid YAML")           # render problems first
    assert any("apps/bad.yaml:1: ConfigMap team/Bad_Name: invalid name" in p for p in details)
    assert any("apps/copy.yaml:1: ConfigMap team/a: defined twice, also at apps/a.yaml:1" in p for p in details)
    assert details[-2:] == ["apps/a.yaml:1: ConfigMap team/a: no ConfigMaps allowed; delete it",  # extra checks last
                            "apps/copy.yaml:1: ConfigMap team/a: no ConfigMaps allowed; delete it"]
    assert len(details) == 5


def test_unknown_kinds_are_checked_against_the_resolver(repo: GitRepo):
    repo.write("apps/w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n")

    def served(api_version: str, kind: str) -> bool | None:
        return {"ConfigMap": True, "Namespace": False}.get(kind)

    with pytest.raises(ValidationError) as e:
        load_desired(SourceOptions(repo=str(repo.path)), committed_only=False, default_namespace="team", resolve=served)
    assert len(e.value.details) == 1 and "does not serve example.com/v1 Widget" in e.value.details[0]


def test_transform_is_applied_to_plain_files(repo: GitRepo):
    d = load_desired(SourceOptions(repo=str(repo.path)), committed_only=False, default_namespace="team",
                     transform=lambda rel, text: text.replace("committed", f"from {rel}"))
    assert next(m for m in d.manifests if m.name == "a").obj["data"]["value"] == "from apps/a.yaml"


def test_kustomize_overlay_at_an_older_ref_reads_its_base_from_that_commit(tmp_path: Path):
    r = GitRepo.create(tmp_path / "repo")
    r.copy_in(FIXTURES / "kustomize", "deploy")
    first = r.commit("kustomize")
    base = r.path / "deploy/base/deployment.yaml"
    base.write_text(base.read_text().replace("api:1.4.2", "api:2.0.0"))
    r.commit("bump")
    opts = SourceOptions(repo=str(r.path), path="deploy/overlays/prod", ref=first)
    d = load_desired(opts, committed_only=True, default_namespace="x")
    dep = next(m for m in d.manifests if m.kind == "Deployment")
    assert dep.obj["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/example/api:1.4.2"
    assert dep.namespace == "prod" and d.checkout.commit == first
