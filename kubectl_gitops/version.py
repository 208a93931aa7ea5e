"""Version and build information: the plugin version, the git commit it came from, Python and deps."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

from kubectl_gitops import __version__

DEPENDENCIES = ("click", "kubernetes", "GitPython", "tabulate", "PyYAML", "ruamel.yaml", "cryptography",
                "google-re2")


def git_commit() -> str | None:
    """The commit a release was built from (baked into ``_build_info``), or the checkout's HEAD."""
    try:
        from kubectl_gitops._build_info import COMMIT  # type: ignore[import-not-found]

        return str(COMMIT)
    except ImportError:
        pass
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(here, ".git")):  # a folder, or a file in a `git worktree` checkout
        return None
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def version_line() -> str:
    commit = git_commit()
    return f"kubectl-gitops v{__version__}" + (f" (commit {commit})" if commit else "")


def version_info() -> dict[str, object]:
    deps: dict[str, str | None] = {}
    for name in DEPENDENCIES:
        try:
            deps[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            deps[name] = None
    return {
        "version": f"v{__version__}",
        "commit": git_commit(),
        "python": platform.python_version(),
        "platform": f"{platform.system().lower()}/{platform.machine().lower()}",
        "dependencies": deps,
    }
