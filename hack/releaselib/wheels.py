"""Getting the locked wheels (pip download, sha256-checked, cached) and unpacking them into file trees.

A tree is ``{path: (bytes, mode)}``: the bundle is assembled in memory, so nothing on disk (a stale
__pycache__, a file left by a previous build) can leak into an archive.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

from . import config
from .lock import Lock, LockError, pip_target

Tree = dict[str, tuple[bytes, int]]

# dist-info files that describe an installation rather than the distribution
_INSTALL_RECORDS = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
_EXTENSIONS = (".so", ".pyd", ".dylib")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def wheel_cache() -> Path:
    return config.cache_dir() / "release-wheels"


def needed(lock: Lock, platforms: list[str]) -> list[tuple[str, str, str, dict[str, str]]]:
    """(kind, key, platform, file entry) for every wheel the given platforms use."""
    out = []
    for platform in platforms:
        for dist in lock["platforms"][platform]["dists"]:
            for key, entry in sorted(dist["files"].items()):
                out.append((dist["kind"], key, platform, entry))
    return out


def fetch(lock: Lock, platforms: list[str], log=print) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """Make sure every wheel the platforms need is in the cache, with its locked sha256; file -> path."""
    cache = wheel_cache()
    cache.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    missing: dict[tuple[str, ...], dict[str, dict[str, str]]] = defaultdict(dict)
    for kind, key, platform, entry in needed(lock, platforms):
        path = cache / entry["file"]
        paths[entry["file"]] = path
        if path.exists() and sha256_file(path) == entry["sha256"]:
            continue
        target = tuple(pip_target(kind, key, platform))
        missing[target][entry["file"]] = entry
    for target, entries in missing.items():
        log(f"downloading {', '.join(sorted(entries))}")
        with tempfile.TemporaryDirectory(prefix="kubectl-gitops-wheels-") as tmp:
            reqs = Path(tmp) / "requirements.txt"
            reqs.write_text("".join(f"{e['file'].split('-')[0]} @ {e['url']} --hash=sha256:{e['sha256']}\n"
                                    for e in entries.values()))
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-input",
                   "--no-deps", "--require-hashes", "--only-binary=:all:", *target, "--dest", tmp, "-r", str(reqs)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise LockError(f"pip download failed:\n{proc.stderr.strip()}")
            for name, e in entries.items():
                got = Path(tmp) / name
                if not got.exists() or sha256_file(got) != e["sha256"]:
                    raise LockError(f"{name}: downloaded file missing or its sha256 differs from the lock")
                got.replace(cache / name)
    return paths


def unpack(wheel: Path, *, strip_extensions: bool = False) -> Tree:
    """The files a wheel installs into site-packages (``*.data/purelib|platlib`` folded in).

    Scripts, headers and data files are skipped, as are install records (RECORD: it would not match a
    stripped tree) and byte code. ``strip_extensions`` drops compiled modules (the pure fallback).
    """
    tree: Tree = {}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            if name.endswith("/"):
                continue
            first, _, rest = name.partition("/")
            if first.endswith(".data"):
                kind, _, inner = rest.partition("/")
                if kind not in ("purelib", "platlib"):
                    continue
                name = inner
            elif first.endswith(".dist-info") and rest in _INSTALL_RECORDS:
                continue
            if "__pycache__/" in name or name.endswith((".pyc", ".pyo")):
                continue
            if strip_extensions and name.endswith(_EXTENSIONS):
                continue
            if name.endswith(_EXTENSIONS) or ".so." in name:
                mode = 0o755
            else:
                mode = 0o644
            tree[name] = (zf.read(info), mode)
    return tree


def merge(into: Tree, tree: Tree, prefix: str, origin: str) -> None:
    for name, value in tree.items():
        path = prefix + name
        if path in into and into[path][0] != value[0]:
            raise LockError(f"{origin} and an earlier wheel both install {name} with different contents")
        into[path] = value
