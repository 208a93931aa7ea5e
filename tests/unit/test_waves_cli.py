"""`kubectl gitops waves` as a user runs it: on examples/ and on repositories made in tmp."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from source_helpers import ROOT, GitRepo

from kubectl_gitops.cli.main import main
from kubectl_gitops.errors import ExitCode

PLAN_DATA = Path(__file__).parent / "testdata" / "plan"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["waves", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo.create(tmp_path / "repo")
    r.commit("empty")
    return r


def test_examples_table_in_execution_order(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, "examples/")
    assert code == 0, err
    lines = out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["PHASE", "WAVE", "KIND", "NAMESPACE/NAME", "HOOK", "NOTE"]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("PreSync", "0", "Namespace", "demo"),
        ("PreSync", "0", "Job", "demo/db-migrate"),
        ("Sync", "0", "ConfigMap", "demo/web-config"),
        ("Sync", "1", "Service", "demo/web"),
        ("Sync", "1", "Deployment", "demo/web"),
        ("PostSync", "0", "Job", "demo/smoke-test"),
    ]
    assert "Namespace demo is needed by Job.batch demo/db-migrate" in lines[1]
    assert "PreSync (BeforeHookCreation,HookSucceeded)" in lines[2]
    assert err.strip() == "6 steps in 4 waves (PreSync 2, Sync 3, PostSync 1)"


def test_verbose_shows_where_each_object_comes_from(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = run(capsys, "examples/", "-v")
    assert code == 0
    assert "examples/hooks/db-migrate.yaml:2" in out
    assert "examples/namespace.yaml:1" in out


def test_examples_json_is_the_documented_step_list(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, "examples/", "-o", "json")
    assert code == 0 and err == ""
    steps = json.loads(out)
    assert [s["order"] for s in steps] == list(range(6))
    assert [(s["phase"], s["wave"], s["kind"], s["name"]) for s in steps][:2] == [
        ("PreSync", 0, "Namespace", "demo"), ("PreSync", 0, "Job", "db-migrate")]
    documented = (ROOT / "docs" / "waves.md").read_text()
    for key in steps[0]:
        assert f"| `{key}` |" in documented, f"field {key} is not documented in docs/waves.md"
    for key in steps[0]["origin"]:
        assert key in documented


def test_yaml_output_is_the_same_list(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    _, as_json, _ = run(capsys, "examples/", "-o", "json")
    code, as_yaml, _ = run(capsys, "examples/", "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(as_yaml) == json.loads(as_json)


@pytest.mark.parametrize(("graph", "start", "piece"), [
    ("dot", "digraph waves {", 'label="PostSync, wave 0";'),
    ("mermaid", "flowchart TD", "g2 --> g3"),
])
def test_graphs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, graph: str, start: str,
                piece: str) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = run(capsys, "examples/", "--graph", graph)
    assert code == 0
    assert out.startswith(start) and piece in out


def test_cli_table_on_a_repo_matches_the_golden_plan(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    shutil.copy(PLAN_DATA / "argo-sync-waves.yaml", repo.path / "app.yaml")
    code, out, err = run(capsys, "--repo", str(repo.path))
    assert code == 0, err
    summary, table = (PLAN_DATA / "argo-sync-waves.golden").read_text().split("\n\n", 1)
    assert out == table
    assert err.strip() == summary


def test_default_namespace_comes_from_dash_n(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    repo.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n")
    _, out, _ = run(capsys, "--repo", str(repo.path))
    assert "default/settings" in out
    _, out, _ = run(capsys, "--repo", str(repo.path), "-n", "staging")
    assert "staging/settings" in out


def test_invalid_annotations_exit_3_naming_file_line_and_object(capsys: pytest.CaptureFixture[str],
                                                                 repo: GitRepo) -> None:
    repo.write("apps/web.yaml", """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
  namespace: demo
  annotations:
    argocd.argoproj.io/sync-wave: "one"
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  namespace: demo
  annotations:
    argocd.argoproj.io/sync-options: Prune=flase
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
""")
    code, out, err = run(capsys, "--repo", str(repo.path))
    assert code == ExitCode.INVALID_INPUT
    assert out == ""
    assert "apps/web.yaml:1: ConfigMap demo/web: argocd.argoproj.io/sync-wave 'one' is not an integer" in err
    assert ("apps/web.yaml:9: PersistentVolumeClaim demo/data: argocd.argoproj.io/sync-options 'Prune=flase' "
            "has an invalid value; valid values are Prune=true, Prune=false, Prune=confirm") in err


def test_empty_repository_says_so(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    code, out, err = run(capsys, "--repo", str(repo.path))
    assert code == 0 and out == ""
    assert "no objects found" in err


def test_graph_and_json_together_is_a_usage_error(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    code, _, err = run(capsys, "--repo", str(repo.path), "--graph", "dot", "-o", "json")
    assert code == ExitCode.USAGE
    assert "--graph" in err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "Examples:" in out and "--graph dot | dot -Tsvg" in out and "--live" in out
