"""Helpers for tests that need a real git repository or the real renderers (kustomize, helm).

``GitRepo.create(tmp_path / "repo")`` makes a repository with a fixed identity; ``write`` / ``commit`` /
``git`` drive it like a user would. ``FIXTURES`` holds the kustomize and Helm fixture repositories.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

_GIT_CONFIG = ["-c", "user.name=Test User", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false",
               "-c", "tag.gpgsign=false", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
    proc = subprocess.run(["git", *_GIT_CONFIG, *args], cwd=cwd, capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


@dataclass
class GitRepo:
    path: Path

    @classmethod
    def create(cls, path: Path, *, bare: bool = False) -> GitRepo:
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q", *(["--bare"] if bare else []))
        return cls(path)

    @classmethod
    def clone(cls, url: str, path: Path) -> GitRepo:
        git(path.parent, "clone", "-q", url, str(path))
        return cls(path)

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    def write(self, rel: str, text: str) -> Path:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def copy_in(self, src: Path, rel: str = ".") -> None:
        shutil.copytree(src, self.path / rel, dirs_exist_ok=True)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def status(self) -> str:
        return self.git("status", "--porcelain", "--untracked-files=all")


def configmap(name: str, *, namespace: str | None = None, value: str = "1") -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{ns}\ndata:\n  value: \"{value}\"\n"


def find_helm() -> str | None:
    """helm from $KUBECTL_GITOPS_HELM, PATH, or the cache `hack/tools.sh helm` builds into (never builds)."""
    for candidate in (os.environ.get("KUBECTL_GITOPS_HELM"), shutil.which("helm")):
        if candidate and shutil.which(candidate):
            return candidate
    proc = subprocess.run([str(ROOT / "hack" / "tools.sh"), "dir", "helm"], capture_output=True, text=True,
                          check=False)
    built = Path(proc.stdout.strip()) / "helm"
    return str(built) if proc.returncode == 0 and built.is_file() else None


HELM_MISSING = "helm is not installed: build it with `hack/tools.sh helm` (or put helm on PATH)"


def find_kustomize() -> str | None:
    """The kustomize binary from $KUBECTL_GITOPS_KUSTOMIZE (when it is kustomize), PATH, or the cache
    `hack/tools.sh kustomize` builds into (never builds)."""
    for candidate in (os.environ.get("KUBECTL_GITOPS_KUSTOMIZE"), shutil.which("kustomize")):
        if candidate and shutil.which(candidate) and Path(candidate).name.startswith("kustomize"):
            return candidate
    proc = subprocess.run([str(ROOT / "hack" / "tools.sh"), "dir", "kustomize"], capture_output=True, text=True,
                          check=False)
    built = Path(proc.stdout.strip()) / "kustomize"
    return str(built) if proc.returncode == 0 and built.is_file() else None


KUSTOMIZE_MISSING = "kustomize is not installed: build it with `hack/tools.sh kustomize` (or put it on PATH)"
