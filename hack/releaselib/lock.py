"""The pinned dependency set of a release: hack/release.lock.json.

A release must be reproducible, so it never resolves "the latest" at build time: ``hack/release --lock``
resolves setup.cfg's install_requires once per platform with pip (for the minimum Python, so backports
that version needs are included) and records every wheel: name, version, file, sha256, URL. Builds
then download exactly those files (hash-checked) and fail when setup.cfg asks for something else.

Each distribution gets one of three kinds:

    pure        a py3-none-any wheel (also preferred when a package offers both, e.g. charset-normalizer):
                bundled once, importable by every Python
    abi3        compiled against the stable ABI (cryptography): one wheel per platform, resolved for the
                minimum Python, loads on every later CPython
    per-python  compiled per CPython version (cffi, PyYAML): one wheel per platform and version in
                config.NATIVE_PYTHONS; a version without a wheel has none of it (PyYAML then falls back
                to its pure-Python half, see config.PURE_FALLBACK)
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import config

Lock = dict[str, Any]


class LockError(Exception):
    pass


def requirements_from_setup_cfg(text: str) -> list[str]:
    """``[options] install_requires`` of setup.cfg, one requirement per item, comments dropped."""
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"),
                                       inline_comment_prefixes=None)
    parser.read_string(text)
    raw = parser.get("options", "install_requires", fallback="")
    return [line.strip() for line in raw.splitlines() if line.strip() and not line.strip().startswith("#")]


def wheel_tags(filename: str) -> tuple[str, str, str]:
    """(python tag, abi tag, platform tag) of a wheel file name (compressed tag sets kept as written)."""
    stem = filename[: -len(".whl")]
    parts = stem.split("-")
    if len(parts) < 5:
        raise LockError(f"not a wheel file name: {filename}")
    return parts[-3], parts[-2], parts[-1]


def pip_target(kind: str, key: str, platform: str) -> list[str]:
    """pip options that make exactly this kind of wheel acceptable (resolving and downloading alike)."""
    if kind == "pure":
        return ["--platform", "any", "--implementation", "py", "--abi", "none",
                "--python-version", ".".join(map(str, config.MIN_PYTHON))]
    tags = [t for tag in config.PLATFORMS[platform] for t in ("--platform", tag)]
    if kind == "abi3":
        return [*tags, "--implementation", "cp", "--abi", "abi3", "--abi", "none",
                "--python-version", ".".join(map(str, config.MIN_PYTHON))]
    version = f"{key[2]}.{key[3:]}"  # cp312 -> 3.12
    return [*tags, "--implementation", "cp", "--abi", key, "--abi", "abi3", "--abi", "none",
            "--python-version", version]


def python_key(version: str) -> str:
    return "cp" + version.replace(".", "")


def _resolve(requirements: list[str], target: list[str], *, no_deps: bool) -> list[dict[str, str]] | None:
    """pip's resolution for ``target``: [{name, version, file, url, sha256}], or None if nothing fits."""
    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-lock-") as tmp:
        report = os.path.join(tmp, "report.json")
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--disable-pip-version-check", "--no-input", "--only-binary=:all:", "--target",
               os.path.join(tmp, "t"), "--report", report, *target, *(["--no-deps"] if no_deps else []),
               *requirements]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            if "No matching distribution" in proc.stderr or "ResolutionImpossible" in proc.stderr:
                return None
            raise LockError(f"pip failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")
        data = json.loads(Path(report).read_text())
    out = []
    for item in data["install"]:
        info = item["download_info"]
        hashes = info.get("archive_info", {}).get("hashes") or {}
        sha = hashes.get("sha256") or info.get("archive_info", {}).get("hash", "").partition("sha256=")[2]
        url = info["url"]
        out.append({"name": item["metadata"]["name"], "version": item["metadata"]["version"],
                    "file": url.rsplit("/", 1)[1].split("#")[0], "url": url.split("#")[0], "sha256": sha})
    return out


def make_lock(requirements: list[str], log: Any = print) -> Lock:
    """Resolve ``requirements`` for every platform in config.PLATFORMS (slow: tens of pip runs)."""
    pure_alternative: dict[tuple[str, str], dict[str, str] | None] = {}
    platforms: dict[str, Any] = {}
    for platform in config.PLATFORMS:
        log(f"resolving for {platform}")
        # CPython at the minimum version: accepts its own compiled wheels, abi3 ones and pure ones.
        min_key = python_key(".".join(map(str, config.MIN_PYTHON)))
        resolved = _resolve(requirements, pip_target("per-python", min_key, platform), no_deps=False)
        if resolved is None:
            raise LockError(f"no set of wheels satisfies {requirements} on {platform}")
        dists = []
        per_python: list[dict[str, str]] = []
        for d in resolved:
            _, abi, plat = wheel_tags(d["file"])
            entry: dict[str, Any] = {"name": d["name"], "version": d["version"]}
            if plat == "any":
                dists.append({**entry, "kind": "pure", "files": {"*": _file(d)}})
                continue
            key = (config.canonical(d["name"]), d["version"])
            if key not in pure_alternative:
                alt = _resolve([f"{d['name']}=={d['version']}"], pip_target("pure", "", platform), no_deps=True)
                pure_alternative[key] = alt[0] if alt else None
            pure = pure_alternative[key]
            if pure is not None:
                dists.append({**entry, "kind": "pure", "files": {"*": _file(pure)}})
            elif abi == "abi3":
                dists.append({**entry, "kind": "abi3", "files": {"*": _file(d)}})
            else:
                per_python.append(d)
        for d in per_python:
            files: dict[str, Any] = {}
            for version in config.NATIVE_PYTHONS:
                key_ = python_key(version)
                got = _resolve([f"{d['name']}=={d['version']}"], pip_target("per-python", key_, platform), no_deps=True)
                if got:
                    files[key_] = _file(got[0])
                else:
                    log(f"  note: {d['name']} {d['version']} has no wheel for CPython {version} on {platform}")
            dists.append({"name": d["name"], "version": d["version"], "kind": "per-python", "files": files})
        platforms[platform] = {"tags": list(config.PLATFORMS[platform]),
                               "dists": sorted(dists, key=lambda x: config.canonical(x["name"]))}
    return {
        "comment": "Generated by `hack/release --lock` from setup.cfg install_requires; do not edit by hand.",
        "requires": requirements,
        "min_python": ".".join(map(str, config.MIN_PYTHON)),
        "native_pythons": list(config.NATIVE_PYTHONS),
        "platforms": platforms,
    }


def _file(d: dict[str, str]) -> dict[str, str]:
    return {"file": d["file"], "sha256": d["sha256"], "url": d["url"]}


def dump(lock: Lock) -> str:
    return json.dumps(lock, indent=1, sort_keys=False) + "\n"


def load(path: Path = config.LOCK_FILE) -> Lock:
    try:
        lock: Lock = json.loads(path.read_text())
    except FileNotFoundError:
        raise LockError(f"{path} is missing: run `hack/release --lock`") from None
    return lock


def problems(lock: Lock, requirements: list[str]) -> list[str]:
    """Why ``lock`` cannot build a release of a package that declares ``requirements`` (empty: it can)."""
    out = []
    if lock.get("requires") != requirements:
        out.append(f"setup.cfg install_requires changed (locked: {lock.get('requires')}, now: {requirements})")
    if lock.get("min_python") != ".".join(map(str, config.MIN_PYTHON)):
        out.append(f"minimum Python changed (locked: {lock.get('min_python')})")
    if lock.get("native_pythons") != list(config.NATIVE_PYTHONS):
        out.append(f"native Python versions changed (locked: {lock.get('native_pythons')})")
    locked = set(lock.get("platforms", {}))
    if locked != set(config.PLATFORMS):
        out.append(f"platforms changed (locked: {sorted(locked)}, now: {sorted(config.PLATFORMS)})")
    for platform, spec in lock.get("platforms", {}).items():
        if spec.get("tags") != list(config.PLATFORMS.get(platform, ())):
            out.append(f"{platform}: pip platform tags changed")
    return out
