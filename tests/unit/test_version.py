"""`kubectl gitops version` / `--version` from a checkout: the git commit it runs from.

The bundled executable's commit (baked into kubectl_gitops/_build_info.py by hack/release) is checked
in tests/e2e/test_krew.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def head() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_version_json_from_a_checkout_names_the_head_commit() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bin" / "kubectl-gitops"), "version", "-o", "json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["commit"] == head()
    assert info["version"].startswith("v")
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert info["dependencies"]["click"] and info["dependencies"]["kubernetes"]


def test_version_flag_from_a_checkout_names_the_head_commit() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bin" / "kubectl-gitops"), "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.strip().endswith(f"(commit {head()})")
