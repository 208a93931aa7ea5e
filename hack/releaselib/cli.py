"""``hack/release``: the one release command.

    hack/release [--version vX.Y.Z] [--out dist/]        build every platform from HEAD, write the
                                                          archives and dist/krew-manifest.yaml, refresh
                                                          ./krew-manifest.yaml, check everything
    hack/release --platform linux/amd64 --worktree        one platform, from the working tree (tests)
    hack/release --ref v0.1.0 --out /tmp/again           rebuild a past release (same sha256 expected)
    hack/release --check [--manifest M] [--out dist/]    validate a manifest (and the archives in --out)
    hack/release --lock                                   re-resolve hack/release.lock.json from PyPI

Exit status: 0 ok, 1 a check failed, 2 usage or build error.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

from . import bundle, config, krew, lock, wheels
from .wheels import Tree


def log(msg: str) -> None:
    print(f"[release] {msg}", file=sys.stderr, flush=True)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(config.ROOT), *args], capture_output=True, text=True,
                          check=True).stdout


SOURCE_PATHS = ("kubectl_gitops", "LICENSE", "README.md", "setup.cfg")


def source_tree(worktree: bool, ref: str = "HEAD") -> Tree:
    """The files a release is made of, from a commit (default HEAD) or the working tree."""
    tree: Tree = {}
    if worktree:
        listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *SOURCE_PATHS)
        for name in sorted(filter(None, listed.split("\0"))):
            path = config.ROOT / name
            if path.is_file():
                tree[name] = (path.read_bytes(), 0o644)
    else:
        raw = subprocess.run(["git", "-C", str(config.ROOT), "archive", "--format=tar", ref, "--", *SOURCE_PATHS],
                             capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
            for m in tf.getmembers():
                f = tf.extractfile(m) if m.isfile() else None
                if f is not None:
                    tree[m.name] = (f.read(), 0o644)
    return {k: v for k, v in tree.items()
            if "__pycache__/" not in k and not k.endswith((".pyc", "/_build_info.py"))}


def package_version(tree: Tree) -> str:
    m = re.search(r'^__version__ = "([^"]+)"', tree["kubectl_gitops/__init__.py"][0].decode(), re.M)
    if not m:
        raise SystemExit("kubectl_gitops/__init__.py has no __version__")
    return "v" + m.group(1)


def commit(worktree: bool, ref: str = "HEAD") -> str:
    sha = git("rev-parse", "--short=12", f"{ref}^{{commit}}").strip()
    if worktree and git("status", "--porcelain", "--", *SOURCE_PATHS).strip():
        sha += "-dirty"
    return sha


def epoch(ref: str = "HEAD") -> int:
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    return int(git("log", "-1", "--format=%ct", ref).strip())


def build(version: str | None, out: Path, platforms: list[str], worktree: bool, manifest: Path | None,
          ref: str = "HEAD") -> int:
    source = source_tree(worktree, ref)
    pkg_version = package_version(source)
    if version is not None and version != pkg_version:
        log(f"--version {version} differs from kubectl_gitops.__version__ ({pkg_version}): bump it first")
        return 2
    version = pkg_version
    requirements = lock.requirements_from_setup_cfg(source["setup.cfg"][0].decode())
    locked = lock.load()
    stale = lock.problems(locked, requirements)
    if stale:
        log("hack/release.lock.json does not match setup.cfg: run `hack/release --lock` and commit the result")
        for p in stale:
            log(f"  {p}")
        return 2
    paths = wheels.fetch(locked, platforms, log=log)
    sha, when = commit(worktree, ref), epoch(ref)
    package = {k: v for k, v in source.items() if k.startswith("kubectl_gitops/")}
    out.mkdir(parents=True, exist_ok=True)
    built = []
    for platform in platforms:
        tree, runtimes = bundle.assemble(package, locked, platform, paths)
        tree["lib/kubectl_gitops/_build_info.py"] = (bundle.build_info(sha, platform, version), 0o644)
        info = {"version": version, "platform": platform, "min_python": list(config.MIN_PYTHON), "runtimes": runtimes}
        app = bundle.zipapp(bundle.main_py(info), tree, when)
        archive = config.archive_name(version, platform)
        data = bundle.tarball({config.EXECUTABLE: (app, 0o755), "LICENSE": source["LICENSE"],
                               "README.md": source["README.md"]}, when)
        (out / archive).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        built.append((platform, archive, digest))
        pythons = ", ".join(k for k in runtimes if k) or "none"
        log(f"{archive}: {len(data) / 1e6:.1f} MB (executable {len(app) / 1e6:.1f} MB), sha256 {digest}, "
            f"compiled parts for {pythons}")
    text = krew.render(version, built)
    targets = [out / "krew-manifest.yaml"]
    if manifest is not None:
        targets.append(manifest)
    elif not worktree and ref == "HEAD" and set(platforms) == set(config.PLATFORMS):
        targets.append(config.MANIFEST_FILE)
    for t in targets:
        t.write_text(text)
        log(f"wrote {t}")
    problems = krew.check(out / "krew-manifest.yaml", out)
    for p in problems:
        log(f"check: {p}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hack/release", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", help="the version to release, vX.Y.Z (must equal kubectl_gitops.__version__)")
    ap.add_argument("--out", type=Path, default=config.ROOT / "dist", help="where archives go (default dist/)")
    ap.add_argument("--platform", action="append", choices=sorted(config.PLATFORMS),
                    help="build only this platform (repeatable; default: all)")
    ap.add_argument("--worktree", action="store_true",
                    help="build from the working tree instead of HEAD (the commit gets a -dirty suffix if it differs)")
    ap.add_argument("--ref", default="HEAD", help="build this commit or tag (default HEAD): rebuilding a past "
                    "release's tag must give its archives' sha256 again")
    ap.add_argument("--manifest", type=Path, help="also write the manifest here (with --check: the one to check)")
    ap.add_argument("--check", action="store_true", help="validate the manifest (and archives in --out) and exit")
    ap.add_argument("--lock", action="store_true", help="re-resolve hack/release.lock.json from setup.cfg")
    args = ap.parse_args(argv)
    try:
        if args.lock:
            reqs = lock.requirements_from_setup_cfg((config.ROOT / "setup.cfg").read_text())
            config.LOCK_FILE.write_text(lock.dump(lock.make_lock(reqs, log=log)))
            log(f"wrote {config.LOCK_FILE}")
            return 0
        if args.check:
            manifest = args.manifest or config.MANIFEST_FILE
            problems = krew.check(manifest, args.out if args.out.is_dir() else None)
            for p in problems:
                print(f"{manifest}: {p}")
            if not problems:
                log(f"{manifest}: valid")
            return 1 if problems else 0
        if args.worktree and args.ref != "HEAD":
            ap.error("--worktree builds the working tree; it cannot be combined with --ref")
        return build(args.version, args.out.resolve(), args.platform or list(config.PLATFORMS), args.worktree,
                     args.manifest, args.ref)
    except (lock.LockError, subprocess.CalledProcessError, OSError) as e:
        log(f"error: {e}")
        return 2
