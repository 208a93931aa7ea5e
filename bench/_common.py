"""What the benchmarks share: running commands, the local control plane, the environment ours runs in, git, and
counting write requests in the apiserver's audit log. Imported by the bench scripts (``python bench/x.py`` puts
this folder on sys.path)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# Settings a developer may have exported that would change what our commands do.
USER_SETTINGS = ("KUBECTL_GITOPS_APP", "KUBECTL_GITOPS_FAULT", "KUBECTL_GITOPS_RECORD", "KUBECTL_EXTERNAL_DIFF",
                 "KUBECTL_APPLYSET")


def run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, env=env, cwd=cwd, text=True, capture_output=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = run(cmd, env=env, cwd=cwd)
    return time.perf_counter() - t0, proc


def cluster_state() -> dict[str, Any]:
    """The local control plane's state.json, after starting it when it is not up."""
    up = run([str(ROOT / "hack" / "local-cluster"), "up"], check=False)
    if up.returncode != 0:
        raise SystemExit(f"hack/local-cluster up failed:\n{up.stderr}")
    state_dir = Path(os.environ.get("KUBECTL_GITOPS_CLUSTER_DIR")
                     or Path.home() / ".cache" / "kubectl-gitops" / "local-cluster")
    state: dict[str, Any] = json.loads((state_dir / "state.json").read_text())
    return state


def bench_env(state: dict[str, Any]) -> dict[str, str]:
    """The environment every timed command runs in: the control plane's kubeconfig, no developer settings, and
    ours as installed. bin/kubectl-gitops starts with ``#!/usr/bin/env python3``, so the interpreter running the
    benchmark comes first on PATH (a version manager's shim, pyenv's bash script, would add ~70 ms to each of our
    starts and none to kubectl's), and our bytecode is compiled once (PYTHONDONTWRITEBYTECODE would compile it
    again on every run; an installed copy has it)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(USER_SETTINGS) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(KUBECONFIG=state["kubeconfig"], NO_COLOR="1",
               PATH=os.pathsep.join([str(ROOT / "bin"), os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kubectl_gitops")], env=env)
    return env


def git_commit(repo: Path, message: str) -> None:
    """Commit everything in ``repo`` (created as a repository first if it is not one)."""
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"]
    if not (repo / ".git").exists():
        run([*git, "init", "-q", "-b", "main"], cwd=repo)
    run([*git, "add", "-A"], cwd=repo)
    run([*git, "commit", "-q", "-m", message], cwd=repo)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Writes(NamedTuple):
    dry: int  # dry-run write requests
    real: int  # everything else


class Audit:
    """Counts write requests per client in the apiserver's audit log between a ``mark`` and ``writes``. The
    apiserver rotates the log at 100 MB (to audit-<time>.log beside it); a rotation between the two is followed.
    Counts are by namespace, since other clients may use the same cluster at the same time."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.inode = 0

    def mark(self) -> None:
        time.sleep(1.0)  # let events of earlier requests land first
        st = self.path.stat()
        self.offset, self.inode = st.st_size, st.st_ino

    def _lines(self) -> list[bytes]:
        chunks = []
        if self.path.stat().st_ino != self.inode:  # rotated: the rest of the old file, then the new one
            for old in (p for p in self.path.parent.glob("audit-*.log") if p.stat().st_ino == self.inode):
                with open(old, "rb") as fh:
                    fh.seek(self.offset)
                    chunks.append(fh.read())
            self.offset = 0
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunks.append(fh.read())
        return b"".join(chunks).splitlines()

    def writes(self, agent_prefix: str, in_scope: Callable[[str], bool] | Iterable[str]) -> Writes:
        """Writes by clients whose User-Agent starts with ``agent_prefix``, to objects in a namespace that
        ``in_scope`` accepts (a predicate, or the namespaces themselves; a Namespace object counts as in itself)."""
        time.sleep(1.0)
        accept = in_scope if callable(in_scope) else set(in_scope).__contains__
        dry = real = 0
        for line in self._lines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            ref = ev.get("objectRef") or {}
            ns = ref.get("namespace") or (ref.get("name") if ref.get("resource") == "namespaces" else "") or ""
            if ev.get("verb") not in WRITE_VERBS or not accept(ns) \
                    or not str(ev.get("userAgent", "")).startswith(agent_prefix):
                continue
            if "dryRun=All" in ev.get("requestURI", ""):
                dry += 1
            else:
                real += 1
        return Writes(dry, real)
