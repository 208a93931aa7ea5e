"""The release tooling (hack/releaselib): krew manifest rules, the lock, reproducible archives, the
zipapp's bootstrap (Python check, one-time unpacking, dispatch by name). Nothing here downloads; the
real build and the real krew are exercised in tests/e2e/test_krew.py.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "hack"))

from releaselib import bootstrap, bundle, config, krew, lock, wheels  # noqa: E402

SHA = "a" * 64


def manifest(**changes: Any) -> str:
    """A valid manifest (two platforms) with ``changes`` applied: {"spec.version": "1.0"} sets a field,
    a value of None deletes it."""
    doc = yaml.safe_load(krew.render("v1.2.3", [("linux/amd64", "a_linux_amd64.tar.gz", SHA),
                                                 ("darwin/arm64", "a_darwin_arm64.tar.gz", "b" * 64)]))
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        key: Any = int(last) if isinstance(node, list) else last
        if value is None:
            del node[key]
        else:
            node[key] = value
    return yaml.safe_dump(doc, sort_keys=False)


def test_rendered_manifest_is_valid_and_says_what_krew_needs() -> None:
    text = krew.render("v1.2.3", [("linux/amd64", "kubectl-gitops_v1.2.3_linux_amd64.tar.gz", SHA)])
    assert krew.validate(text) == []
    doc = yaml.safe_load(text)
    assert doc["metadata"]["name"] == "gitops"
    p = doc["spec"]["platforms"][0]
    assert p["uri"] == ("https://github.com/kubectl-gitops/kubectl-gitops/releases/download/v1.2.3/"
                        "kubectl-gitops_v1.2.3_linux_amd64.tar.gz")
    assert p["selector"] == {"matchLabels": {"os": "linux", "arch": "amd64"}}
    assert p["bin"] == "kubectl-gitops"
    assert {"from": "LICENSE", "to": "."} in p["files"]
    assert "Python 3.10 or newer" in doc["spec"]["caveats"]


# change -> a piece of the problem reported (krew's own wording where krew has one)
INVALID = {
    "apiVersion=v1": ({"apiVersion": "v1"}, "krew supports only"),
    "kind": ({"kind": "Deployment"}, "only 'Plugin' is supported"),
    "name with a space": ({"metadata.name": "git ops"}, "is not allowed"),
    "windows device name": ({"metadata.name": "con"}, "is not allowed"),
    "another name": ({"metadata.name": "gitops2"}, "should be named 'gitops'"),
    "no short description": ({"spec.shortDescription": None}, "should have a short description"),
    "two-line short description": ({"spec.shortDescription": "a\nb"}, "line breaks in short description"),
    "no version": ({"spec.version": None}, "should have a version specified"),
    "version without v": ({"spec.version": "1.2.3"}, "semver with a leading 'v'"),
    "version not semver": ({"spec.version": "v1.2"}, "semver with a leading 'v'"),
    "no caveats": ({"spec.caveats": None}, "spec.caveats is missing"),
    "long description line": ({"spec.description": "word " * 20}, "longer than 80"),
    "no platforms": ({"spec.platforms": []}, "should have a platform specified"),
    "no uri": ({"spec.platforms.0.uri": None}, "`uri` has to be set"),
    "uri not an archive": ({"spec.platforms.0.uri": "https://x/y.exe"}, "not a .tar.gz or .zip"),
    "no sha256": ({"spec.platforms.0.sha256": None}, "`sha256` sum has to be set"),
    "uppercase sha256": ({"spec.platforms.0.sha256": "A" * 64}, "is not valid"),
    "short sha256": ({"spec.platforms.0.sha256": "abc"}, "is not valid"),
    "no bin": ({"spec.platforms.0.bin": None}, "`bin` has to be set"),
    "empty files": ({"spec.platforms.0.files": []}, "unspecified or non-empty"),
    "file without from": ({"spec.platforms.0.files": [{"to": "."}]}, "`from` field has to be set"),
    "file without to": ({"spec.platforms.0.files": [{"from": "LICENSE"}]}, "`to` field has to be set"),
    "unclean to": ({"spec.platforms.0.files": [{"from": "LICENSE", "to": "a/../b"}]}, "not clean"),
    "to leaves the folder": ({"spec.platforms.0.files": [{"from": "LICENSE", "to": "../x"}]}, "not clean"),
    "no selector": ({"spec.platforms.0.selector": None}, "nil selector"),
    "empty selector": ({"spec.platforms.0.selector": {}}, "empty selector"),
    "selector on another key": ({"spec.platforms.0.selector": {"matchLabels": {"os": "linux", "libc": "musl"}}},
                                "key 'libc' not supported"),
    "selector matching nothing": ({"spec.platforms.0.selector": {"matchLabels": {"os": "plan9"}}},
                                  "doesn't match any supported platforms"),
    # platforms are rendered sorted: [0] darwin/arm64, [1] linux/amd64
    "overlapping selectors": ({"spec.platforms.1.selector": {"matchExpressions": [
        {"key": "os", "operator": "In", "values": ["linux", "darwin"]}]}},
        "overlapping selectors that select os=darwin/arch=arm64"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_manifest_validation_rejects(case: str) -> None:
    change, expected = INVALID[case]
    problems = krew.validate(manifest(**change))
    assert any(expected in p for p in problems), problems


def test_manifest_validation_accepts_match_expressions_that_do_not_overlap() -> None:
    text = manifest(**{"spec.platforms.0.selector": {"matchExpressions": [
        {"key": "os", "operator": "NotIn", "values": ["linux"]}, {"key": "arch", "operator": "Exists"}]}})
    assert krew.validate(text) == []


def test_committed_manifest_passes_the_check() -> None:
    assert krew.validate(config.MANIFEST_FILE.read_text()) == []
    doc = yaml.safe_load(config.MANIFEST_FILE.read_text())
    assert {p["selector"]["matchLabels"]["os"] + "/" + p["selector"]["matchLabels"]["arch"]
            for p in doc["spec"]["platforms"]} == set(config.PLATFORMS)


def test_release_check_command_reports_an_invalid_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "gitops.yaml"
    bad.write_text(manifest(**{"spec.version": "1.0.0"}))
    proc = subprocess.run([sys.executable, str(ROOT / "hack" / "release"), "--check", "--manifest", str(bad),
                           "--out", str(tmp_path / "none")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "semver with a leading 'v'" in proc.stdout


def tar_gz(files: dict[str, tuple[bytes, int]]) -> bytes:
    return bundle.tarball(files, 1_700_000_000)


@pytest.mark.parametrize(("files", "expected"), [
    ({"kubectl-gitops": (b"x", 0o755), "LICENSE": (b"l", 0o644), "README.md": (b"r", 0o644)}, None),
    ({"kubectl-gitops": (b"x", 0o755), "README.md": (b"r", 0o644)}, "no files in the plugin archive matched 'LICENSE'"),
    ({"kubectl-gitops": (b"x", 0o644), "LICENSE": (b"l", 0o644), "README.md": (b"r", 0o644)}, "is not executable"),
    ({"LICENSE": (b"l", 0o644), "README.md": (b"r", 0o644)}, "bin 'kubectl-gitops' is not in the installed files"),
])
def test_archive_check_installs_like_krew(tmp_path: Path, files: dict[str, tuple[bytes, int]],
                                          expected: str | None) -> None:
    archive = tmp_path / "kubectl-gitops_v1.2.3_linux_amd64.tar.gz"
    archive.write_bytes(tar_gz(files))
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    entry = yaml.safe_load(krew.render("v1.2.3", [("linux/amd64", archive.name, sha)]))["spec"]["platforms"][0]
    problems = krew.check_archive(entry, archive)
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


def test_archive_check_catches_a_stale_sha256(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_gz({"kubectl-gitops": (b"x", 0o755), "LICENSE": (b"l", 0o644)}))
    entry = {"uri": "https://x/a.tar.gz", "sha256": SHA, "bin": "kubectl-gitops"}
    assert any("differs from the manifest" in p for p in krew.check_archive(entry, archive))


def test_lock_matches_setup_cfg() -> None:
    requirements = lock.requirements_from_setup_cfg((ROOT / "setup.cfg").read_text())
    problems = lock.problems(lock.load(), requirements)
    stale = "hack/release.lock.json is stale: run `hack/release --lock` and commit it. "
    assert problems == [], stale + "; ".join(problems)


def test_lock_pins_every_wheel_with_a_hash_for_every_platform() -> None:
    locked = lock.load()
    for platform, spec in locked["platforms"].items():
        names = {config.canonical(d["name"]) for d in spec["dists"]}
        assert {"click", "kubernetes", "pyyaml"} <= names, platform
        for d in spec["dists"]:
            assert d["files"], (platform, d["name"])
            for f in d["files"].values():
                assert len(f["sha256"]) == 64 and f["url"].endswith("/" + f["file"])


def test_setup_cfg_requirements_drop_comments() -> None:
    text = "[options]\ninstall_requires =\n    click>=8.1\n    # why\n    PyYAML>=6.0\n"
    assert lock.requirements_from_setup_cfg(text) == ["click>=8.1", "PyYAML>=6.0"]


def test_archives_are_reproducible_byte_for_byte() -> None:
    tree = {"lib/b.py": (b"b", 0o644), "lib/a.py": (b"a", 0o644), "native/x.so": (b"\0", 0o755)}
    first = bundle.zipapp(b"main", tree, 1_700_000_000)
    again = bundle.zipapp(b"main", dict(reversed(list(tree.items()))), 1_700_000_000)
    assert first == again
    assert first.startswith(b"#!/usr/bin/env python3\n")
    assert bundle.zipapp(b"main", tree, 1_700_000_100) != first  # the timestamp is an input, nothing else hidden
    with zipfile.ZipFile(io.BytesIO(first)) as outer:
        assert outer.namelist() == ["__main__.py", "payload.zip"]
        assert outer.getinfo("payload.zip").compress_type == zipfile.ZIP_STORED
        payload = zipfile.ZipFile(io.BytesIO(outer.read("payload.zip")))
        assert payload.namelist() == ["lib/a.py", "lib/b.py", "native/x.so"]
        assert (payload.getinfo("native/x.so").external_attr >> 16) & 0o777 == 0o755
    t1 = tar_gz({"kubectl-gitops": (first, 0o755), "LICENSE": (b"l", 0o644)})
    assert t1 == tar_gz({"LICENSE": (b"l", 0o644), "kubectl-gitops": (first, 0o755)})
    with tarfile.open(fileobj=io.BytesIO(t1)) as tf:
        assert [(m.name, m.uid, m.mtime) for m in tf.getmembers()] == [
            ("LICENSE", 0, 1_700_000_000), ("kubectl-gitops", 0, 1_700_000_000)]


def make_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_unpacked_wheels_lose_install_records_scripts_and_bytecode_and_optionally_extensions(tmp_path: Path) -> None:
    whl = make_wheel(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", {
        "pkg/__init__.py": b"", "pkg/_speed.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
        "pkg/__pycache__/__init__.cpython-311.pyc": b"", "pkg-1.0.dist-info/METADATA": b"Name: pkg",
        "pkg-1.0.dist-info/RECORD": b"", "pkg-1.0.data/scripts/pkg": b"#!", "pkg-1.0.data/purelib/extra.py": b"",
    })
    assert sorted(wheels.unpack(whl)) == ["extra.py", "pkg-1.0.dist-info/METADATA", "pkg/__init__.py",
                                          "pkg/_speed.cpython-311-x86_64-linux-gnu.so"]
    assert wheels.unpack(whl)["pkg/_speed.cpython-311-x86_64-linux-gnu.so"][1] == 0o755
    assert "pkg/_speed.cpython-311-x86_64-linux-gnu.so" not in wheels.unpack(whl, strip_extensions=True)


def test_assembled_bundle_puts_pure_code_in_lib_and_compiled_wheels_per_python(tmp_path: Path) -> None:
    pure = make_wheel(tmp_path / "click-8-py3-none-any.whl", {"click/__init__.py": b""})
    abi3 = make_wheel(tmp_path / "cryptography-1-cp39-abi3-x.whl", {"cryptography/_rust.abi3.so": b"so"})
    y310 = make_wheel(tmp_path / "pyyaml-6-cp310-cp310-x.whl",
                      {"yaml/__init__.py": b"", "yaml/_yaml.cpython-310.so": b"so"})
    y311 = make_wheel(tmp_path / "pyyaml-6-cp311-cp311-x.whl",
                      {"yaml/__init__.py": b"", "yaml/_yaml.cpython-311.so": b"so"})
    cffi = make_wheel(tmp_path / "cffi-2-cp311-cp311-x.whl", {"_cffi_backend.cpython-311.so": b"so"})
    f = {p.name: p for p in (pure, abi3, y310, y311, cffi)}
    locked = {"platforms": {"linux/amd64": {"dists": [
        {"name": "click", "kind": "pure", "files": {"*": {"file": pure.name}}},
        {"name": "cryptography", "kind": "abi3", "files": {"*": {"file": abi3.name}}},
        {"name": "PyYAML", "kind": "per-python", "files": {"cp310": {"file": y310.name}, "cp311": {"file": y311.name}}},
        {"name": "cffi", "kind": "per-python", "files": {"cp311": {"file": cffi.name}}},
    ]}}}
    tree, runtimes = bundle.assemble({"kubectl_gitops/__init__.py": (b"", 0o644)}, locked, "linux/amd64", f)
    assert {"lib/kubectl_gitops/__init__.py", "lib/click/__init__.py", "lib/yaml/__init__.py",
            "native/abi3/cryptography/_rust.abi3.so", "native/cp310/yaml/_yaml.cpython-310.so",
            "native/cp311/_cffi_backend.cpython-311.so"} <= set(tree)
    assert not any(p.startswith("lib/") and p.endswith(".so") for p in tree)  # PyYAML's pure fallback only
    assert runtimes["cp311"]["native"] == ["abi3", "cp311"] and runtimes["cp311"]["missing"] == []
    # CPython 3.10 has PyYAML compiled but no cffi: cryptography cannot load, so it is reported missing
    assert runtimes["cp310"]["missing"] == ["_cffi_backend"]
    assert runtimes[""]["native"] == [] and runtimes[""]["missing"] == ["_cffi_backend", "cryptography"]
    assert len({r["hash"] for r in runtimes.values()}) == 3


def test_bootstrap_stays_readable_by_old_pythons() -> None:
    """Python 2.7 and 3.0-3.9 must parse it to print the version message (tests/e2e runs it on real ones)."""
    import ast
    import tokenize

    source = bundle.BOOTSTRAP.read_text()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        prefix = tok.string[: len(tok.string) - len(tok.string.lstrip("rbfuRBFU"))]
        assert tok.type != tokenize.STRING or "f" not in prefix.lower(), f"f-string at line {tok.start[0]}"
    for node in ast.walk(ast.parse(source)):
        assert not isinstance(node, (ast.AnnAssign, ast.NamedExpr, ast.Nonlocal, ast.JoinedStr)), node.lineno
        if isinstance(node, (ast.FunctionDef, ast.arg)):
            assert getattr(node, "returns", None) is None and getattr(node, "annotation", None) is None, node.lineno
    assert bundle.main_py({"x": 1}).decode().count('BUNDLE = {"x": 1}') == 1


@pytest.mark.parametrize(("version", "ok"), [((3, 10, 0), True), ((3, 13, 1), True), ((3, 9, 18), False),
                                             ((2, 7, 18), False)])
def test_bootstrap_explains_a_too_old_python(version: tuple[int, int, int], ok: bool) -> None:
    problem = bootstrap.python_problem(version, (3, 10), "/usr/bin/python3")
    if ok:
        assert problem is None
    else:
        assert problem is not None
        assert "needs Python 3.10 or newer" in problem and ".".join(map(str, version)) in problem
        assert "/usr/bin/python3" in problem


@pytest.mark.parametrize(("argv0", "function"), [
    ("/root/.krew/bin/kubectl-gitops", "kubectl_gitops.cli.main:main"),
    ("kubectl-gitops.pyz", "kubectl_gitops.cli.main:main"),
    ("/x/kubectl-gitops-sync", "kubectl_gitops.cli.main:sync_main"),
    ("/x/kubectl-gitops_waves", "kubectl_gitops.cli.main:waves_main"),
    ("/x/kubectl-gitops-nonsense", "kubectl_gitops.cli.main:main"),
    ("/x/kubectl_complete-gitops", "kubectl_gitops.cli.completion:kubectl_complete_main"),
    ("/x/kubectl_complete-gitops-sync", "kubectl_gitops.cli.completion:kubectl_complete_main"),
])
def test_bootstrap_runs_the_entry_point_its_name_asks_for(argv0: str, function: str) -> None:
    assert ":".join(bootstrap.entry_point(argv0)) == function


def fake_bundle(tmp_path: Path) -> tuple[str, dict[str, Any]]:
    archive = tmp_path / "kubectl-gitops"
    archive.write_bytes(bundle.zipapp(b"", {"lib/pkg/__init__.py": (b"X = 1\n", 0o644),
                                            "native/abi3/fast.so": (b"so", 0o755),
                                            "native/cp311/other.so": (b"so", 0o755)}, 1_700_000_000))
    info = {"version": "v1.0.0", "platform": "linux/amd64", "min_python": [3, 10], "runtimes": {
        "": {"native": [], "hash": "000000000000", "missing": ["fast", "other"]},
        "cp311": {"native": ["abi3", "cp311"], "hash": "111111111111", "missing": []}}}
    return str(archive), info


def test_runtime_is_unpacked_once_into_a_versioned_cache_folder(tmp_path: Path) -> None:
    archive, info = fake_bundle(tmp_path)
    root = tmp_path / "cache"
    folder, persistent = bootstrap.ensure_runtime(archive, info, "cp311", str(root))
    assert persistent and folder == str(root / "runtime" / "v1.0.0-111111111111")
    assert (Path(folder) / "lib" / "pkg" / "__init__.py").read_text() == "X = 1\n"
    assert sorted(os.listdir(Path(folder) / "native")) == ["fast.so", "other.so"]
    assert os.stat(Path(folder) / "native" / "fast.so").st_mode & 0o777 == 0o755
    (Path(folder) / "lib" / "pkg" / "__init__.py").write_text("X = 2\n")  # a second run must not unpack again
    assert bootstrap.ensure_runtime(archive, info, "cp311", str(root)) == (folder, True)
    assert (Path(folder) / "lib" / "pkg" / "__init__.py").read_text() == "X = 2\n"
    assert [n for n in os.listdir(root / "runtime") if n.startswith(".tmp-")] == []


def test_runtime_for_a_python_without_compiled_wheels_has_only_the_pure_part(tmp_path: Path) -> None:
    archive, info = fake_bundle(tmp_path)
    folder, _ = bootstrap.ensure_runtime(archive, info, "cp315", str(tmp_path / "cache"))
    assert folder.endswith("v1.0.0-000000000000")
    assert not (Path(folder) / "native").exists()


def test_runtime_keeps_the_folder_another_run_finished_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive, info = fake_bundle(tmp_path)
    root = tmp_path / "cache"
    target = root / "runtime" / "v1.0.0-111111111111"
    real_rename = os.rename

    def racing_rename(src: str, dst: str) -> None:
        if not target.exists():  # the other run wins the race just before ours renames
            real_rename(src, dst)
            raise OSError(39, "Directory not empty")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", racing_rename)
    folder, persistent = bootstrap.ensure_runtime(archive, info, "cp311", str(root))
    assert (folder, persistent) == (str(target), True)
    assert (target / ".complete").exists()
    assert [n for n in os.listdir(root / "runtime") if n.startswith(".tmp-")] == []


def test_runtime_falls_back_to_a_temporary_folder_when_the_cache_is_not_writable(tmp_path: Path) -> None:
    archive, info = fake_bundle(tmp_path)
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    folder, persistent = bootstrap.ensure_runtime(archive, info, "cp311", str(blocked))
    try:
        assert not persistent
        assert (Path(folder) / "lib" / "pkg" / "__init__.py").exists()
    finally:
        bootstrap._rmtree(folder)


def test_nothing_writable_stops_with_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    archive, info = fake_bundle(tmp_path)
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")

    def no_temp(*args: Any, **kwargs: Any) -> str:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkdtemp", no_temp)
    err = io.StringIO()
    assert bootstrap.setup(archive, info, {"KUBECTL_GITOPS_CACHE": str(blocked)}, err) is None
    assert "cannot unpack itself into" in err.getvalue() and "KUBECTL_GITOPS_CACHE" in err.getvalue()


def test_runtime_prunes_other_versions_unpacked_more_than_a_day_ago(tmp_path: Path) -> None:
    archive, info = fake_bundle(tmp_path)
    runtime = tmp_path / "cache" / "runtime"
    for name, age in (("v0.9.0-aaaaaaaaaaaa", 3 * 86400), ("v0.9.1-bbbbbbbbbbbb", 600), ("v1.0.0-cccccccccccc", 9e6)):
        (runtime / name).mkdir(parents=True)
        (runtime / name / ".complete").write_text("")
        os.utime(runtime / name / ".complete", (1e9 - age, 1e9 - age))
    bootstrap.ensure_runtime(archive, info, "cp311", str(tmp_path / "cache"), now=1e9)
    assert sorted(os.listdir(runtime)) == ["v0.9.1-bbbbbbbbbbbb", "v1.0.0-111111111111", "v1.0.0-cccccccccccc"]


def test_cache_root_follows_the_environment() -> None:
    assert bootstrap.cache_root({"KUBECTL_GITOPS_CACHE": "/c"}) == "/c"
    assert bootstrap.cache_root({"XDG_CACHE_HOME": "/x"}) == os.path.join("/x", "kubectl-gitops")
    assert bootstrap.cache_root({}).endswith(os.path.join(".cache", "kubectl-gitops"))


def test_a_compiled_dependency_missing_for_this_python_fails_with_a_reason() -> None:
    finder = bootstrap.Unavailable(["cryptography"], "%(module)s is not available: use CPython 3.12")
    assert finder.find_spec("yaml") is None
    with pytest.raises(ImportError, match=r"cryptography is not available: use CPython 3\.12"):
        finder.find_spec("cryptography.hazmat.primitives")


def test_missing_compiled_dependency_message_names_the_pythons_that_have_it(tmp_path: Path) -> None:
    _, info = fake_bundle(tmp_path)
    message = bootstrap._unavailable_reason(info, "cp315") % {"module": "cryptography"}
    assert message.startswith("cryptography is not available: this kubectl-gitops build for linux/amd64")
    assert "CPython 3.11" in message and "install kubectl-gitops with pip" in message


def test_this_cpython_gets_its_compiled_wheels() -> None:
    assert bootstrap.no_wheels_reason() == ""
    assert bootstrap.python_tag() == f"cp{sys.version_info[0]}{sys.version_info[1]}"
