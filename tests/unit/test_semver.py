"""Flux ``GitRepository`` ``ref.semver``: Masterminds/semver v3 constraints (the examples of its README) and the
newest matching tag of a real repository, local and through a URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl_gitops.errors import InvalidInputError
from kubectl_gitops.settings import SourceOptions
from kubectl_gitops.source.appsource import child_source
from kubectl_gitops.source.appspec import ChildSpec
from kubectl_gitops.source.fluxapp import read_kustomization
from kubectl_gitops.source.poll import tags
from kubectl_gitops.source.semver import matcher, newest, parse_version
from tests.source_helpers import GitRepo, configmap
from tests.unit.test_apptree import m

# (constraint, versions it admits, versions it refuses): Masterminds' README and constraints.go comments
CASES = [
    ("~1.2.3", ["1.2.3", "1.2.9"], ["1.2.2", "1.3.0"]),
    ("~1", ["1.0.0", "1.9.9"], ["0.9.0", "2.0.0"]),
    ("~2.3", ["2.3.0", "2.3.7"], ["2.4.0", "2.2.9"]),
    ("~1.x", ["1.0.0", "1.5.0"], ["2.0.0"]),
    ("~>1.2", ["1.2.5"], ["1.3.0"]),
    ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
    ("^1.2.x", ["1.2.0", "1.8.0"], ["2.0.0", "1.1.9"]),
    ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
    ("^0.2", ["0.2.0", "0.2.9"], ["0.3.0"]),
    ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),
    ("^0.0", ["0.0.0", "0.0.9"], ["0.1.0"]),
    ("^0", ["0.0.0", "0.9.9"], ["1.0.0"]),
    ("1.2.x", ["1.2.0", "1.2.99"], ["1.3.0", "1.1.0"]),
    (">= 1.2.x", ["1.2.0", "5.0.0"], ["1.1.9"]),
    ("<= 2.x", ["2.9.9", "0.1.0"], ["3.0.0"]),
    ("*", ["0.0.0", "9.9.9"], ["1.0.0-rc.1"]),
    (">1.2", ["1.3.0", "2.0.0"], ["1.2.9"]),
    (">11", ["12.0.0"], ["11.1.0"]),
    ("<=1.2", ["1.2.9"], ["1.3.0"]),
    ("<1.2", ["1.1.9"], ["1.2.0"]),
    ("=1.2", ["1.2.0", "1.2.5"], ["1.3.0"]),
    ("1.2.3", ["1.2.3", "v1.2.3"], ["1.2.4"]),
    ("!=1.2.3", ["1.2.4", "1.2.2"], ["1.2.3"]),
    (">= 1.2, < 3.0.0 || >= 4.2.3", ["1.2.0", "2.9.9", "4.2.3", "7.0.0"], ["3.0.0", "4.2.2", "1.1.0"]),
    (">= 1.2 < 3.0.0", ["2.0.0"], ["3.0.0"]),
    ("1.2 - 1.4.5", ["1.2.0", "1.4.5"], ["1.4.6", "1.1.9"]),
    (">=1.2.3", ["1.2.3"], ["1.2.4-beta.1", "2.0.0-rc.1"]),  # pre-releases only when asked for
    (">=1.2.3-0", ["1.2.3-beta.1", "1.2.4-alpha", "1.2.3"], ["1.2.2"]),
    (">=1.2.3-beta.2", ["1.2.3-beta.10", "1.2.3-rc"], ["1.2.3-beta.1", "1.2.3-alpha"]),
]


@pytest.mark.parametrize(("constraint", "admitted", "refused"), CASES, ids=[c[0] for c in CASES])
def test_constraints_read_as_masterminds_semver_reads_them(constraint: str, admitted: list[str],
                                                           refused: list[str]) -> None:
    test = matcher(constraint)
    for text in admitted:
        v = parse_version(text)
        assert v is not None and test(v), f"{constraint} should admit {text}"
    for text in refused:
        v = parse_version(text)
        assert v is not None and not test(v), f"{constraint} should refuse {text}"


def test_newest_picks_the_highest_matching_tag_and_ignores_tags_that_are_no_version() -> None:
    listed = ["v1.0.0", "v1.4.2", "v1.10.0", "v2.0.0", "v1.11.0-rc.1", "latest", "release-3", "1.9.9"]
    assert newest(listed, "^1.0") == "v1.10.0"  # 10 > 9 > 4: numbers, not strings
    assert newest(listed, "~1.4") == "v1.4.2"
    assert newest(listed, ">=3") is None


@pytest.mark.parametrize("bad", ["", ">=", "1.2.3.4", "~>a.b", ">= 1 ||"])
def test_a_constraint_that_cannot_be_read_is_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="semver constraint"):
        matcher(bad)


def _tagged_repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.create(tmp_path / "fleet")
    for tag in ("v1.0.0", "v1.2.0", "v2.0.0", "nightly"):
        repo.write("app/cm.yaml", configmap("cm", value=tag))
        repo.commit(tag)
        repo.git("tag", tag)
    return repo


def test_the_tags_of_a_local_repository_and_of_a_url(tmp_path: Path) -> None:
    repo = _tagged_repo(tmp_path)
    expected = {"v1.0.0", "v1.2.0", "v2.0.0", "nightly"}
    assert set(tags(str(repo.path))) == expected
    assert set(tags(f"file://{repo.path}")) == expected  # git ls-remote --tags, peeled entries dropped


def _kustomization(semver: str, ref_extra: dict[str, str] | None = None) -> ChildSpec:
    source = m({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "fleet", "namespace": "flux-system"},
                "spec": {"url": "https://git.example/fleet", "ref": {"semver": semver, **(ref_extra or {})}}})
    k = m({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": "apps", "namespace": "flux-system"},
           "spec": {"sourceRef": {"kind": "GitRepository", "name": "fleet"}, "path": "./app", "prune": True}})
    spec, problems = read_kustomization(k, [source])
    assert problems == []
    return spec


def test_a_semver_ref_syncs_the_newest_matching_tag_of_the_mirrored_repository(tmp_path: Path) -> None:
    repo = _tagged_repo(tmp_path)
    spec = _kustomization("~1.0 || ^1.1")
    mirrors = (("https://git.example/fleet", str(repo.path)),)
    opts = child_source(spec, SourceOptions(), mirrors, tmp_path, None)
    assert opts.ref == "v1.2.0"
    # Flux's precedence: a commit (or name) wins over semver, semver over tag and branch
    assert _kustomization("^1", {"commit": "abc"}).semver == ""
    assert _kustomization("^1", {"tag": "v1.0.0", "branch": "main"}).semver == "^1"


def test_a_semver_ref_no_tag_satisfies_is_invalid_input_listing_the_tags(tmp_path: Path) -> None:
    repo = _tagged_repo(tmp_path)
    spec = _kustomization(">=3")
    with pytest.raises(InvalidInputError, match=r"no tag of https://git.example/fleet satisfies ref.semver '>=3' "
                                                r"\(tags: nightly, v1.0.0, v1.2.0, v2.0.0\)"):
        child_source(spec, SourceOptions(), (("https://git.example/fleet", str(repo.path)),), tmp_path, None)


def test_a_semver_constraint_that_cannot_be_read_is_a_problem_naming_the_field() -> None:
    source = m({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "fleet", "namespace": "flux-system"},
                "spec": {"url": "https://git.example/fleet", "ref": {"semver": ">= banana"}}})
    k = m({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": "apps", "namespace": "flux-system"},
           "spec": {"sourceRef": {"kind": "GitRepository", "name": "fleet"}, "path": "./app"}})
    _spec, problems = read_kustomization(k, [source])
    assert len(problems) == 1 and "spec.ref.semver" in problems[0] and "banana" in problems[0]
