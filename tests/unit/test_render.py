"""render: plain files, kustomize (the real kubectl kustomize) and Helm (the real helm)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from source_helpers import FIXTURES, HELM_MISSING, configmap, find_helm

from kubectl_gitops.errors import RenderError, SecretsError
from kubectl_gitops.settings import SourceOptions
from kubectl_gitops.source.render import glob_match, render


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def names(manifests) -> list[str]:
    return [m.name for m in manifests]


def run(root: Path, path: str = ".", **opts):
    return render(root, path, SourceOptions(path=path, **opts))


# --- plain files ---------------------------------------------------------------------------------------------


def test_multi_document_file_gives_each_object_its_line(tmp_path: Path):
    write(tmp_path, {"apps/all.yaml": "# comment\n---\n" + configmap("a") + "---\n\n" + configmap("b")
                     + "---\n---\n# only a comment\n"})
    manifests, problems = run(tmp_path)
    assert problems == []
    assert [(m.name, m.origin.path, m.origin.line, m.origin.renderer) for m in manifests] == [
        ("a", "apps/all.yaml", 3, "file"), ("b", "apps/all.yaml", 11, "file")]


def test_files_are_read_recursively_in_a_stable_order(tmp_path: Path):
    abc = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "abc"}}'
    write(tmp_path, {"b.yaml": configmap("b"), "a/z.yml": configmap("az"), "a/b/c.json": abc, "c.yaml": configmap("c")})
    manifests, problems = run(tmp_path)
    assert problems == []
    assert names(manifests) == ["abc", "az", "b", "c"]
    assert manifests[0].origin.path == "a/b/c.json" and manifests[0].origin.line == 1


def test_list_kinds_are_flattened_with_the_line_of_each_item(tmp_path: Path):
    write(tmp_path, {"list.yaml": """apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: one}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: two}
---
apiVersion: v1
kind: ConfigMapList
items: []
""", "list.json": '{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Secret", '
                  '"metadata": {"name": "three"}}]}'})
    manifests, problems = run(tmp_path)
    assert problems == []
    assert [(m.name, m.origin.line) for m in manifests] == [("three", 1), ("one", 4), ("two", 7)]


@pytest.mark.parametrize(("text", "line", "what"), [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n   bad: indent\n", 5, "invalid YAML"),
    ("apiVersion: v1\nkind: [unclosed\n", 3, "invalid YAML"),
    (configmap("a") + "---\napiVersion: v1\nkind: ConfigMap\nkind: Secret\n", 10, "key 'kind' appears twice"),
    ("- just\n- a list\n", 1, "expected a Kubernetes object"),
    ("---\nplain string\n", 2, "expected a Kubernetes object"),
    ("apiVersion: v1\nkind: List\nitems:\n  - 3\n", 4, "item 0 of List is a number"),
])
def test_bad_yaml_is_a_problem_with_file_and_line(tmp_path: Path, text, line, what):
    write(tmp_path, {"apps/bad.yaml": text})
    _, problems = run(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"apps/bad.yaml:{line}: ")
    assert what in problems[0]
    assert "; " in problems[0]  # what to do follows


def test_invalid_json_is_a_problem_with_line(tmp_path: Path):
    write(tmp_path, {"x.json": '{\n  "apiVersion": "v1",\n  "kind": \n}'})
    _, problems = run(tmp_path)
    assert len(problems) == 1 and problems[0].startswith("x.json:4: invalid JSON")


def test_documents_before_a_syntax_error_are_kept_and_every_file_is_reported(tmp_path: Path):
    write(tmp_path, {"a.yaml": configmap("ok") + "---\nkind: [\n", "b.yaml": "a: b: c\n"})
    manifests, problems = run(tmp_path)
    assert names(manifests) == ["ok"]
    assert [p.split(":")[0] for p in problems] == ["a.yaml", "b.yaml"]


def test_yaml_follows_kubectl_semantics(tmp_path: Path):
    write(tmp_path, {"a.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  annotations:
    date: 2024-01-02
    yes-no: yes
    octal: 0755
base: &base {x: "1"}
data:
  <<: *base
  y: "2"
"""})
    (m,), problems = run(tmp_path)
    assert problems == []
    ann = m.obj["metadata"]["annotations"]
    assert ann["date"] == "2024-01-02"  # a string, as kubectl sends it (JSON-serialisable)
    assert ann["yes-no"] is True and ann["octal"] == 493  # YAML 1.1, like kubectl: validation flags them
    assert m.obj["data"] == {"x": "1", "y": "2"}  # merge keys are not duplicate keys


def test_utf8_bom_is_accepted_and_other_encodings_are_a_problem(tmp_path: Path):
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + configmap("bom").encode())
    (tmp_path / "latin1.yaml").write_bytes(configmap("caf\xe9").encode("latin-1"))
    manifests, problems = run(tmp_path)
    assert names(manifests) == ["bom"]
    assert len(problems) == 1 and problems[0].startswith("latin1.yaml: not UTF-8")


def test_hidden_support_and_non_manifest_files_are_skipped(tmp_path: Path):
    write(tmp_path, {
        "a.yaml": configmap("a"),
        ".sops.yaml": "creation_rules: []\n",
        ".github/workflows/ci.yaml": "on: push\n",
        "apps/.hidden.yaml": configmap("hidden"),
        "apps/values.yaml": "replicas: 2\n",
        "apps/kustomizeconfig.yaml": "nameReference: []\n",
        "renovate.json": '{"extends": ["config:base"]}',
        "README.md": "# docs\n",
        "apps/notes.txt": "x",
    })
    manifests, problems = run(tmp_path)
    assert problems == []
    assert names(manifests) == ["a"]


@pytest.mark.parametrize(("include", "exclude", "expected"), [
    ((), (), ["a", "b", "old", "t1", "t2"]),
    (("apps/*",), (), ["a", "b", "old"]),
    (("apps",), (), ["a", "b", "old"]),
    ((), ("legacy",), ["a", "b", "t1", "t2"]),                 # a folder name anywhere
    ((), ("*.test.yaml",), ["a", "b", "old"]),                  # a file pattern anywhere
    ((), ("apps/legacy/**",), ["a", "b", "t1", "t2"]),
    (("**/b.yaml", "tests"), ("t2*",), ["b", "t1"]),
])
def test_include_and_exclude_globs_match_paths_relative_to_the_path(tmp_path: Path, include, exclude, expected):
    write(tmp_path, {"m/apps/a.yaml": configmap("a"), "m/apps/b.yaml": configmap("b"),
                     "m/apps/legacy/old.yaml": configmap("old"), "m/tests/t1.test.yaml": configmap("t1"),
                     "m/tests/t2.test.yaml": configmap("t2"), "elsewhere.yaml": configmap("elsewhere")})
    manifests, problems = render(tmp_path, "m", SourceOptions(include=include, exclude=exclude))
    assert problems == []
    assert sorted(names(manifests)) == expected


@pytest.mark.parametrize(("rel", "pattern", "hit"), [
    ("apps/web.yaml", "apps/*.yaml", True),
    ("apps/web.yaml", "web.yaml", True),
    ("apps/web.yaml", "./apps/", True),
    ("apps/web.yaml", "**/web.yaml", True),
    ("web.yaml", "**/web.yaml", True),
    ("apps/web.yaml", "app", False),
    ("apps/web.yaml", "other/*", False),
    ("apps/web.yaml", "", False),
])
def test_glob_match(rel, pattern, hit):
    assert glob_match(rel, pattern) is hit


def test_a_single_file_can_be_the_path(tmp_path: Path):
    write(tmp_path, {"apps/a.yaml": configmap("a"), "apps/b.yaml": configmap("b")})
    manifests, problems = run(tmp_path, "apps/b.yaml")
    assert problems == [] and names(manifests) == ["b"]
    assert manifests[0].origin.path == "apps/b.yaml"


def test_missing_path_is_a_render_error(tmp_path: Path):
    with pytest.raises(RenderError, match="does not exist"):
        run(tmp_path, "nope")


def test_transform_sees_every_plain_file_before_parsing(tmp_path: Path):
    write(tmp_path, {"a.yaml": configmap("a", value="ENC[secret]"), "sub/b.json":
                     '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"v": "ENC[x]"}}'})
    seen = []

    def decrypt(rel: str, text: str) -> str:
        seen.append(rel)
        return text.replace("ENC[", "plain[")

    manifests, problems = render(tmp_path, ".", SourceOptions(), transform=decrypt)
    assert problems == []
    assert seen == ["a.yaml", "sub/b.json"]
    assert manifests[0].obj["data"]["value"] == "plain[secret]"
    assert manifests[1].obj["data"]["v"] == "plain[x]"


def test_transform_errors_propagate(tmp_path: Path):
    write(tmp_path, {"a.yaml": configmap("a")})

    def fail(rel: str, text: str) -> str:
        raise SecretsError(f"{rel}: cannot decrypt")

    with pytest.raises(SecretsError, match=r"a\.yaml: cannot decrypt"):
        render(tmp_path, ".", SourceOptions(), transform=fail)


def test_symlink_loops_do_not_hang_the_walk(tmp_path: Path):
    write(tmp_path, {"apps/a.yaml": configmap("a")})
    (tmp_path / "apps/loop").symlink_to(tmp_path / "apps")
    manifests, _ = run(tmp_path)
    assert names(manifests) == ["a"]


# --- kustomize -----------------------------------------------------------------------------------------------


@pytest.fixture
def kustomize_repo(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "kustomize", tmp_path / "deploy")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain/extra.yaml").write_text(configmap("extra"))
    return tmp_path


def test_kustomize_overlay_is_rendered_as_one_unit(kustomize_repo: Path):
    manifests, problems = run(kustomize_repo, "deploy/overlays/prod")
    assert problems == []
    by_kind = {m.kind: m for m in manifests}
    assert set(by_kind) == {"Namespace", "ConfigMap", "Service", "Deployment"}
    assert by_kind["Deployment"].obj["spec"]["replicas"] == 3
    assert by_kind["Deployment"].namespace == "prod"
    assert by_kind["ConfigMap"].name.startswith("api-config-")
    origin = by_kind["Deployment"].origin
    assert (origin.path, origin.line, origin.renderer) == ("deploy/overlays/prod", None, "kustomize")


def test_kustomize_folders_are_units_and_plain_folders_beside_them_are_files(kustomize_repo: Path):
    # Walking from the top: base and overlay are both kustomizations, each rendered once; the base's own
    # files are not read again as plain files.
    manifests, problems = run(kustomize_repo)
    assert problems == []
    origins = sorted({(m.origin.path, m.origin.renderer) for m in manifests})
    assert origins == [("deploy/base", "kustomize"), ("deploy/overlays/prod", "kustomize"),
                       ("plain/extra.yaml", "file")]


def test_kustomize_origin_annotations_point_at_the_file(kustomize_repo: Path):
    k = kustomize_repo / "deploy/overlays/prod/kustomization.yaml"
    k.write_text(k.read_text() + "buildMetadata: [originAnnotations]\n")
    manifests, problems = run(kustomize_repo, "deploy/overlays/prod")
    assert problems == []
    dep = next(m for m in manifests if m.kind == "Deployment")
    assert dep.origin.path == "deploy/base/deployment.yaml"
    assert dep.origin.detail == "deploy/overlays/prod"


def test_kustomize_failure_is_a_problem_naming_the_folder(kustomize_repo: Path):
    (kustomize_repo / "deploy/overlays/prod/replicas.yaml").unlink()
    manifests, problems = run(kustomize_repo, "deploy/overlays/prod")
    assert manifests == []
    assert len(problems) == 1
    assert problems[0].startswith("deploy/overlays/prod: kustomize build failed: ")
    assert "replicas.yaml" in problems[0]
    assert str(kustomize_repo) not in problems[0]  # temp paths are shown relative to the repository


def test_kustomize_binary_can_be_chosen_and_a_bad_choice_is_explained(kustomize_repo: Path, monkeypatch):
    monkeypatch.setenv("KUBECTL_GITOPS_KUSTOMIZE", shutil.which("kubectl") or "kubectl")
    manifests, problems = run(kustomize_repo, "deploy/overlays/prod")
    assert problems == [] and len(manifests) == 4
    monkeypatch.setenv("KUBECTL_GITOPS_KUSTOMIZE", "/nonexistent/kustomize")
    with pytest.raises(RenderError, match="KUBECTL_GITOPS_KUSTOMIZE"):
        run(kustomize_repo, "deploy/overlays/prod")


def test_missing_kustomize_and_kubectl_is_a_render_error(kustomize_repo: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(kustomize_repo / "no-bin"))
    monkeypatch.delenv("KUBECTL_PATH", raising=False)
    monkeypatch.delenv("KUBECTL_GITOPS_KUSTOMIZE", raising=False)
    with pytest.raises(RenderError) as e:
        run(kustomize_repo, "deploy/overlays/prod")
    assert "kustomize" in str(e.value) and "kubectl" in str(e.value)
    assert e.value.hint and "KUBECTL_GITOPS_KUSTOMIZE" in e.value.hint


# --- helm ----------------------------------------------------------------------------------------------------


@pytest.fixture
def helm(monkeypatch: pytest.MonkeyPatch) -> str:
    found = find_helm()
    if found is None:
        pytest.skip(HELM_MISSING)
    monkeypatch.setenv("KUBECTL_GITOPS_HELM", found)
    return found


@pytest.fixture
def chart_repo(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "helm", tmp_path / "charts")
    return tmp_path


def test_helm_chart_is_rendered_with_release_namespace_and_template_origins(chart_repo: Path, helm: str):
    manifests, problems = render(chart_repo, "charts", SourceOptions(), namespace="apps")
    assert problems == []
    by_kind = {m.kind: m for m in manifests}
    assert set(by_kind) == {"CustomResourceDefinition", "Service", "Widget", "Deployment", "Job"}  # no test Pod
    dep = by_kind["Deployment"]
    assert dep.name == "demo-web"  # release = the chart folder's name
    assert dep.namespace == "apps"
    assert dep.obj["spec"]["replicas"] == 1
    assert (dep.origin.path, dep.origin.renderer) == ("charts/demo/templates/deployment.yaml", "helm")
    assert dep.origin.detail == "chart demo, release demo"
    assert by_kind["Widget"].origin.path == "charts/demo/templates/service.yaml"
    assert by_kind["CustomResourceDefinition"].origin.path == "charts/demo/crds/widgets.yaml"
    assert by_kind["Job"].annotations["helm.sh/hook"] == "pre-install,pre-upgrade"


def test_helm_values_files_and_release_name(chart_repo: Path, helm: str):
    opts = SourceOptions(helm_values=("values-prod.yaml",), helm_release="shop")
    manifests, problems = render(chart_repo, "charts/demo", opts)
    assert problems == []
    dep = next(m for m in manifests if m.kind == "Deployment")
    assert dep.name == "shop-web"
    assert dep.obj["spec"]["replicas"] == 4
    assert dep.origin.detail == "chart demo, release shop"


def test_helm_values_file_not_found_is_a_problem(chart_repo: Path, helm: str):
    _, problems = render(chart_repo, "charts", SourceOptions(helm_values=("values-nope.yaml",)))
    assert len(problems) == 1 and "values-nope.yaml" in problems[0]


def test_helm_template_failure_is_a_problem_naming_the_chart(chart_repo: Path, helm: str):
    (chart_repo / "charts/demo/templates/broken.yaml").write_text("x: {{ .Values.nope.deeper }}\n")
    manifests, problems = render(chart_repo, "charts", SourceOptions())
    assert manifests == []
    assert len(problems) == 1 and problems[0].startswith("charts/demo: helm template failed: ")
    assert "broken.yaml" in problems[0]


def test_missing_helm_is_a_render_error_saying_how_to_install_it(chart_repo: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(chart_repo / "no-bin"))
    monkeypatch.delenv("KUBECTL_GITOPS_HELM", raising=False)
    with pytest.raises(RenderError) as e:
        render(chart_repo, "charts", SourceOptions())
    assert "charts/demo" in str(e.value) and "'helm'" in str(e.value)
    assert e.value.hint and "KUBECTL_GITOPS_HELM" in e.value.hint and "helm.sh" in e.value.hint


def test_values_without_any_chart_is_a_problem(tmp_path: Path):
    write(tmp_path, {"a.yaml": configmap("a")})
    _, problems = render(tmp_path, ".", SourceOptions(helm_values=("values-prod.yaml",)))
    assert len(problems) == 1 and "no Helm chart" in problems[0]
