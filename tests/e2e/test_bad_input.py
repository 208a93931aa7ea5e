"""Bad input gets a clear message, the documented exit code and no write to the cluster: a table of cases.

Each case is a folder under testdata/bad/::

    <case>/repo/...     the repository's files (committed into a fresh git repository)
    <case>/case.yaml    args:     extra `kubectl gitops diff` arguments ({repo} and {namespace} are filled in)
                        exit:     the exit code (3 invalid input, 2 usage)
                        expect:   fragments the error output must contain: where (file:line, the object) and what
                                  to do
                        reject:   fragments it must not contain (log noise, secret values)
                        dry_run:  true when the API server itself rejects the object in a dry run (the only write
                                  calls allowed are then dry runs); otherwise there must be no write call at all

The diff runs with ``-n <test namespace>``, so objects without a namespace land in the test's namespace.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_helpers import ROOT, audit_mark, writes_since
from source_helpers import GitRepo, find_helm

pytestmark = pytest.mark.e2e

CASES_DIR = Path(__file__).resolve().parent / "testdata" / "bad"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "case.yaml").is_file())


def load_case(name: str) -> dict[str, Any]:
    case: dict[str, Any] = yaml.safe_load((CASES_DIR / name / "case.yaml").read_text())
    case.setdefault("args", [])
    case.setdefault("expect", [])
    case.setdefault("reject", [])
    case.setdefault("dry_run", False)
    return case


def test_the_corpus_has_at_least_twenty_cases_each_with_what_and_where() -> None:
    assert len(CASES) >= 20
    for name in CASES:
        case = load_case(name)
        assert case["exit"] in (2, 3), name
        assert len(case["expect"]) >= 1, name
        assert (CASES_DIR / name / "repo").is_dir(), name


def _needs_helm(name: str) -> bool:
    return any((p.name == "Chart.yaml") for p in (CASES_DIR / name / "repo").rglob("*"))


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_reported_clearly_and_changes_nothing(name: str, tmp_path: Path, namespace: str) -> None:
    case = load_case(name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECTL_GITOPS_APP", "KUBECTL_EXTERNAL_DIFF"))}
    env.update(PATH=f"{ROOT / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", NO_COLOR="1")
    if _needs_helm(name):
        helm = find_helm()
        if helm is None:
            pytest.skip("helm is not installed: build it with `hack/tools.sh helm` (or put helm on PATH)")
        env["KUBECTL_GITOPS_HELM"] = helm
    repo = GitRepo.create(tmp_path / "repo")
    repo.copy_in(CASES_DIR / name / "repo")
    repo.commit(name)
    args = [a.format(repo=repo.path, namespace=namespace) for a in case["args"]]

    mark = audit_mark()
    proc = subprocess.run(["kubectl", "gitops", "diff", "-n", namespace, "--app", "bad-input", "--record-namespace",
                           namespace, *args], cwd=repo.path, env=env, text=True, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=180)
    shown = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"

    assert proc.returncode == case["exit"], shown
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, shown
    assert proc.stdout == "", shown  # nothing a script could mistake for a result
    missing = [f for f in case["expect"] if f not in proc.stderr]
    assert not missing, f"missing {missing} in:\n{shown}"
    present = [f for f in case["reject"] if f in proc.stderr]
    assert not present, f"{present} must not be shown:\n{shown}"
    if case["exit"] == 2:
        assert "Try 'kubectl gitops diff --help' for help." in proc.stderr or "hint:" in proc.stderr, shown
    else:
        assert proc.stderr.startswith("error: ") and "\nhint: " in proc.stderr, shown

    # Other sessions may share the cluster: count the calls about this case's objects (its namespace, and any
    # cluster-scoped object named in its files).
    names = {n for f in (CASES_DIR / name / "repo").rglob("*") if f.is_file()
             for n in re.findall(r"^\s*name:\s*['\"]?([\w.-]+)", f.read_text(errors="replace"), re.M)}
    calls = [w for w in writes_since(mark) if w.namespace == namespace or (not w.namespace and w.name in names)]
    assert [w for w in calls if not w.dry_run] == [], f"bad input led to a write: {calls}"
    if not case["dry_run"]:
        assert calls == [], f"invalid input must be caught before any call that writes, even a dry run: {calls}"
