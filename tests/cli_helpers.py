"""Running the plugin the way a user does, for e2e tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Settings a developer may have exported that would change what a test's command does.
_USER_SETTINGS = ("KUBECTL_GITOPS_APP", "KUBECTL_GITOPS_FAULT", "KUBECTL_EXTERNAL_DIFF")


def gitops(*args: str, cwd: Path, env: dict[str, str] | None = None,
           timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`kubectl gitops ...` through kubectl's plugin discovery: the checkout's bin/ on PATH, no terminal on
    stdin, no colour. ``env`` adds or overrides variables."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(_USER_SETTINGS)}
    full.update({"PATH": f"{ROOT / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1", **(env or {})})
    return subprocess.run(["kubectl", "gitops", *args], cwd=cwd, env=full, text=True, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False)
