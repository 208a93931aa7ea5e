"""Trees of apps, the pure parts: reading Argo CD and Flux app objects, child order, mirrors and overrides."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from kubectl_gitops.engine.apptree import child_waves, layers
from kubectl_gitops.errors import ValidationError
from kubectl_gitops.model import Manifest, Origin
from kubectl_gitops.source.appsource import _substitute, apply_overrides, resolve_url
from kubectl_gitops.source.appspec import AppsFound, ChildSpec, detector
from kubectl_gitops.source.argoapp import _set_path, read_application
from kubectl_gitops.source.fluxapp import read_helmrelease, read_kustomization
from kubectl_gitops.source.images import override_images, parse_override


def m(obj: dict[str, Any], path: str = "apps/x.yaml", line: int = 1) -> Manifest:
    return Manifest(obj, Origin(path, line))


def app(name: str, spec: dict[str, Any], wave: str | None = None) -> Manifest:
    meta: dict[str, Any] = {"name": name, "namespace": "argocd"}
    if wave is not None:
        meta["annotations"] = {"argocd.argoproj.io/sync-wave": wave}
    return m({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta, "spec": spec})


GIT = {"repoURL": "https://git.example/org/apps.git", "targetRevision": "main", "path": "web"}


def test_an_application_with_helm_settings_reads_into_a_child_spec() -> None:
    spec, problems = read_application(app("web", {
        "project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
        "source": {**GIT, "helm": {"valueFiles": ["prod.yaml"], "values": "a: 1\nb: {c: 2}\n",
                                   "valuesObject": {"b": {"d": 3}},
                                   "parameters": [{"name": "b.c", "value": "5"},
                                                  {"name": "tag", "value": "1.0", "forceString": True}]}},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=true"]}}))
    assert problems == []
    assert (spec.repo_url, spec.ref, spec.path) == ("https://git.example/org/apps.git", "main", "web")
    assert spec.value_files == ["prod.yaml"]
    assert spec.values == {"a": 1, "b": {"c": 5, "d": 3}, "tag": "1.0"}
    assert spec.release_name == "web" and spec.prune and spec.create_namespace and spec.dest_namespace == "web"


def test_every_unsupported_application_field_is_reported_at_once() -> None:
    _, problems = read_application(app("odd", {
        "source": {**GIT, "plugin": {"name": "x"}, "kustomize": {"components": ["c"]}},
        "syncPolicy": {"retry": {"limit": 1}, "syncOptions": ["Replace=true", "ServerSideApply=false"]}}))
    text = "\n".join(problems)
    for field in ("spec.source.plugin", "spec.source.kustomize.components", "spec.syncPolicy.retry",
                  "spec.syncPolicy.syncOptions[0]", "spec.syncPolicy.syncOptions[1]"):
        assert f"apps/x.yaml:1: Application odd: {field}:" in text, text
    assert len(problems) == 5


def test_multi_source_values_refs_and_charts() -> None:
    spec, problems = read_application(app("eso", {"sources": [
        {"repoURL": "https://charts.example", "chart": "eso", "targetRevision": "0.9.1",
         "helm": {"valueFiles": ["$values/eso/values.yaml"]}},
        {"repoURL": "https://git.example/org/values", "targetRevision": "main", "ref": "values"}]}))
    assert problems == []
    assert spec.chart is not None and (spec.chart.name, spec.chart.version) == ("eso", "0.9.1")
    assert spec.value_files == ["$values/eso/values.yaml"]
    assert spec.value_refs == {"values": ("https://git.example/org/values", "main")}
    _, problems = read_application(app("two", {"sources": [GIT, {**GIT, "path": "other"}]}))
    assert any("2 sources render manifests" in p for p in problems)


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("a.b", 1, {"a": {"b": 1}}),
    ("list[1].x", "y", {"list": [None, {"x": "y"}]}),
    (r"ann.kubernetes\.io/name", "v", {"ann": {"kubernetes.io/name": "v"}}),
])
def test_helm_parameter_paths(name: str, value: Any, expected: dict[str, Any]) -> None:
    values: dict[str, Any] = {}
    assert _set_path(values, name, value)
    assert values == expected


def spec_of(name: str, *, wave: int = 0, kind: str = "Application", deps: list[str] | None = None) -> ChildSpec:
    return ChildSpec(name=name, kind=kind, origin=f"{name}.yaml:1", namespace="flux-system", wave=wave,
                     depends_on=deps or [])


def test_applications_run_wave_by_wave_and_flux_after_their_dependencies() -> None:
    specs = [spec_of("app", wave=0), spec_of("dns", wave=-2), spec_of("ingress", wave=-1), spec_of("eso", wave=-2)]
    assert [[s.name for s in layer] for layer in layers(specs)] == [["dns", "eso"], ["ingress"], ["app"]]
    flux = [spec_of("apps", kind="Kustomization", deps=["flux-system/infra"]),
            spec_of("infra", kind="Kustomization"), spec_of("monitoring", kind="Kustomization")]
    assert [[s.name for s in layer] for layer in layers(flux)] == [["infra", "monitoring"], ["apps"]]


def test_missing_dependencies_and_cycles_are_invalid_input_naming_them() -> None:
    with pytest.raises(ValidationError) as e:
        layers([spec_of("apps", kind="Kustomization", deps=["flux-system/nope"])])
    assert "dependsOn flux-system/nope" in e.value.details[0]
    with pytest.raises(ValidationError) as e:
        layers([spec_of("a", kind="Kustomization", deps=["flux-system/b"]),
                spec_of("b", kind="Kustomization", deps=["flux-system/a"]), spec_of("c", kind="Kustomization")])
    assert len(e.value.details) == 2 and "cycle" in (e.value.hint or "")


def test_the_wave_annotation_of_an_application_orders_it_and_a_bad_one_is_a_problem() -> None:
    good, _ = read_application(app("a", {"source": GIT}, wave="-2"))
    bad, _ = read_application(app("b", {"source": GIT}, wave="soon"))
    problems = child_waves([good, bad])
    assert good.wave == -2 and len(problems) == 1 and "soon" in problems[0]


def test_flux_kustomization_reads_its_source_and_substitutions() -> None:
    objects = [
        m({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": "fleet", "namespace": "flux-system"},
           "spec": {"url": "https://git.example/fleet", "ref": {"tag": "v1.2.0"}}}),
        m({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vars", "namespace": "flux-system"},
           "data": {"region": "eu"}}),
    ]
    k = m({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": "apps", "namespace": "flux-system"},
           "spec": {"sourceRef": {"kind": "GitRepository", "name": "fleet"}, "path": "./deploy/dev", "prune": True,
                    "postBuild": {"substitute": {"x": "1"}, "substituteFrom": [
                        {"kind": "ConfigMap", "name": "vars"}, {"kind": "Secret", "name": "gone", "optional": True}]},
                    "patches": [{"patch": "- op: add", "target": {"kind": "Deployment"}}], "healthChecks": []}})
    spec, problems = read_kustomization(k, objects)
    assert (spec.repo_url, spec.ref, spec.path, spec.prune) == ("https://git.example/fleet", "v1.2.0", "./deploy/dev",
                                                                True)
    assert spec.substitute == {"region": "eu", "x": "1"}
    assert spec.patches == [{"patch": "- op: add", "target": {"kind": "Deployment"}}]
    assert problems == ["apps/x.yaml:1: Kustomization apps: spec.healthChecks: not supported by kubectl-gitops; "
                        "remove it, or pass --apps=apply to hand the object to an installed Flux"]


def test_flux_helmrelease_reads_its_chart_values_and_release_name() -> None:
    objects = [m({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                  "metadata": {"name": "charts", "namespace": "flux-system"},
                  "spec": {"url": "https://charts.example"}}),
               m({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "v", "namespace": "flux-system"},
                  "data": {"values.yaml": "a: 1\nb: 2\n"}})]
    hr = m({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"chart": {"spec": {"chart": "podinfo", "version": "6.5.0",
                                        "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
                     "targetNamespace": "web", "valuesFrom": [{"kind": "ConfigMap", "name": "v"}],
                     "values": {"b": 3}, "install": {"createNamespace": True}}})
    spec, problems = read_helmrelease(hr, objects)
    assert problems == []
    assert spec.chart is not None and (spec.chart.repo_url, spec.chart.name) == ("https://charts.example", "podinfo")
    assert spec.values == {"a": 1, "b": 3} and spec.release_name == "web-podinfo"
    assert spec.dest_namespace == "web" and spec.create_namespace


def test_mirrors_map_a_url_and_everything_below_it_longest_first() -> None:
    mirrors = (("https://git.example/org", "/srv/org"), ("https://git.example/org/special.git", "/srv/special"))
    assert resolve_url("https://git.example/org/apps.git", mirrors) == "/srv/org/apps"
    assert resolve_url("https://git.example/org/special", mirrors) == "/srv/special"
    assert resolve_url("https://elsewhere/x", mirrors) == "https://elsewhere/x"


DIGEST = "sha256:" + "a" * 64


def workloads() -> list[Manifest]:
    pod = {"containers": [{"name": "a", "image": "nginx:1.25"}, {"name": "b", "image": "registry:5000/a/b:1"},
                          {"name": "c", "image": f"nginx@{DIGEST}"}, {"name": "d", "image": "my/nginx:1"}],
           "initContainers": [{"name": "i", "image": "nginx"}],
           "volumes": [{"name": "v", "image": {"reference": "registry:5000/a/b"}}]}
    return [m({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "n"},
               "spec": {"template": {"spec": copy.deepcopy(pod)}}}),
            m({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "job", "namespace": "n"},
               "spec": {"jobTemplate": {"spec": {"template": {"spec": copy.deepcopy(pod)}}}}}),
            m({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r", "namespace": "n"},
               "spec": {"template": {"spec": copy.deepcopy(pod)}}})]


def child_images(spec: ChildSpec) -> list[dict[str, Any]]:
    out, problems = apply_overrides(spec)(workloads())
    assert problems == []
    return [o.obj for o in out]


def flag_images(text: str) -> list[dict[str, Any]]:
    manifests = workloads()
    override_images(manifests, [text])
    return [o.obj for o in manifests]


@pytest.mark.parametrize(("argo", "flux", "flag"), [
    ("nginx:1.27", {"name": "nginx", "newTag": "1.27"}, "nginx:1.27"),
    ("nginx=mirror/nginx", {"name": "nginx", "newName": "mirror/nginx"}, "nginx=mirror/nginx"),
    ("registry:5000/a/b:2", {"name": "registry:5000/a/b", "newTag": "2"}, "registry:5000/a/b:2"),
    (f"nginx@{DIGEST}", {"name": "nginx", "digest": DIGEST}, f"nginx@{DIGEST}"),
    (f"nginx=m/nginx:2@{DIGEST}", {"name": "nginx", "newName": "m/nginx", "newTag": "2", "digest": DIGEST},
     f"nginx=m/nginx:2@{DIGEST}"),
])
def test_a_child_apps_image_rules_rewrite_as_the_image_flag_does(argo: str, flux: dict[str, str],
                                                                  flag: str) -> None:
    expected = flag_images(flag)
    assert expected != [o.obj for o in workloads()]  # the rule changes something
    argo_spec, problems = read_application(app("web", {"project": "default", "destination": {"namespace": "n"},
                                                       "source": {**GIT, "kustomize": {"images": [argo]}}}))
    assert problems == []
    assert child_images(argo_spec) == expected
    flux_spec, problems = read_kustomization(m({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "fleet"}, "images": [flux]}}),
        [m({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": "flux-system"}, "spec": {"url": "https://git.example/f"}})])
    assert problems == []
    assert child_images(flux_spec) == expected


def test_a_child_image_rule_that_matches_nothing_is_no_error_unlike_the_flag() -> None:
    spec = ChildSpec(name="c", kind="Application", origin="o", images=[parse_override("redis:7")])
    assert child_images(spec) == [o.obj for o in workloads()]
    _, problems = override_images(workloads(), ["redis:7"])
    assert len(problems) == 1 and "no image named 'redis'" in problems[0]


def test_bad_child_image_rules_are_problems_naming_the_field() -> None:
    _, problems = read_application(app("web", {"project": "default", "destination": {"namespace": "n"},
                                               "source": {**GIT, "kustomize": {"images": ["nginx:bad tag"]}}}))
    assert len(problems) == 1 and "spec.source.kustomize.images[0]" in problems[0], problems


def test_flux_substitution_and_its_opt_out() -> None:
    assert _substitute({"a": "${x}-${y:=d}-${z:-e}-${missing}"}, {"x": "1", "y": ""}) == {"a": "1-d-e-"}
    spec = ChildSpec(name="c", kind="Kustomization", origin="o", substitute={"x": "1"}, target_namespace="t",
                     common_labels={"env": "dev"})
    keep = m({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "k", "annotations": {
        "kustomize.toolkit.fluxcd.io/substitute": "disabled"}}, "data": {"v": "${x}"}})
    ns = m({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
    out, _ = apply_overrides(spec)([keep, ns])
    assert out[0].obj["data"] == {"v": "${x}"} and out[0].namespace == "t"
    assert out[1].namespace == "" and out[1].labels == {"env": "dev"}


def test_a_render_with_app_objects_raises_apps_found_listing_them() -> None:
    objs = [app("a", {"source": GIT}), m(yaml.safe_load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}"))]
    with pytest.raises(AppsFound) as e:
        detector(objs)
    assert [x.name for x in e.value.apps] == ["a"]
    assert detector(objs[1:]) == (objs[1:], [])


class _Discovery:
    def __init__(self, served: set[tuple[str, str]]):
        self.served = served

    def for_group_kind(self, group: str, kind: str) -> object | None:
        return object() if (group, kind) in self.served else None


@pytest.mark.parametrize(("mode", "served", "expand", "why"), [
    ("auto", set(), True, "does not serve Application.argoproj.io"),
    ("auto", {("argoproj.io", "Application")}, False, "the cluster serves Application.argoproj.io"),
    ("expand", {("argoproj.io", "Application")}, True, "--apps=expand"),
    ("apply", set(), False, "--apps=apply"),
])
def test_auto_expands_only_when_the_cluster_does_not_serve_the_crd_and_says_so(
        mode: str, served: set[tuple[str, str]], expand: bool, why: str) -> None:
    from kubectl_gitops.events import Event
    from kubectl_gitops.ops.apptree import decide
    from kubectl_gitops.settings import Settings, TreeOptions

    events: list[Event] = []
    settings = Settings(tree=TreeOptions(mode=mode))
    assert decide(settings, [app("a", {"source": GIT})], _Discovery(served), events.append) is expand
    assert why in events[0].message and events[0].data["expand"] is expand


def test_an_application_as_a_hook_is_refused() -> None:
    m = app("h", {"source": GIT})
    m.metadata["annotations"] = {"argocd.argoproj.io/hook": "PreSync"}
    _, problems = read_application(m)
    assert problems and "argocd.argoproj.io/hook" in problems[0]
