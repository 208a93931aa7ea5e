"""render on an untrusted repository: no symlink leaves it, no network from its content (docs/security.md).

Real kustomize (``kubectl kustomize``) and the real helm run here; a loopback HTTP server stands in for the
network and counts the requests it receives.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_helpers import LoopbackHTTPServer, serving
from source_helpers import HELM_MISSING, configmap, find_helm

from kubectl_gitops.settings import SourceOptions
from kubectl_gitops.source.render import render
from kubectl_gitops.source.unitguard import is_remote_target

TOKEN = "canary-4f1d9e7c"
SECRET = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  token: {TOKEN}\n")
needs_kustomize = pytest.mark.skipif(not (shutil.which("kubectl") or shutil.which("kustomize")),
                                     reason="needs kubectl or kustomize")


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def link(root: Path, rel: str, target: str | Path) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.symlink_to(target)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the repository holding a manifest and a file with the canary token."""
    out = tmp_path / "outside"
    write(out, {"secret.yaml": SECRET, "secret.txt": TOKEN + "\n", "base/kustomization.yaml": "resources: [cm.yaml]\n",
                "base/cm.yaml": SECRET})
    return out


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    return r


def run(root: Path, path: str = ".", **opts):
    manifests, problems = render(root, path, SourceOptions(path=path, **opts))
    text = "\n".join(problems) + "\n".join(str(m.obj) for m in manifests)
    return manifests, problems, text


@pytest.fixture
def helm(monkeypatch: pytest.MonkeyPatch) -> str:
    found = find_helm()
    if not found:
        pytest.skip(HELM_MISSING)
    monkeypatch.setenv("KUBECTL_GITOPS_HELM", found)
    return found


class _Listener:
    def __init__(self) -> None:
        self.requests: list[str] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.requests.append(self.path)
                body = SECRET.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/yaml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = LoopbackHTTPServer(Handler)
        self.url = self.server.url


@pytest.fixture
def listener() -> Iterator[_Listener]:
    srv = _Listener()
    with serving(srv.server):
        yield srv


# --- plain files --------------------------------------------------------------------------------------------


def test_absolute_link_to_a_manifest_outside_is_refused_unread(repo: Path, outside: Path):
    write(repo, {"deploy/ok.yaml": configmap("ok")})
    link(repo, "deploy/leak.yaml", outside / "secret.yaml")
    manifests, problems, text = run(repo, "deploy")
    assert problems == [problems[0]] and problems[0].startswith("deploy/leak.yaml: symbolic link leaves the repository")
    assert TOKEN not in text and str(outside) not in text
    assert [m.name for m in manifests] == ["ok"]


def test_folder_link_leaving_the_repository_is_refused_and_not_walked(repo: Path, outside: Path):
    link(repo, "deploy/ext", outside)
    manifests, problems, text = run(repo)
    assert problems == [problems[0]] and problems[0].startswith("deploy/ext: symbolic link leaves the repository")
    assert manifests == [] and TOKEN not in text


def test_chain_of_relative_links_is_followed_to_its_real_path(repo: Path, outside: Path):
    link(repo, "deploy/d", "../..")  # repo/deploy/d -> the folder holding the repository: escapes by itself
    link(repo, "deploy/x.yaml", "d/outside/secret.yaml")
    link(repo, "deploy/up", "..")  # stays inside: fine
    link(repo, "deploy/y.yaml", "up/deploy/up/../outside/secret.yaml")
    manifests, problems, text = run(repo, "deploy")
    assert sorted(p.split(":")[0] for p in problems) == ["deploy/d", "deploy/x.yaml", "deploy/y.yaml"]
    assert manifests == [] and TOKEN not in text


def test_the_path_itself_through_a_link_leaving_the_repository_is_refused(repo: Path, outside: Path):
    link(repo, "deploy", outside)
    manifests, problems, text = run(repo, "deploy/secret.yaml")
    assert problems == ["deploy: symbolic link leaves the repository (its target was not read); replace the link "
                        "with a regular file, or make it point inside the repository"]
    assert manifests == [] and TOKEN not in text


def test_links_inside_the_repository_keep_working(repo: Path):
    write(repo, {"shared/cm.yaml": configmap("shared"), "deploy/a.yaml": configmap("a")})
    link(repo, "deploy/b.yaml", "a.yaml")
    link(repo, "deploy/shared", "../shared")
    link(repo, "deploy/abs.yaml", repo / "shared" / "cm.yaml")
    manifests, problems, _ = run(repo, "deploy")
    assert problems == []
    assert sorted(m.origin.path for m in manifests) == ["deploy/a.yaml", "deploy/abs.yaml", "deploy/b.yaml",
                                                        "deploy/shared/cm.yaml"]


def test_links_that_would_not_be_read_or_are_excluded_are_ignored(repo: Path, outside: Path):
    write(repo, {"deploy/a.yaml": configmap("a")})
    link(repo, "deploy/README", outside / "secret.txt")  # not a manifest name: never read
    link(repo, "deploy/.hidden.yaml", outside / "secret.yaml")  # hidden: never read
    link(repo, "deploy/skip.yaml", outside / "secret.yaml")
    manifests, problems, _ = run(repo, "deploy", exclude=("skip.yaml",))
    assert problems == [] and [m.name for m in manifests] == ["a"]


# --- kustomize ----------------------------------------------------------------------------------------------


@needs_kustomize
def test_kustomize_resource_linked_outside_is_refused_before_kustomize_runs(repo: Path, outside: Path):
    write(repo, {"deploy/kustomization.yaml": "resources: [cm.yaml, leak.yaml]\n", "deploy/cm.yaml": configmap("a")})
    link(repo, "deploy/leak.yaml", outside / "secret.yaml")
    manifests, problems, text = run(repo)
    assert problems == ["deploy/kustomization.yaml: resources entry 'leak.yaml' leaves the repository (after "
                        "following links); keep kustomize inputs inside the repository",
                        "deploy/leak.yaml: symbolic link leaves the repository; kustomize would follow it (its target "
                        "was not read); replace the link with a regular file, or make it point inside the repository"]
    assert manifests == [] and TOKEN not in text


@needs_kustomize
def test_kustomize_link_anywhere_it_may_load_from_is_refused(repo: Path, outside: Path):
    # the overlay is clean; its base (inside the repository, through an in-repository folder link) is not
    write(repo, {"overlay/kustomization.yaml": "resources: [../lib/base]\n",
                 "real/kustomization.yaml": "resources: [cm.yaml]\n", "real/cm.yaml": configmap("a")})
    link(repo, "lib/base", "../real")
    link(repo, "real/notes", outside / "secret.txt")  # not listed, but a transformer could read it: refused
    manifests, problems, text = run(repo, "overlay")
    assert [p.split(":")[0] for p in problems] == ["lib/base/notes"]
    assert manifests == [] and TOKEN not in text


@needs_kustomize
def test_kustomize_base_outside_the_repository_is_refused(repo: Path, outside: Path):
    rel = os.path.relpath(outside / "base", repo / "deploy")
    write(repo, {"deploy/kustomization.yaml": f"resources: [{rel}]\n"})
    manifests, problems, text = run(repo)
    assert problems == [f"deploy/kustomization.yaml: resources entry '{rel}' leaves the repository (after following "
                        "links); keep kustomize inputs inside the repository"]
    assert manifests == [] and TOKEN not in text


@needs_kustomize
def test_kustomize_links_and_bases_inside_the_repository_keep_working(repo: Path):
    write(repo, {"base/kustomization.yaml": "resources: [cm.yaml]\n", "base/cm.yaml": configmap("a"),
                 "overlay/kustomization.yaml": "resources: [../base, b.yaml]\nnamePrefix: p-\n",
                 "shared/b.yaml": configmap("b")})
    link(repo, "overlay/b.yaml", "../shared/b.yaml")  # kustomize loads it: the real path is not under overlay/...
    manifests, problems, _ = run(repo, "overlay")
    # ...which kustomize's own load restrictor refuses, naming it; a link inside the folder itself is fine:
    assert len(problems) == 1 and "overlay: kustomize build failed" in problems[0] and manifests == []
    (repo / "overlay/b.yaml").unlink()
    write(repo, {"overlay/real-b.yaml": configmap("b")})
    link(repo, "overlay/b.yaml", "real-b.yaml")
    manifests, problems, _ = run(repo, "overlay")
    assert problems == [] and sorted(m.name for m in manifests) == ["p-a", "p-b"]


@pytest.mark.parametrize(("ref", "remote"), [
    ("https://example.com/x.yaml", True), ("http://127.0.0.1:8/x.yaml", True),
    ("github.com/org/repo//deploy?ref=v1", True), ("GitHub.com/org/repo", True), ("git::https://host/r.git", True),
    ("git@github.com:org/repo.git//base", True), ("ssh://git@host/org/repo", True), ("gh:org/repo", True),
    ("file:///srv/repo", True), ("oci://registry/chart", True), ("https://dev.azure.com/o/p/_git/r", True),
    ("host.example:org/repo", True), ("deploy?ref=main", True),
    ("../base", False), ("cm.yaml", False), ("./a/b.yaml", False), ("base/github/x.yaml", False),
    ("/abs/path.yaml", False),
])
def test_remote_targets_as_kustomize_recognises_them(ref: str, remote: bool):
    assert is_remote_target(ref) is remote


@needs_kustomize
def test_kustomize_http_resource_is_fetched_only_with_allow_remote(repo: Path, listener: _Listener):
    write(repo, {"deploy/kustomization.yaml": f"resources:\n- {listener.url}/x.yaml\n"})
    manifests, problems, _ = run(repo)
    assert problems == [f"deploy/kustomization.yaml: resources entry '{listener.url}/x.yaml' is a remote reference "
                        "that kustomize would fetch from the network; vendor it into the repository or pass "
                        "--allow-remote (see docs/security.md)"]
    assert manifests == [] and listener.requests == []
    manifests, problems, _ = run(repo, allow_remote=True)
    assert problems == [] and [m.name for m in manifests] == ["stolen"]
    assert listener.requests == ["/x.yaml"]


@needs_kustomize
def test_kustomize_remote_reference_in_a_nested_local_base_is_found(repo: Path):
    write(repo, {"overlay/kustomization.yaml": "resources: [../mid]\n",
                 "mid/kustomization.yaml": "components: [../comp]\n",
                 "comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                            "resources: ['git@github.com:org/repo.git//base?ref=v1']\n"})
    _, problems, _ = run(repo, "overlay")
    assert [p.split(": ")[0] for p in problems] == ["comp/kustomization.yaml"]
    assert "'git@github.com:org/repo.git//base?ref=v1' is a remote reference" in problems[0]


@needs_kustomize
@pytest.mark.parametrize("kustomization", [
    "resources: [cm.yaml]\npatches:\n- path: {url}/p.yaml\n",
    "resources: [cm.yaml]\nconfigMapGenerator:\n- name: g\n  files: [k={url}/f]\n",
    "resources: [cm.yaml]\nopenapi:\n  path: {url}/schema.json\n",
    "resources: [cm.yaml]\ncrds: [{url}/crd.yaml]\n",
    "resources: [cm.yaml]\ngenerators:\n- |\n  apiVersion: builtin\n  kind: HelmChartInflationGenerator\n"
    "  metadata: {{name: x}}\n  name: c\n  repo: {url}\n",
    "resources: [cm.yaml]\ntransformers: [t.yaml]\n",
])
def test_kustomize_remote_files_in_other_fields_are_refused(repo: Path, listener: _Listener, kustomization: str):
    write(repo, {"deploy/kustomization.yaml": kustomization.format(url=listener.url),
                 "deploy/cm.yaml": configmap("a"),
                 "deploy/t.yaml": f"apiVersion: builtin\nkind: PatchTransformer\nmetadata: {{name: t}}\n"
                                  f"path: {listener.url}/p.yaml\n"})
    manifests, problems, _ = run(repo)
    assert len(problems) == 1 and listener.url in problems[0] and "--allow-remote" in problems[0]
    assert manifests == [] and listener.requests == []


@needs_kustomize
def test_unreadable_kustomization_is_refused_not_guessed(repo: Path):
    write(repo, {"deploy/kustomization.yaml": "resources: [a.yaml]\nresources: [b.yaml]\n"})
    _, problems, _ = run(repo)
    assert len(problems) == 1 and problems[0].startswith("deploy/kustomization.yaml: cannot read the kustomization")


@needs_kustomize
def test_kustomize_helm_chart_must_be_vendored(repo: Path, listener: _Listener, helm: str):
    chart = {"Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n", "values.yaml": "v: 1\n",
             "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-chart\n"}
    write(repo, {"deploy/kustomization.yaml": f"helmCharts:\n- name: c\n  repo: {listener.url}\n  version: 0.1.0\n"
                                              "  releaseName: r\n"})
    manifests, problems, _ = run(repo)
    assert problems == [f"deploy/kustomization.yaml: helmCharts 'c' from {listener.url} is not vendored in "
                        "deploy/charts/c-0.1.0/c/, so kustomize would download it; vendor it into the repository "
                        "or pass --allow-remote (see docs/security.md)"]
    assert listener.requests == []
    write(repo, {f"deploy/charts/c-0.1.0/c/{k}": v for k, v in chart.items()})
    manifests, problems, _ = run(repo)
    assert problems == [] and [m.name for m in manifests] == ["from-chart"] and listener.requests == []


# --- helm ---------------------------------------------------------------------------------------------------


def _chart(root: Path, rel: str, *, deps: str = "", template: str = "") -> None:
    write(root, {f"{rel}/Chart.yaml": f"apiVersion: v2\nname: demo\nversion: 0.1.0\n{deps}",
                 f"{rel}/templates/cm.yaml": template or "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
                                                        "data:\n  k: {{ .Files.Get \"files/k\" | quote }}\n"})


def test_helm_files_get_on_a_link_outside_is_refused_before_helm_runs(repo: Path, outside: Path, helm: str):
    _chart(repo, "deploy")
    link(repo, "deploy/files/k", outside / "secret.txt")
    manifests, problems, text = run(repo)
    assert [p.split(":")[0] for p in problems] == ["deploy/files/k"] and "helm would follow it" in problems[0]
    assert manifests == [] and TOKEN not in text


def test_a_chart_at_the_work_tree_root_cannot_read_git_s_own_files(repo: Path, helm: str):
    # in CI, .git/config holds the checkout's credentials header; helm hands the whole chart folder to .Files
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "http.https://git.example.com/.extraheader",
                    f"AUTHORIZATION: basic {TOKEN}"], check=True)
    write(repo, {"Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
                 "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
                                      "data:\n  k: {{ .Files.Get \".git/config\" | quote }}\n"})
    manifests, problems, text = run(repo)
    assert problems == [] and manifests[0].obj["data"] == {"k": ""} and TOKEN not in text


def test_helm_links_inside_keep_working_and_subchart_links_are_followed(repo: Path, outside: Path, helm: str):
    _chart(repo, "deploy")
    write(repo, {"data/k": "inside\n"})
    link(repo, "deploy/files/k", "../../data/k")
    manifests, problems, _ = run(repo)
    assert problems == [] and manifests[0].obj["data"] == {"k": "inside\n"}
    _chart(repo, "lib/sub", template="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sub\n")
    link(repo, "deploy/charts/sub", "../../lib/sub")
    link(repo, "lib/sub/files/x", outside / "secret.txt")  # reached only through the in-repository link
    manifests, problems, text = run(repo, "deploy")
    assert [p.split(":")[0] for p in problems] == ["deploy/charts/sub/files/x"] and TOKEN not in text


def test_helm_dependency_from_a_repository_must_be_vendored(repo: Path, listener: _Listener, helm: str):
    deps = f"dependencies:\n- name: redis\n  version: 1.0.0\n  repository: {listener.url}/charts\n"
    _chart(repo, "deploy", deps=deps, template="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
    _, problems, _ = run(repo)
    assert problems == [f"deploy/Chart.yaml: dependency 'redis' from {listener.url}/charts is not vendored in "
                        "deploy/charts/ and would be downloaded; run `helm dependency build` and commit charts/, or "
                        "vendor it into the repository or pass --allow-remote (see docs/security.md)"]
    # with --allow-remote helm itself runs: `helm template` never downloads (no --dependency-update), it fails
    _, problems, _ = run(repo, allow_remote=True)
    assert len(problems) == 1 and "missing in charts/ directory: redis" in problems[0]
    assert listener.requests == []
    _chart(repo, "deploy/charts/redis", template="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r\n")
    (repo / "deploy/charts/redis/Chart.yaml").write_text("apiVersion: v2\nname: redis\nversion: 1.0.0\n")
    manifests, problems, _ = run(repo)
    assert problems == [] and sorted(m.name for m in manifests) == ["c", "r"]


@needs_kustomize
def test_a_problem_of_a_base_shared_by_two_units_is_reported_once(repo: Path):
    write(repo, {"deploy/base/kustomization.yaml": "resources: ['https://example.invalid/x.yaml']\n",
                 "deploy/a/kustomization.yaml": "resources: [../base]\n",
                 "deploy/b/kustomization.yaml": "resources: [../base]\n"})
    _, problems, _ = run(repo)
    assert [p.split(": ")[0] for p in problems] == ["deploy/base/kustomization.yaml"]
