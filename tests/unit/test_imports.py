"""Every module imports on its own, and the CLI starts without the Kubernetes client.

Each import runs in a fresh interpreter: in one shared interpreter an import cycle hides whenever another
module happened to load the cycle's members first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kubectl_gitops"
# The slow ones (hundreds of ms): loaded only by commands that talk to a cluster or a repository or decrypt,
# never by `--help`.
HEAVY = ("kubernetes", "urllib3", "git", "cryptography")


def module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__main__":  # runs the CLI when imported; covered by test_python_dash_m_help below
            continue
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, *args, "-c", code], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=60)


def loaded_heavy_modules(code: str) -> list[str]:
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    proc = run_python(probe)
    assert proc.returncode == 0, proc.stderr
    loaded: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return loaded


def test_the_package_has_modules_to_check() -> None:
    assert {"kubectl_gitops", "kubectl_gitops.cli.main", "kubectl_gitops.errors"} <= set(module_names())


@pytest.mark.parametrize("module", module_names())
def test_module_imports_in_a_fresh_interpreter(module: str) -> None:
    proc = run_python(f"import importlib; importlib.import_module({module!r})")
    assert proc.returncode == 0, f"import {module} failed:\n{proc.stderr}"


def test_importing_the_cli_entry_point_does_not_load_the_kubernetes_client() -> None:
    loaded = loaded_heavy_modules("import kubectl_gitops.cli.main")
    assert [m for m in loaded if m.split(".")[0] == "kubernetes"] == []


def test_top_level_help_loads_neither_the_kubernetes_client_nor_git() -> None:
    # The real executable, as a user runs it; the interpreter reports every import it makes.
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "bin" / "kubectl-gitops"), "--help"], env=env, cwd=ROOT,
                          text=True, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "kubectl_gitops.cli.main" in imported  # the probe really saw our imports
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY) == []


def test_python_dash_m_help_exits_zero_without_the_kubernetes_client() -> None:
    code = ("import runpy, sys\nsys.argv = ['kubectl-gitops', '--help']\n"
            "try:\n    runpy.run_module('kubectl_gitops', run_name='__main__')\nexcept SystemExit as e:\n"
            "    assert e.code in (0, None), e.code\n")
    assert [m for m in loaded_heavy_modules(code) if m.split(".")[0] == "kubernetes"] == []
