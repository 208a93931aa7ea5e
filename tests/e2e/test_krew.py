"""The release archive as a user gets it: built by hack/release, installed by the real krew (from the Go
module proxy, hack/tools.sh), run through kubectl's plugin discovery, uninstalled.

Only linux/amd64 can run here; the other archives are built and checked (manifest, sha256, LICENSE,
executable bin) but not executed. Most tests need no cluster; the diff test is marked e2e.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = "linux/amd64"

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl on PATH (plugin discovery)")


@dataclass(frozen=True)
class Release:
    out: Path
    archive: Path
    manifest: Path
    commit: str


def head() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def build(out: Path, *, ref: str | None = None) -> subprocess.CompletedProcess[str]:
    # From the working tree by default, so this tests the same code as the other tests (a release uses HEAD).
    source = ["--ref", ref] if ref else ["--worktree"]
    return subprocess.run([sys.executable, str(ROOT / "hack" / "release"), *source, "--platform", PLATFORM,
                           "--out", str(out)], capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    out = tmp_path_factory.mktemp("dist")
    proc = build(out)
    assert proc.returncode == 0, proc.stderr
    [archive] = out.glob("kubectl-gitops_v*_linux_amd64.tar.gz")
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "kubectl_gitops", "LICENSE",
                            "README.md", "setup.cfg"], capture_output=True, text=True, check=True).stdout.strip()
    return Release(out, archive, out / "krew-manifest.yaml", head() + ("-dirty" if dirty else ""))


@pytest.fixture(scope="module")
def krew() -> Path:
    proc = subprocess.run([str(ROOT / "hack" / "tools.sh"), "path", "krew"], capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip())


class Krew:
    """A private KREW_ROOT and the environment a user of it has: its bin first on PATH, and no other
    kubectl-gitops on PATH (a checkout's bin/ or a pip install would shadow or add plugins)."""

    def __init__(self, base: Path, krew_bin: Path):
        self.root = base / "krew"
        self.cache = base / "cache"
        self.home = base / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        others = [p for p in os.environ["PATH"].split(os.pathsep)
                  if p and not glob.glob(os.path.join(p, "kubectl-gitops*"))
                  and not glob.glob(os.path.join(p, "kubectl_complete-gitops*"))]
        self.path = os.pathsep.join([str(self.root / "bin"), str(krew_bin.parent), *others])
        # `krew list` and `krew uninstall` insist on an initialised index (a git clone of krew-index, made by
        # `kubectl krew update`, which needs GitHub). An empty local repository is the offline stand-in.
        index = self.root / "index" / "default"
        index.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", str(index)], check=True, timeout=60)

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "KREW_ROOT": str(self.root), "PATH": self.path, "KREW_NO_UPGRADE_CHECK": "1",
                "KUBECTL_GITOPS_CACHE": str(self.cache), "NO_COLOR": "1", **extra}

    def run(self, *args: str, cwd: Path = ROOT, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=300, cwd=cwd, env=self.env(**extra))

    def install(self, release: Release) -> None:
        proc = self.run("kubectl", "krew", "install", f"--manifest={release.manifest}", f"--archive={release.archive}")
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, release: Release, krew: Path) -> Iterator[Krew]:
    k = Krew(tmp_path_factory.mktemp("krew"), krew)
    k.install(release)
    yield k


def test_release_writes_a_manifest_that_passes_the_check(release: Release) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "hack" / "release"), "--check", "--manifest",
                           str(release.manifest), "--out", str(release.out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_release_build_is_reproducible(tmp_path: Path) -> None:
    # Two builds of one commit (the working tree, even HEAD, may move while the tests run).
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    digests = []
    for n in (1, 2):
        proc = build(tmp_path / str(n), ref=commit)
        assert proc.returncode == 0, proc.stderr
        [archive] = (tmp_path / str(n)).glob("*.tar.gz")
        digests.append(hashlib.sha256(archive.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_krew_links_the_plugin_where_kubectl_finds_it(installed: Krew) -> None:
    link = installed.root / "bin" / "kubectl-gitops"
    assert link.is_symlink()
    target = Path(os.readlink(link))
    assert target.parent.parent.name == "gitops" and target.name == "kubectl-gitops"
    assert (target.parent / "LICENSE").is_file()
    proc = installed.run("kubectl", "krew", "list")
    assert "detached/gitops" in proc.stdout.split()  # krew's name for a plugin installed from a manifest file
    proc = installed.run("kubectl", "plugin", "list")
    assert str(link) in proc.stdout


def test_kubectl_gitops_version_flag_names_the_built_commit(installed: Krew, release: Release) -> None:
    proc = installed.run("kubectl", "gitops", "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"kubectl-gitops v{_package_version()} (commit {release.commit})"


def test_version_json_reports_the_baked_commit_and_bundled_dependencies(installed: Krew, release: Release) -> None:
    proc = installed.run("kubectl", "gitops", "version", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["commit"] == release.commit  # from _build_info.py: the bundle has no .git to ask
    assert info["version"] == f"v{_package_version()}"
    assert all(info["dependencies"].values()), info["dependencies"]  # dist-info travels with the bundle


def test_waves_of_the_examples_through_kubectl(installed: Krew) -> None:
    assert (ROOT / "examples").is_dir(), "examples/ is part of the repository"
    proc = installed.run("kubectl", "gitops", "waves", "examples/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split()[:3] == ["PHASE", "WAVE", "KIND"]
    assert "Deployment" in proc.stdout


def test_secrets_use_the_bundled_cryptography(installed: Krew, tmp_path: Path) -> None:
    """age keys and sops encryption need cryptography's compiled code: unpacked from the bundle."""
    env = {"HOME": str(installed.home), "SOPS_AGE_KEY_FILE": str(tmp_path / "keys.txt")}
    proc = installed.run("kubectl", "gitops", "secrets", "init", "--key-file", str(tmp_path / "keys.txt"), "--dir",
                         str(tmp_path), **env)
    assert proc.returncode == 0, proc.stderr
    secret = tmp_path / "db-secret.yaml"
    secret.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n")
    proc = installed.run("kubectl", "gitops", "secrets", "encrypt", "-i", str(secret), cwd=tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    assert "hunter2" not in secret.read_text() and "ENC[AES256_GCM," in secret.read_text()
    proc = installed.run("kubectl", "gitops", "secrets", "decrypt", str(secret), cwd=tmp_path, **env)
    assert "password: hunter2" in proc.stdout


def test_jsonnet_runs_in_the_bundled_evaluator(installed: Krew, tmp_path: Path) -> None:
    """.jsonnet files are evaluated by gojsonnet (compiled, per Python) in a child of the bundled interpreter."""
    repo = tmp_path / "repo"
    (repo / "apps").mkdir(parents=True)
    (repo / "apps" / "cm.jsonnet").write_text(
        "function(name) {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: name}, data: {env: std.extVar('env')}}")
    identity = ["-c", "user.name=T", "-c", "user.email=t@example.com"]
    for cmd in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True, capture_output=True)
    proc = installed.run("kubectl", "gitops", "waves", "apps", "-o", "json", "--jsonnet-tla-str", "name=from-jsonnet",
                         "--jsonnet-ext-var-str", "env=prod", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "from-jsonnet" in proc.stdout and "Traceback" not in proc.stderr


def test_runtime_is_unpacked_once_per_version(installed: Krew) -> None:
    installed.run("kubectl", "gitops", "--version")
    runtime = installed.cache / "runtime"
    folders = [p for p in runtime.iterdir() if not p.name.startswith(".")]
    assert len(folders) == 1 and folders[0].name.startswith(f"v{_package_version()}-")
    assert (folders[0] / ".complete").is_file() and (folders[0] / "lib" / "kubectl_gitops").is_dir()


def test_completion_through_kubectl_with_the_documented_link(installed: Krew) -> None:
    link = installed.root / "bin" / "kubectl_complete-gitops"
    link.unlink(missing_ok=True)
    link.symlink_to(installed.root / "bin" / "kubectl-gitops")  # docs/install.md, krew section
    proc = installed.run("kubectl", "__complete", "gitops", "sy")
    assert proc.stdout.splitlines()[0].split("\t")[0] == "sync", proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == ":4"


def _python(version: str) -> str | None:
    """An interpreter of that version, if this machine has one (PATH, then pyenv's versions folder)."""
    candidates = [shutil.which(f"python{version}") or "",
                  *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version[0]}")))]
    for c in candidates:
        if c and subprocess.run([c, "-c", "pass"], capture_output=True, timeout=60).returncode == 0:
            return c
    return None


@pytest.mark.parametrize("version", ["3.10", "3.12", "3.13"])
def test_bundle_runs_on_other_supported_pythons(installed: Krew, tmp_path: Path, version: str) -> None:
    python = _python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    exe = str(installed.root / "bin" / "kubectl-gitops")
    proc = installed.run(python, exe, "--version")
    assert proc.returncode == 0, proc.stderr
    proc = installed.run(python, exe, "secrets", "init", "--key-file", str(tmp_path / "k.txt"), "--dir", str(tmp_path),
                         HOME=str(installed.home))
    assert proc.returncode == 0, proc.stderr  # cffi and cryptography for this very version were unpacked
    assert proc.stdout.startswith("age1")


@pytest.mark.parametrize("version", ["3.9", "2.7"])
def test_bundle_explains_a_too_old_python(installed: Krew, version: str) -> None:
    python = _python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    proc = installed.run(python, str(installed.root / "bin" / "kubectl-gitops"), "--version")
    assert proc.returncode == 4
    assert "kubectl-gitops needs Python 3.10 or newer" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_diff_against_the_local_control_plane(installed: Krew) -> None:
    proc = installed.run("kubectl", "gitops", "diff", "examples/")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_uninstall_removes_the_links(tmp_path: Path, release: Release, krew: Path) -> None:
    k = Krew(tmp_path, krew)
    k.install(release)
    assert (k.root / "bin" / "kubectl-gitops").is_symlink()
    proc = k.run("kubectl", "krew", "uninstall", "gitops")
    assert proc.returncode == 0, proc.stderr
    assert not (k.root / "bin" / "kubectl-gitops").exists() and not (k.root / "bin" / "kubectl-gitops").is_symlink()
    assert not (k.root / "store" / "gitops").exists()
    proc = k.run("kubectl", "gitops", "--version")
    assert proc.returncode != 0


def _package_version() -> str:
    from kubectl_gitops import __version__

    return __version__
