"""validate: structural checks, scope, duplicates and namespace defaulting (pure, no cluster)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kubectl_gitops.errors import ExitCode, ValidationError
from kubectl_gitops.model import Manifest, Origin
from kubectl_gitops.source.validate import find_problems, validate


def m(text: str, path: str = "apps/x.yaml", line: int = 1) -> Manifest:
    return Manifest(yaml.safe_load(text), Origin(path, line))


def obj(kind: str = "ConfigMap", name: Any = "a", api: str = "v1", ns: str | None = None, **meta: Any) -> Manifest:
    metadata: dict[str, Any] = {"name": name, **meta}
    if ns is not None:
        metadata["namespace"] = ns
    return Manifest({"apiVersion": api, "kind": kind, "metadata": metadata}, Origin("apps/x.yaml", 3))


SERVED: dict[tuple[str, str], bool] = {
    ("v1", "ConfigMap"): True, ("v1", "Namespace"): False, ("apps/v1", "Deployment"): True,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): False, ("v1", "Service"): True,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): False, ("batch/v1", "Job"): True,
}


def cluster(api_version: str, kind: str) -> bool | None:
    return SERVED.get((api_version, kind))


CRD = Manifest({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "widgets.example.com"},
                "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget"},
                         "versions": [{"name": "v1"}]}}, Origin("crds/widget.yaml", 1))
CLUSTER_CRD = Manifest({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                        "metadata": {"name": "gizmos.example.com"},
                        "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Gizmo"},
                                 "versions": [{"name": "v1"}]}}, Origin("crds/gizmo.yaml", 1))

# (case, manifests, expected problem fragments) — with the cluster resolver.
CASES: list[tuple[str, list[Manifest], list[str]]] = [
    ("valid", [obj(), obj("Namespace", "demo"), obj("Deployment", "web", "apps/v1", "demo")], []),
    ("missing apiVersion", [m("kind: ConfigMap\nmetadata: {name: a}")],
     ["apps/x.yaml:1: ConfigMap a: missing apiVersion; add it"]),
    ("missing kind", [m("apiVersion: v1\nmetadata: {name: a}")], ["apps/x.yaml:1: a: missing kind; add it"]),
    ("missing metadata", [m("apiVersion: v1\nkind: ConfigMap")],
     ["apps/x.yaml:1: ConfigMap default/<no name>: missing metadata; add 'metadata:'"]),
    ("metadata not a mapping", [m("apiVersion: v1\nkind: ConfigMap\nmetadata: a")], ["metadata is not a mapping"]),
    ("missing name", [m("apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: demo}")],
     ["apps/x.yaml:1: ConfigMap demo/<no name>: missing metadata.name; add a name"]),
    ("generateName outside a hook", [obj(name=None, generateName="a-")],
     ["generateName is only allowed on hook objects"]),
    ("generateName on an Argo hook", [obj("Job", None, "batch/v1", generateName="migrate-",
                                          annotations={"argocd.argoproj.io/hook": "PreSync"})], []),
    ("generateName on a Helm hook", [obj("Job", None, "batch/v1", generateName="migrate-",
                                         annotations={"helm.sh/hook": "pre-install"})], []),
    ("name not a string", [obj(name=12)], ["metadata.name must be a string"]),
    ("uppercase name", [obj(name="Web")], ["ConfigMap default/Web: invalid name 'Web': must be a DNS-1123 subdomain"]),
    ("underscore name", [obj(name="my_app")], ["invalid name 'my_app'"]),
    ("dotted name ok", [obj(name="app.v1")], []),
    ("dotted Service name", [obj("Service", "app.v1")], ["must be a DNS-1123 label"]),
    ("long Namespace name", [obj("Namespace", "n" * 64)], ["must be a DNS-1123 label"]),
    ("RBAC colon name ok", [obj("ClusterRole", "system:viewer", "rbac.authorization.k8s.io/v1")], []),
    ("RBAC slash name", [obj("ClusterRole", "a/b", "rbac.authorization.k8s.io/v1")], ["may not be '.' or '..'"]),
    ("bad namespace", [obj(ns="Prod")], ["invalid namespace 'Prod'"]),
    ("unquoted annotation", [obj(annotations={"argocd.argoproj.io/sync-wave": 1})],
     ['annotation argocd.argoproj.io/sync-wave is 1 (a number), but values must be strings; '
      'quote it: argocd.argoproj.io/sync-wave: "1"']),
    ("boolean label", [obj(labels={"enabled": True})], ["label enabled is true (a boolean)"]),
    ("labels not a mapping", [obj(labels=["a"])], ["metadata.labels must be a mapping"]),
    ("namespace on cluster-scoped", [obj("Namespace", "demo", ns="demo")],
     ["apps/x.yaml:3: Namespace demo: namespace 'demo' set on a cluster-scoped kind; remove metadata.namespace"]),
    ("kind not served", [obj("Deploymnet", "web", "apps/v1")],
     ["Deploymnet.apps web: the cluster does not serve apps/v1 Deploymnet and no CustomResourceDefinition in "
      "these manifests defines it; check apiVersion and kind for typos"]),
    ("custom resource with its CRD", [CRD, obj("Widget", "w", "example.com/v1")], []),
    ("custom resource with a CRD of another version", [CRD, obj("Widget", "w", "example.com/v2")],
     ["defines versions v1, not v2"]),
    ("cluster-scoped custom resource with namespace", [CLUSTER_CRD, obj("Gizmo", "g", "example.com/v1", ns="x")],
     ["set on a cluster-scoped kind"]),
]


@pytest.mark.parametrize(("manifests", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_problems(manifests: list[Manifest], expected: list[str]):
    problems = find_problems(manifests, default_namespace="default", resolve=cluster)
    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem
        assert "; " in problem  # what to do follows what is wrong


def test_duplicates_name_both_origins():
    a = Manifest({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"}},
                 Origin("apps/web.yaml", 12))
    b = Manifest({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}},
                 Origin("apps/web-copy.yaml", 3))
    problems = find_problems([a, b], default_namespace="demo", resolve=cluster)
    assert problems == ["apps/web-copy.yaml:3: Deployment.apps demo/web: defined twice, also at apps/web.yaml:12; "
                        "keep one definition (otherwise one silently overrides the other)"]


@pytest.mark.parametrize(("first", "second", "duplicate"), [
    (obj(ns="a"), obj(ns="b"), False),                      # other namespace
    (obj(), obj(ns="default"), True),                       # the default namespace is applied before comparing
    (obj(), obj("Secret"), False),                          # other kind
    (obj("Namespace", "x"), obj("Namespace", "x"), True),
    (obj("Deployment", "web", "apps/v1"), obj("Deployment", "web", "extensions/v1beta1"), False),  # other group
    (obj("Job", None, "batch/v1", generateName="m-", annotations={"argocd.argoproj.io/hook": "PreSync"}),
     obj("Job", None, "batch/v1", generateName="m-", annotations={"argocd.argoproj.io/hook": "PreSync"}), False),
])
def test_what_counts_as_a_duplicate(first, second, duplicate):
    problems = find_problems([first, second], default_namespace="default", resolve=None)
    assert any("defined twice" in p for p in problems) is duplicate


def test_every_problem_is_reported_at_once():
    bad = [m("kind: ConfigMap\nmetadata: {name: a}"), obj(name="Bad"), obj("Namespace", "x", ns="x"),
           obj("Nope", "n", "example.com/v1")]
    with pytest.raises(ValidationError) as e:
        validate(bad, default_namespace="default", resolve=cluster, extra_problems=["policy: no latest tags"])
    assert len(e.value.details) == 5
    assert e.value.details[0] == "policy: no latest tags"
    assert e.value.exit_code == ExitCode.INVALID_INPUT
    assert "5 problems found, nothing was changed" in str(e.value)


def test_namespaced_objects_get_the_default_namespace_and_cluster_scoped_ones_do_not():
    manifests = [obj(), obj("Deployment", "web", "apps/v1", "own"), obj("Namespace", "demo"),
                 obj("ClusterRole", "r", "rbac.authorization.k8s.io/v1"), CRD, obj("Widget", "w", "example.com/v1")]
    out = validate(manifests, default_namespace="team", resolve=cluster)
    assert out is manifests
    assert [x.obj["metadata"].get("namespace") for x in out] == ["team", "own", None, None, None, "team"]


def test_find_problems_does_not_change_the_manifests():
    manifests = [obj()]
    assert find_problems(manifests, default_namespace="team", resolve=cluster) == []
    assert "namespace" not in manifests[0].obj["metadata"]


@pytest.mark.parametrize(("kind", "api", "namespaced"), [
    ("Namespace", "v1", False),
    ("ClusterRoleBinding", "rbac.authorization.k8s.io/v1", False),
    ("StorageClass", "storage.k8s.io/v1", False),
    ("PriorityClass", "scheduling.k8s.io/v1", False),
    ("ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1", False),
    ("ClusterIssuer", "cert-manager.io/v1", False),
    ("Deployment", "apps/v1", True),
    ("SomethingUnknown", "example.com/v1", True),  # offline: unknown kinds are namespaced, without error
    ("Gizmo", "example.com/v1", False),            # a CRD in the set says Cluster
])
def test_offline_scope_uses_the_builtin_table_and_crds_in_the_set(kind, api, namespaced):
    target = obj(kind, "x", api)
    validate([CLUSTER_CRD, target], default_namespace="team", resolve=None)
    assert (target.obj["metadata"].get("namespace") == "team") is namespaced


def test_offline_validation_flags_namespace_on_builtin_cluster_scoped_kinds():
    problems = find_problems([obj("PersistentVolume", "pv", ns="x")], default_namespace="d", resolve=None)
    assert len(problems) == 1 and "cluster-scoped" in problems[0]


def test_helm_and_kustomize_origins_appear_in_messages():
    x = Manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad"}},
                 Origin("charts/demo/templates/cm.yaml", None, "helm", "chart demo, release demo"))
    (problem,) = find_problems([x], default_namespace="d", resolve=None)
    assert problem.startswith("charts/demo/templates/cm.yaml (helm: chart demo, release demo): ConfigMap d/Bad: ")
