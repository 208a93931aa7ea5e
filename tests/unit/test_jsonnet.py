"""Jsonnet rendering (the real go-jsonnet binding, in its child process): Argo CD's inputs, flattening, errors
with file:line, imports kept inside the repository, bounds; and folders no renderer reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from source_helpers import GitRepo

from kubectl_gitops.cli.main import main
from kubectl_gitops.errors import ExitCode, RenderError
from kubectl_gitops.model import Manifest, Origin
from kubectl_gitops.settings import RENDER_TIMEOUT_ENV, JsonnetOptions, SourceOptions
from kubectl_gitops.source import jsonnet
from kubectl_gitops.source.appsource import child_source
from kubectl_gitops.source.argoapp import read_application
from kubectl_gitops.source.render import render

CM = "{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: %s}, data: %s}"


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def run(root: Path, path: str = ".", **jsonnet_opts):
    return render(root, path, SourceOptions(path=path, jsonnet=JsonnetOptions(**jsonnet_opts)))


def one_problem(root: Path, path: str = ".", **jsonnet_opts) -> str:
    manifests, problems = run(root, path, **jsonnet_opts)
    assert manifests == [] and len(problems) == 1, problems
    return problems[0]


# --- inputs ------------------------------------------------------------------------------------------------


def test_ext_vars_and_tlas_as_strings_and_code(tmp_path: Path):
    write(tmp_path, {"apps/main.jsonnet": "function(ns, replicas) " + CM % (
        "std.extVar('app')", "{ns: ns, env: std.extVar('env'), n: std.toString(replicas + 1),"
        " flag: std.toString(std.extVar('flag'))}")})
    manifests, problems = run(tmp_path, "apps", ext_vars=(("app", "web"), ("env", "prod")),
                              ext_codes=(("flag", "true"),), tla_vars=(("ns", "team-a"),),
                              tla_codes=(("replicas", "2"),))
    assert problems == []
    [m] = manifests
    assert m.name == "web"
    assert m.obj["data"] == {"ns": "team-a", "env": "prod", "n": "3", "flag": "true"}
    assert (m.origin.path, m.origin.renderer) == ("apps/main.jsonnet", "jsonnet")


def test_libraries_are_found_next_to_the_file_then_in_libs_then_in_the_app_folder(tmp_path: Path):
    write(tmp_path, {
        "apps/web/main.jsonnet": "local a = import 'near.libsonnet'; local b = import 'k.libsonnet';"
                                 "local c = import 'app.libsonnet';" + CM % ("a.n + b.n + c.n", "{}"),
        "apps/web/near.libsonnet": "{n: 'near-'}",
        "vendor/old/k.libsonnet": "{n: 'old-'}",
        "vendor/new/k.libsonnet": "{n: 'new-'}",  # the last library folder given wins, as with jsonnet -J
        "apps/app.libsonnet": "{n: 'app'}",
    })
    manifests, problems = run(tmp_path, "apps", libs=("vendor/old", "vendor/new"))
    assert problems == []
    assert [m.name for m in manifests] == ["near-new-app"]


def test_importstr_and_importbin_read_repository_files(tmp_path: Path):
    data = "{text: importstr 'conf/app.ini', size: std.toString(std.length(importbin 'conf/app.ini'))}"
    write(tmp_path, {"apps/main.jsonnet": CM % ("'files'", data),
                     "apps/conf/app.ini": "[server]\nport=80\n"})
    [m], problems = run(tmp_path, "apps")
    assert problems == [] and m.obj["data"] == {"text": "[server]\nport=80\n", "size": "17"}


def test_from_argo_takes_directory_jsonnet_with_the_build_environment():
    opts, problems = jsonnet.from_argo({
        "extVars": [{"name": "app", "value": "$ARGOCD_APP_NAME"}, {"name": "n", "value": "3", "code": True}],
        "tlas": [{"name": "ns", "value": "${ARGOCD_APP_NAMESPACE}-x $$HOME"}],
        "libs": ["vendor"],
    }, env={"ARGOCD_APP_NAME": "web", "ARGOCD_APP_NAMESPACE": "prod"})
    assert problems == []
    assert opts == JsonnetOptions(ext_vars=(("app", "web"),), ext_codes=(("n", "3"),),
                                  tla_vars=(("ns", "prod-x $HOME"),), libs=("vendor",))


def test_from_argo_names_every_wrong_or_unknown_field():
    _, problems = jsonnet.from_argo({"extVars": [{"name": "a", "value": 3}, {"value": "x"}],
                                     "tlas": [{"name": "b", "value": "1", "code": "yes", "secret": True}],
                                     "libs": "vendor", "jpath": ["x"]}, where="app web: directory.jsonnet")
    assert problems == [
        "app web: directory.jsonnet.jpath: not a field of directory.jsonnet (known: extVars, tlas, libs); remove it",
        "app web: directory.jsonnet.extVars[0].value: must be a string, found int; quote the value",
        "app web: directory.jsonnet.extVars[1].name: must be a non-empty string; name the variable",
        "app web: directory.jsonnet.tlas[0].secret: not a field of a Jsonnet variable (known: name, value, code); "
        "remove it",
        "app web: directory.jsonnet.tlas[0].code: must be true or false; fix the Application",
        "app web: directory.jsonnet.libs: must be a list of folders relative to the repository root; "
        "fix the Application",
    ]


def test_library_folders_must_exist_inside_the_repository(tmp_path: Path):
    write(tmp_path / "repo", {"apps/main.jsonnet": CM % ("'a'", "{}")})
    (tmp_path / "lib").mkdir()
    os.symlink(tmp_path / "lib", tmp_path / "repo" / "linked")
    _, problems = run(tmp_path / "repo", "apps", libs=("../lib", "linked", "missing"))
    assert problems == [
        "jsonnet library folder '../lib' is outside the repository; give a folder relative to the repository root "
        "(e.g. vendor)",
        "jsonnet library folder 'linked' is a symbolic link that leaves the repository (not read); make it a folder "
        "inside the repository",
        "jsonnet library folder 'missing' does not exist in the repository; library folders are relative to the "
        "repository root, not to --path",
    ]


# --- output ------------------------------------------------------------------------------------------------


def test_output_is_flattened_like_argo_object_array_nulls_and_lists(tmp_path: Path):
    write(tmp_path, {
        "a-object.jsonnet": CM % ("'one'", "{}"),
        "b-array.jsonnet": "[{}, null, {{apiVersion: 'v1', kind: 'ConfigMapList', items: [{}, {}]}}]".format(
            CM % ("'two'", "{}"), CM % ("'three'", "{}"), CM % ("'four'", "{}")),
        "c-list.jsonnet": "{apiVersion: 'v1', kind: 'List', items: [%s]}" % (CM % ("'five'", "{}")),
        "lib.libsonnet": "{}",
    })
    manifests, problems = run(tmp_path)
    assert problems == []
    assert [(m.name, m.origin.path) for m in manifests] == [
        ("one", "a-object.jsonnet"), ("two", "b-array.jsonnet"), ("three", "b-array.jsonnet"),
        ("four", "b-array.jsonnet"), ("five", "c-list.jsonnet")]


def test_an_object_of_objects_says_how_to_make_it_an_array(tmp_path: Path):
    write(tmp_path, {"kp.jsonnet": "{{cm: {}, other: {}}}".format(CM % ("'a'", "{}"), CM % ("'b'", "{}"))})
    assert "std.objectValues" in one_problem(tmp_path)


def test_a_value_that_is_not_an_object_is_a_problem(tmp_path: Path):
    write(tmp_path, {"x.jsonnet": "[1]"})
    assert one_problem(tmp_path).startswith("x.jsonnet (jsonnet): expected a Kubernetes object")


def test_more_objects_than_the_document_limit_is_a_problem(tmp_path: Path):
    write(tmp_path, {"many.jsonnet": "std.makeArray(10001, function(i) %s)" % (CM % ("'c' + i", "{}"))})
    assert "more than 10,000 objects (the limit per file)" in one_problem(tmp_path)


# --- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("files, expected", [
    ({"apps/bad.jsonnet": "{\n  a: 1,\n  b:\n}\n"}, "apps/bad.jsonnet:4: jsonnet: Unexpected: \"}\""),
    ({"apps/bad.jsonnet": "local l = import '../lib/l.libsonnet';\nl.x",
      "lib/l.libsonnet": "{\n  x: error 'no x here',\n}"},
     "lib/l.libsonnet:2: jsonnet: no x here; fix the Jsonnet"),
    ({"apps/bad.jsonnet": "{\n  a: std.extVar('env'),\n}"},
     "apps/bad.jsonnet:2: jsonnet: Undefined external variable: env; pass it with --jsonnet-ext-var-str env=VALUE"),
    ({"apps/bad.jsonnet": "function(ns) {}"},
     "apps/bad.jsonnet: jsonnet: Missing argument: ns; pass it with --jsonnet-tla-str ns=VALUE"),
    ({"apps/bad.jsonnet": "local f(n) = f(n + 1) + 1;\nf(0)"},
     "apps/bad.jsonnet:1: jsonnet: max stack frames exceeded.; the evaluation nests deeper than 500 calls"),
    ({"apps/bad.jsonnet": "std.native('exec')('id')"}, "apps/bad.jsonnet:1: jsonnet: "),
])
def test_errors_name_file_and_line(tmp_path: Path, files: dict[str, str], expected: str):
    write(tmp_path, files)
    assert one_problem(tmp_path, "apps").startswith(expected)


def test_a_timeout_stops_the_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(RENDER_TIMEOUT_ENV, "2")
    write(tmp_path, {"slow.jsonnet": "local f(n) = if n == 0 then 0 else f(n - 1) + f(n - 1); f(60)"})
    assert one_problem(tmp_path) == (f"slow.jsonnet: evaluation timed out after 2s and was stopped; fix the Jsonnet, "
                                     f"or raise {RENDER_TIMEOUT_ENV} if it is meant to take that long")


def test_memory_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(jsonnet, "MEMORY_LIMIT", 1 << 30)
    write(tmp_path, {"big.jsonnet": "std.makeArray(100000000, function(i) i)"})
    assert one_problem(tmp_path) == ("big.jsonnet: evaluation needed more than 1 GiB of memory (the limit) and was "
                                     "stopped; fix the Jsonnet or render less per file")


def test_without_the_evaluator_a_jsonnet_file_is_exit_3_saying_what_to_install(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch):
    # as on an Intel Mac with Python 3.14, where gojsonnet has no wheel: the module cannot be imported
    monkeypatch.setattr(jsonnet, "_BOOT", "import sys; sys.modules['_gojsonnet'] = None; " + jsonnet._BOOT)
    write(tmp_path, {"a.jsonnet": "{}", "b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"})
    with pytest.raises(RenderError) as e:
        run(tmp_path)
    assert e.value.exit_code == ExitCode.INVALID_INPUT
    assert str(e.value) == ("a.jsonnet: rendering .jsonnet files needs the Python package gojsonnet, which is not "
                            "installed for this Python")
    assert "pip install gojsonnet" in (e.value.hint or "") and "--exclude '*.jsonnet'" in (e.value.hint or "")


# --- imports stay inside the repository -----------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    write(folder, {"secret.libsonnet": "{token: 'CANARY'}", "secret.txt": "CANARY"})
    return folder


@pytest.mark.parametrize("expr", ["import '../../outside/secret.libsonnet'", "importstr '../../outside/secret.txt'",
                                  "importbin '../../outside/secret.txt'"])
def test_imports_above_the_repository_are_refused(tmp_path: Path, outside: Path, expr: str):
    write(tmp_path / "repo", {"apps/x.jsonnet": f"{{\n  a: {expr},\n}}"})
    problem = one_problem(tmp_path / "repo")
    assert problem.startswith("apps/x.jsonnet:2: imports '../../outside/secret.")
    assert "which is outside the repository (it was not read)" in problem and "CANARY" not in problem


def test_absolute_imports_are_refused(tmp_path: Path, outside: Path):
    write(tmp_path / "repo", {"x.jsonnet": "importstr '%s'" % (outside / "secret.txt")})
    problem = one_problem(tmp_path / "repo")
    assert problem.startswith(f"x.jsonnet:1: imports '{outside / 'secret.txt'}', an absolute path")
    assert "CANARY" not in problem


def test_imports_through_a_link_leaving_the_repository_are_refused(tmp_path: Path, outside: Path):
    write(tmp_path / "repo", {"apps/x.jsonnet": "(import '../vendor/secret.libsonnet').token"})
    os.symlink(outside, tmp_path / "repo" / "vendor")
    problem = one_problem(tmp_path / "repo", "apps")
    assert problem.startswith("apps/x.jsonnet:1: imports '../vendor/secret.libsonnet' through vendor, a symbolic "
                              "link that leaves the repository (its target was not read)")


def test_a_jsonnet_file_that_is_a_link_out_is_not_read(tmp_path: Path, outside: Path):
    (tmp_path / "repo").mkdir()
    os.symlink(outside / "secret.libsonnet", tmp_path / "repo" / "x.jsonnet")
    assert one_problem(tmp_path / "repo").startswith("x.jsonnet: symbolic link leaves the repository")


def test_a_single_jsonnet_file_as_the_path(tmp_path: Path):
    write(tmp_path, {"apps/one.jsonnet": CM % ("'one'", "{}"), "apps/two.jsonnet": CM % ("'two'", "{}")})
    manifests, problems = run(tmp_path, "apps/one.jsonnet")
    assert problems == [] and [m.name for m in manifests] == ["one"]


# --- a folder no renderer reads ------------------------------------------------------------------------------


def test_a_folder_of_files_no_renderer_reads_is_a_problem_naming_them(tmp_path: Path):
    write(tmp_path, {"apps/a.txt": "x", "apps/b.cue": "x", "apps/lib/k.libsonnet": "{}"})
    problem = one_problem(tmp_path, "apps")
    assert problem.startswith("apps: no file here is read by a renderer (apps/a.txt, apps/b.cue, apps/lib/k.libsonnet)")
    assert "--exclude" in problem


@pytest.mark.parametrize("files", [
    {},  # an app emptied on purpose
    {"apps/.gitkeep": ""},
    {"apps/values.yaml": "a: 1"},  # a support file only
    {"apps/README.md": "notes", "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"},
    {"apps/renovate.json": "{}"},  # read, not a manifest
])
def test_folders_that_render_nothing_on_purpose_still_do(tmp_path: Path, files: dict[str, str]):
    (tmp_path / "apps").mkdir()
    write(tmp_path, files)
    _, problems = run(tmp_path, "apps")
    assert problems == []


def test_excluded_files_are_not_counted(tmp_path: Path):
    write(tmp_path, {"apps/notes.txt": "x"})
    _, problems = render(tmp_path, "apps", SourceOptions(path="apps", exclude=("*.txt",)))
    assert problems == []


# --- the command line --------------------------------------------------------------------------------------------


def test_waves_reads_the_jsonnet_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    repo = GitRepo.create(tmp_path / "repo")
    cm = CM % ("std.extVar('name')", "{n: std.toString(std.extVar('n'))}")
    repo.write("apps/main.jsonnet", "function(ns) [{}]".format(cm.replace("metadata: {", "metadata: {namespace: ns, ")))
    repo.write("vendor/k.libsonnet", "{}")
    repo.commit("jsonnet")
    # --ref: read from an export of the commit, which must hold vendor/ although --path is apps
    code = main(["waves", "--repo", str(repo.path), "--ref", "HEAD", "apps", "-o", "json",
                 "--jsonnet-ext-var-str", "name=web", "--jsonnet-ext-code", "n=1+1", "--jsonnet-tla-str", "ns=team",
                 "--jsonnet-libs", "vendor"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"name": "web"' in out and '"namespace": "team"' in out


def test_a_folder_no_renderer_reads_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("apps/main.cue", "x: 1")
    repo.commit("cue")
    code = main(["waves", "--repo", str(repo.path), "apps"])
    _, err = capsys.readouterr()
    assert code == ExitCode.INVALID_INPUT
    assert "apps: no file here is read by a renderer (apps/main.cue)" in err


def test_a_malformed_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    assert main(["waves", "--jsonnet-tla-code", "novalue"]) == ExitCode.USAGE
    assert "'novalue' is not NAME=VALUE" in capsys.readouterr().err


def test_a_jsonnet_object_is_selected_by_the_globs_as_its_file_is():
    from kubectl_gitops.engine.prune_sources import FileSelection, source_of

    source = source_of(Origin("apps/web.jsonnet", None, "jsonnet"))
    assert source == "file:apps/web.jsonnet"
    assert FileSelection.of(["web.jsonnet"], [], "apps").covers(source)
    assert not FileSelection.of([], ["*.jsonnet"], "apps").covers(source)


# --- Argo CD Applications (trees of apps) --------------------------------------------------------------------


def _application(directory: dict) -> Manifest:
    return Manifest({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                     "metadata": {"name": "guestbook", "namespace": "argocd"},
                     "spec": {"project": "team-a", "destination": {"namespace": "web"},
                              "source": {"repoURL": "https://git.example/org/apps.git", "targetRevision": "main",
                                         "path": "guestbook", "directory": directory}}},
                    Origin("apps/guestbook.yaml", 1))


def test_an_application_s_directory_jsonnet_is_read_with_argo_s_build_environment():
    spec, problems = read_application(_application({"recurse": True, "jsonnet": {
        "extVars": [{"name": "app", "value": "$ARGOCD_APP_NAME"}, {"name": "replicas", "value": "2", "code": True}],
        "tlas": [{"name": "ns", "value": "${ARGOCD_APP_NAMESPACE}"},
                 {"name": "where", "value": "$ARGOCD_APP_SOURCE_REPO_URL#$ARGOCD_APP_SOURCE_PATH@"
                                            "$ARGOCD_APP_SOURCE_TARGET_REVISION ($ARGOCD_APP_PROJECT_NAME)"}],
        "libs": ["vendor"]}}))
    assert problems == []
    assert spec.jsonnet == JsonnetOptions(
        ext_vars=(("app", "guestbook"),), ext_codes=(("replicas", "2"),),
        tla_vars=(("ns", "web"), ("where", "https://git.example/org/apps.git#guestbook@main (team-a)")),
        libs=("vendor",))


def test_directory_jsonnet_problems_name_the_application_and_field():
    _, problems = read_application(_application({"jsonnet": {
        "extVars": [{"name": "rev", "value": "$ARGOCD_APP_REVISION"}], "jpath": ["x"]}}))
    assert problems == [
        "apps/guestbook.yaml:1: Application guestbook: spec.source.directory.jsonnet.jpath: not a field of "
        "directory.jsonnet (known: extVars, tlas, libs); remove it",
        "apps/guestbook.yaml:1: Application guestbook: spec.source.directory.jsonnet.extVars[0].value: uses "
        "$ARGOCD_APP_REVISION, which kubectl-gitops cannot know before it renders; write the value out",
    ]


def test_a_child_app_gets_its_application_s_inputs_not_the_command_s(tmp_path: Path):
    spec, _ = read_application(_application({"jsonnet": {"libs": ["vendor"]}}))
    parent = SourceOptions(jsonnet=JsonnetOptions(ext_vars=(("root-only", "x"),)))
    child = child_source(spec, parent, (), tmp_path, None)
    assert child.jsonnet == JsonnetOptions(libs=("vendor",))
