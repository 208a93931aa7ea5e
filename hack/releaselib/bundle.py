"""Assembling the zipapp and the krew archive, reproducibly.

Zipapp layout (one per platform)::

    __main__.py          bootstrap.py with BUNDLE filled in
    payload.zip          (stored) everything else:
    lib/                 kubectl_gitops (with _build_info.py) and every pure-Python dependency,
                         dist-info included (``kubectl gitops version`` reads dependency versions there)
    native/abi3/         compiled wheels built for the stable ABI (cryptography)
    native/cp310/ ...    compiled wheels per CPython version (cffi, PyYAML with libyaml)

Same inputs, same bytes: entries sorted, one timestamp (SOURCE_DATE_EPOCH, else the commit's time),
fixed permissions and owner, gzip without name or time. The deflate output itself comes from zlib,
so two builders with different zlib versions may differ; the manifest's sha256 is the one of the
archives the release job uploads.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

from . import config
from .wheels import Tree, merge, unpack

SHEBANG = b"#!/usr/bin/env python3\n"
PAYLOAD = "payload.zip"
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
_BUNDLE_LINE = "BUNDLE = None  # replaced by the release build (hack/releaselib/bundle.py)\n"


def build_info(commit: str, platform: str, version: str) -> bytes:
    return (f'"""Written by hack/release into the bundled copy only."""\n\n'
            f"COMMIT = {commit!r}\nVERSION = {version!r}\nTARGET = {platform!r}\n").encode()


def assemble(source: Tree, lock: dict[str, Any], platform: str, wheels: dict[str, Path]) -> tuple[Tree, dict[str, Any]]:
    """The payload's tree and the runtime table the bootstrap needs."""
    tree: Tree = {}
    merge(tree, source, "lib/", "kubectl_gitops")
    native_keys: set[str] = set()
    for dist in lock["platforms"][platform]["dists"]:
        kind, files = dist["kind"], dist["files"]
        if kind == "pure":
            merge(tree, unpack(wheels[files["*"]["file"]]), "lib/", dist["name"])
        elif kind == "abi3":
            merge(tree, unpack(wheels[files["*"]["file"]]), "native/abi3/", dist["name"])
        else:
            for key, entry in sorted(files.items()):
                merge(tree, unpack(wheels[entry["file"]]), f"native/{key}/", dist["name"])
                native_keys.add(key)
            if config.canonical(dist["name"]) in config.PURE_FALLBACK and files:
                first = files[sorted(files)[0]]["file"]
                merge(tree, unpack(wheels[first], strip_extensions=True), "lib/", dist["name"])
    has_abi3 = any(p.startswith("native/abi3/") for p in tree)
    every_native = top_level(tree, "native/")
    runtimes: dict[str, Any] = {}
    for key in ["", *sorted(native_keys)]:
        groups = (["abi3"] if has_abi3 and key else []) + ([key] if key else [])
        prefixes = ["lib/", *(f"native/{g}/" for g in groups)]
        present = set().union(*(top_level(tree, p) for p in prefixes))
        runtimes[key] = {"native": groups, "hash": _digest(tree, prefixes, platform),
                         "missing": sorted(every_native - present)}
    return tree, runtimes


def top_level(tree: Tree, prefix: str) -> set[str]:
    """Importable top-level names under ``prefix`` (``native/`` also spans its groups)."""
    names = set()
    for path in tree:
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix):]
        if prefix == "native/":
            rest = rest.partition("/")[2]
        first = rest.split("/")[0]
        if first.endswith(".dist-info") or not first:
            continue
        names.add(first.split(".")[0] if "/" not in rest else first)
    return names


def _digest(tree: Tree, prefixes: list[str], platform: str) -> str:
    h = hashlib.sha256(platform.encode())
    for path in sorted(p for p in tree if p.startswith(tuple(prefixes))):
        data, mode = tree[path]
        h.update(f"{path}\0{mode}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:12]


def main_py(bundle: dict[str, Any]) -> bytes:
    text = BOOTSTRAP.read_text()
    if text.count(_BUNDLE_LINE) != 1:
        raise RuntimeError(f"{BOOTSTRAP} lost its BUNDLE marker line")
    return text.replace(_BUNDLE_LINE, f"BUNDLE = {json.dumps(bundle, sort_keys=True)}\n").encode()


def _date_time(epoch: int) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(max(epoch, 315532800))  # zip cannot say anything before 1980
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _zip(tree: Tree, epoch: int, prefix: bytes = b"", stored: frozenset[str] = frozenset()) -> bytes:
    buf = io.BytesIO()
    buf.write(prefix)
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(tree):
            data, mode = tree[path]
            info = zipfile.ZipInfo(path, date_time=_date_time(epoch))
            info.compress_type = zipfile.ZIP_STORED if path in stored else zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, data, compresslevel=None if path in stored else 9)
    return buf.getvalue()


def zipapp(main: bytes, payload: Tree, epoch: int) -> bytes:
    """``#!/usr/bin/env python3`` + a zip of ``__main__.py`` and ``payload.zip`` (stored) holding the rest.

    Two entries instead of thousands: Python reads a zipapp's whole directory before it runs
    ``__main__`` (about 20 ms for 2,400 entries), and the payload is only ever read to unpack it.
    """
    return _zip({"__main__.py": (main, 0o644), PAYLOAD: (_zip(payload, epoch), 0o644)}, epoch, SHEBANG,
                frozenset({PAYLOAD}))


def tarball(files: dict[str, tuple[bytes, int]], epoch: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(files):
            data, mode = files[name]
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, epoch
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tf.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()
