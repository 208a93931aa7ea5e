"""What a release build produces, in one place."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
LOCK_FILE = ROOT / "hack" / "release.lock.json"
MANIFEST_FILE = ROOT / "krew-manifest.yaml"

PLUGIN = "gitops"
EXECUTABLE = "kubectl-gitops"
HOMEPAGE = "https://github.com/kubectl-gitops/kubectl-gitops"
RELEASE_URL = HOMEPAGE + "/releases/download/{version}/{archive}"

# The interpreter the executable needs (setup.cfg python_requires) and the CPython versions whose
# compiled wheels (cffi, PyYAML's libyaml binding) each archive carries. abi3 wheels (cryptography)
# are taken once, for MIN_PYTHON, and serve every later version.
MIN_PYTHON = (3, 10)
NATIVE_PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")

# krew platform -> pip --platform tags, oldest first (pip prefers the first that has a wheel, so the
# archive asks for the oldest glibc / macOS it can). Windows is not built: krew would need a .exe.
PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux/amd64": ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"),
    "linux/arm64": ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64"),
    # pip widens each tag to older macOS and universal2. google-re2 has no wheel older than macOS 13: the
    # second tag admits it (other dependencies still get their macOS 11 wheels, pip prefers the first tag);
    # on macOS 11/12 its extension does not load and regexes from a repository are refused (saferegex.py).
    "darwin/amd64": ("macosx_11_0_x86_64", "macosx_13_0_x86_64"),
    "darwin/arm64": ("macosx_11_0_arm64", "macosx_13_0_arm64"),
}

# Distributions with a compiled accelerator and a pure-Python fallback: lib/ also gets their Python
# files (extension modules stripped), used on Pythons the archive has no compiled wheel for.
PURE_FALLBACK = frozenset({"pyyaml"})


def archive_name(version: str, platform: str) -> str:
    os_, arch = platform.split("/")
    return f"{EXECUTABLE}_{version}_{os_}_{arch}.tar.gz"


def cache_dir() -> Path:
    base = os.environ.get("KUBECTL_GITOPS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "kubectl-gitops")
    return Path(base)


def canonical(name: str) -> str:
    """PEP 503 name: ``PyYAML`` -> ``pyyaml``, ``ruamel.yaml`` -> ``ruamel-yaml``."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()
