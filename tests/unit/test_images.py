"""--image: the matcher and override against the real kustomize (`kustomize edit set image` + build)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from source_helpers import KUSTOMIZE_MISSING, find_kustomize

from kubectl_gitops.errors import UsageError
from kubectl_gitops.model import Manifest
from kubectl_gitops.source.images import (
    ImageOverride,
    apply_overrides,
    parse_field_spec,
    parse_override,
    split_reference,
)

DIGEST = "sha256:" + "a" * 64
DIGEST2 = "sha256:" + "b" * 64


def pod_spec(*images: str, init: str | None = None) -> dict:
    spec: dict = {"containers": [{"name": f"c{i}", "image": img} for i, img in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": "init", "image": init}]
    return spec


def workloads() -> list[dict]:
    """Every pod-template kind, with references in each shape: name, :tag, @digest, :tag@digest, registry
    with a port, a longer name sharing a prefix, an image volume."""
    tmpl = {"metadata": {"labels": {"app": "x"}}}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"selector": {"matchLabels": {"app": "x"}},
                  "template": {**tmpl, "spec": pod_spec("nginx", "nginx-exporter:0.1", init="busybox:1.36")}}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
         "spec": {"selector": {"matchLabels": {"app": "x"}}, "serviceName": "db",
                  "template": {**tmpl, "spec": pod_spec(f"postgres:16@{DIGEST}")}}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
         "spec": {"selector": {"matchLabels": {"app": "x"}},
                  "template": {**tmpl, "spec": pod_spec("registry.local:5000/team/agent:2.0")}}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
         "spec": {"template": {"spec": {**pod_spec(f"my/app@{DIGEST}"), "restartPolicy": "Never"}}}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
         "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {
             "spec": {**pod_spec("my/app:1.0"), "restartPolicy": "Never"}}}}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug"},
         "spec": {**pod_spec("nginx:1.25"), "volumes": [{"name": "v", "image": {"reference": "data/set:3"}}]}},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
         "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {**tmpl, "spec": pod_spec("nginx:1.24")}}},
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "canary"},
         "spec": {"template": {"spec": pod_spec("my/app:0.9")}}},
    ]


CASES = [
    "nginx=nginx:1.27.1",
    "nginx:1.27.1",
    "nginx=registry.example.com/web/nginx",
    f"nginx@{DIGEST2}",
    f"nginx=mirror/nginx:1.27@{DIGEST2}",
    f"nginx:1.26@{DIGEST2}",
    "postgres:17",
    "postgres=pg/postgres",
    "registry.local:5000/team/agent=registry.local:5000/team/agent:2.1",
    "registry.local:5000/team/agent:2.1",
    "my/app=ghcr.io/org/app:1.4.2",
    "my/app:1.4.2",
    "busybox:1.37",
    "data/set:4",
]


@pytest.fixture(scope="module")
def kustomize() -> str:
    binary = find_kustomize()
    if binary is None:
        pytest.skip(KUSTOMIZE_MISSING)
    return binary


def kustomize_result(binary: str, folder: Path, args: list[str]) -> list[dict]:
    folder.mkdir()
    (folder / "all.yaml").write_text(yaml.safe_dump_all(workloads()))
    (folder / "kustomization.yaml").write_text("resources:\n- all.yaml\n")
    for arg in args:
        subprocess.run([binary, "edit", "set", "image", arg], cwd=folder, check=True, capture_output=True)
    out = subprocess.run([binary, "build", str(folder)], check=True, capture_output=True, text=True).stdout
    return list(yaml.safe_load_all(out))


def ours(args: list[str]) -> list[dict]:
    manifests = [Manifest(o) for o in workloads()]
    _, problems = apply_overrides(manifests, [parse_override(a) for a in args])
    assert problems == []
    return [m.obj for m in manifests]


def by_name(objs: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objs}


@pytest.mark.parametrize("arg", CASES)
def test_override_rewrites_exactly_what_kustomize_rewrites(kustomize: str, tmp_path: Path, arg: str):
    expected = kustomize_result(kustomize, tmp_path / "k", [arg])
    got = ours([arg])
    assert by_name(got) == by_name(expected)
    assert got != workloads()  # every case changes something: the comparison is not vacuous


def test_several_overrides_apply_in_turn_like_kustomize_entries(kustomize: str, tmp_path: Path):
    args = ["nginx:1.27", "my/app=ghcr.io/org/app:2", "postgres@" + DIGEST2]
    assert by_name(ours(args)) == by_name(kustomize_result(kustomize, tmp_path / "k", args))


def test_ephemeral_containers_and_custom_fields_are_overridden_beyond_kustomize():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [], "ephemeralContainers": [{"name": "dbg", "image": "busybox:1.36"}]}}
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"},
          "spec": {"templates": [{"container": {"image": "my/app:1"}}, {"container": {"image": "other:1"}}]}}
    other = {"apiVersion": "example.com/v1", "kind": "Workflow", "metadata": {"name": "x"},
             "spec": {"templates": [{"container": {"image": "my/app:1"}}]}}
    ms = [Manifest(pod), Manifest(wf), Manifest(other)]
    changed, problems = apply_overrides(ms, [parse_override("busybox:1.37"), parse_override("my/app:2")],
                                        [parse_field_spec("Workflow.argoproj.io:spec/templates[]/container/image")])
    assert problems == []
    assert pod["spec"]["ephemeralContainers"][0]["image"] == "busybox:1.37"
    assert [t["container"]["image"] for t in wf["spec"]["templates"]] == ["my/app:2", "other:1"]
    assert other["spec"]["templates"][0]["container"]["image"] == "my/app:1"  # another group: not selected
    assert [(r.before, r.after) for r in changed] == [("busybox:1.36", "busybox:1.37"), ("my/app:1", "my/app:2")]


def test_crds_are_never_touched():
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "c"},
           "spec": {"template": {"spec": {"containers": [{"image": "nginx"}]}}}}
    _, problems = apply_overrides([Manifest(crd)], [parse_override("nginx:2")])
    assert crd["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    assert len(problems) == 1


def test_an_override_matching_nothing_is_a_problem_naming_the_images_present():
    ms = [Manifest(o) for o in workloads()]
    _, problems = apply_overrides(ms, [parse_override("ngnix:1.27"), parse_override("nginx:1.27")])
    assert len(problems) == 1
    assert "ngnix" in problems[0] and "nginx-exporter:0.1" in problems[0]


def test_name_is_matched_literally_not_as_a_regular_expression():
    assert ImageOverride("my.app").matches("my.app:1")
    assert not ImageOverride("my.app").matches("myxapp:1")
    assert not ImageOverride("nginx").matches("docker.io/library/nginx")
    assert not ImageOverride("nginx").matches("nginx-exporter")


@pytest.mark.parametrize("ref, parts", [
    ("nginx", ("nginx", "", "")),
    ("nginx:1.2", ("nginx", "1.2", "")),
    (f"nginx@{DIGEST}", ("nginx", "", DIGEST)),
    (f"nginx:1.2@{DIGEST}", ("nginx", "1.2", DIGEST)),
    ("host:5000/a/b", ("host:5000/a/b", "", "")),
    ("host:5000/a/b:3", ("host:5000/a/b", "3", "")),
])
def test_split_reference(ref, parts):
    assert split_reference(ref) == parts


@pytest.mark.parametrize("arg", ["nginx", "=nginx:1", "nginx=", "nginx:*", "nginx:bad tag", "nginx@sha256:xyz",
                                 "a b=c:1", "nginx:" + "x" * 200])
def test_malformed_overrides_are_usage_errors(arg):
    with pytest.raises(UsageError, match="invalid --image"):
        parse_override(arg)


@pytest.mark.parametrize("arg", ["spec/a b", "Kind.group:", "bad kind:spec/x"])
def test_malformed_field_specs_are_usage_errors(arg):
    with pytest.raises(UsageError, match="invalid --image-field"):
        parse_field_spec(arg)


def test_canonical_text_round_trips():
    for arg in CASES:
        assert parse_override(str(parse_override(arg))) == parse_override(arg)
