"""The hostile-repository corpus: one folder per attack under ``cases/``, each run through the real CLI.

A repository is untrusted input (docs/security.md). Each case folder holds ``case.yaml`` (the attack in one
line, the command, the expected exit code and message), optionally ``repo/`` (files committed into a fresh
repository) and ``setup.sh`` (bash run in that repository afterwards: symlinks, hand-built git trees, ...).

Every case runs in its own temporary folder with a fresh ``$HOME``, ``TMPDIR`` and a canary folder
``$OUTSIDE`` beside the repository, under ``ulimit -v`` and a timeout, and must:

- exit with the expected code, with every expected substring in stderr and no traceback anywhere;
- never print the canary token of ``$OUTSIDE`` (nor put it into a cluster object, for cluster cases);
- leave ``$OUTSIDE`` unchanged, create nothing directly in the temporary folder, and leave ``TMPDIR`` empty;
- send no more requests to ``$LISTENER`` (a local HTTP server that answers with the canary) than allowed.

``case.yaml``::

    why: a commit with a tree entry named ".." writes above the export folder
    args: [waves, --ref, HEAD, deploy]   # kubectl gitops arguments; $REPO $OUTSIDE $LISTENER $TMP $HOME expand
    env: {VAULT_ADDR: $LISTENER}         # optional
    exit: 3
    stderr: [deploy, ".."]               # all must appear in stderr
    stdout: []                           # optional
    cluster: false                       # true: needs the local control plane (an e2e case)
    requests: 0                          # optional: requests $LISTENER may receive
"""

from __future__ import annotations

import http.server
import os
import resource
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"
sys.path.insert(0, str(ROOT / "tests"))

from cli_helpers import gitops  # noqa: E402
from http_helpers import LoopbackHTTPServer, serving  # noqa: E402

MEMORY_LIMIT = 4 << 30  # ulimit -v for the CLI and everything it starts (Go binaries reserve address space)
TIMEOUT = 90.0
_KNOWN_KEYS = {"why", "args", "env", "exit", "stderr", "stdout", "cluster", "requests"}


@dataclass
class Case:
    name: str
    folder: Path
    spec: dict[str, Any] = field(default_factory=dict)


def _cases() -> list[Any]:
    params = []
    for folder in sorted(p for p in CASES.iterdir() if p.is_dir()) if CASES.is_dir() else []:
        spec = yaml.safe_load((folder / "case.yaml").read_text())
        marks = [pytest.mark.e2e] if spec.get("cluster") else []
        params.append(pytest.param(Case(folder.name, folder, spec), id=folder.name, marks=marks))
    return params


class _Listener(LoopbackHTTPServer):
    """Records every request; answers GETs with a ConfigMap that carries the canary token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.seen: list[str] = []
        super().__init__(_Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Listener

    def _answer(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")
        body = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\ndata:\n"
                f"  token: {self.server.token}\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-yaml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[_Listener]:
    with serving(_Listener(f"CANARY-fetched-{uuid.uuid4().hex[:12]}")) as server:
        yield server


def _tool_dirs() -> list[str]:
    """Folders of the pinned helm and sops (built by hack/tools.sh; never built here)."""
    dirs = []
    for tool in ("helm", "sops"):
        proc = subprocess.run([str(ROOT / "hack" / "tools.sh"), "dir", tool], capture_output=True, text=True,
                              check=False)
        if proc.returncode == 0 and Path(proc.stdout.strip()).is_dir():
            dirs.append(proc.stdout.strip())
    return dirs


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = f"-> {os.readlink(p)}" if p.is_symlink() else (p.read_bytes() if p.is_file() else "dir")
    return out


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _expand(value: str, variables: dict[str, str]) -> str:
    for name in sorted(variables, key=len, reverse=True):
        value = value.replace(f"${name}", variables[name])
    return value


def _make_outside(outside: Path, token: str) -> None:
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{token}\n")
    (outside / "secret.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  token: {token}\n")
    (outside / "config").write_text(
        "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n"
        f"    token: {token}\n")
    (outside / "values.yaml").write_text(f"stolen: {token}\n")


@pytest.mark.parametrize("case", _cases())
def test_hostile_repository(case: Case, tmp_path: Path, listener: _Listener, request: pytest.FixtureRequest) -> None:
    spec = case.spec
    unknown = set(spec) - _KNOWN_KEYS
    assert not unknown, f"{case.name}/case.yaml: unknown keys {sorted(unknown)}"
    assert spec.get("why") and isinstance(spec.get("args"), list) and isinstance(spec.get("exit"), int), (
        f"{case.name}/case.yaml needs why, args (a list) and exit (an int)")

    token = f"CANARY-outside-{uuid.uuid4().hex[:12]}"
    outside, repo, home, tmpdir = (tmp_path / n for n in ("outside", "repo", "home", "tmp"))
    _make_outside(outside, token)
    home.mkdir()
    tmpdir.mkdir()
    variables = {"REPO": str(repo), "OUTSIDE": str(outside), "LISTENER": listener.url, "TMP": str(tmp_path),
                 "HOME": str(home)}
    env = {
        **variables,
        "TMPDIR": str(tmpdir),
        "GIT_AUTHOR_NAME": "Hostile", "GIT_AUTHOR_EMAIL": "hostile@example.invalid",
        "GIT_COMMITTER_NAME": "Hostile", "GIT_COMMITTER_EMAIL": "hostile@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PATH": os.pathsep.join([str(ROOT / "bin"), *_tool_dirs(), str(Path(sys.executable).parent),
                                 os.environ.get("PATH", "")]),
    }
    if spec.get("cluster"):
        env["KUBECONFIG"] = os.environ["KUBECONFIG"]  # set by the session's cluster fixture (e2e mark)
    for k, v in (spec.get("env") or {}).items():
        env[str(k)] = _expand(str(v), variables)

    # the repository: repo/ committed, then setup.sh
    if (case.folder / "repo").is_dir():
        shutil.copytree(case.folder / "repo", repo, symlinks=True)
    else:
        repo.mkdir()
    git_env = {**os.environ, **env}
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                ["git", "commit", "-q", "--allow-empty", "-m", "hostile repository"]):
        subprocess.run(cmd, cwd=repo, env=git_env, check=True, capture_output=True, timeout=30)
    if (case.folder / "setup.sh").is_file():
        proc = subprocess.run(["bash", "-euo", "pipefail", str(case.folder / "setup.sh")], cwd=repo, env=git_env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, f"{case.name}/setup.sh failed:\n{proc.stdout}\n{proc.stderr}"

    outside_before = _snapshot(outside)
    top_before = sorted(p.name for p in tmp_path.iterdir())
    args = [_expand(str(a), variables) for a in spec["args"]]

    import cli_helpers

    original_run = subprocess.run

    def limited_run(*a: Any, **kw: Any) -> Any:  # gitops() runs the CLI through subprocess.run
        kw.setdefault("preexec_fn", _limit_memory)
        return original_run(*a, **kw)

    cli_helpers.subprocess.run = limited_run  # type: ignore[attr-defined]
    try:
        result = gitops(*args, cwd=repo, env=env, timeout=TIMEOUT)
    finally:
        cli_helpers.subprocess.run = original_run  # type: ignore[attr-defined]

    shown = f"$ kubectl gitops {' '.join(args)}\nexit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n" \
            f"{result.stderr}"
    assert result.returncode == spec["exit"], f"{case.name}: {spec['why']}\n{shown}"
    for text in spec.get("stderr") or []:
        assert _expand(str(text), variables) in result.stderr, f"{case.name}: {text!r} not in stderr\n{shown}"
    for text in spec.get("stdout") or []:
        assert _expand(str(text), variables) in result.stdout, f"{case.name}: {text!r} not in stdout\n{shown}"
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert token not in result.stdout + result.stderr, f"{case.name}: a file outside the repository leaked\n{shown}"
    assert listener.token not in result.stdout + result.stderr, f"{case.name}: fetched content was shown\n{shown}"
    allowed = int(spec.get("requests", 0))
    assert len(listener.seen) <= allowed, f"{case.name}: the repository made the tool fetch {listener.seen}\n{shown}"
    assert _snapshot(outside) == outside_before, f"{case.name}: files outside the repository changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == top_before, (
        f"{case.name}: files appeared next to the repository: "
        f"{sorted(set(p.name for p in tmp_path.iterdir()) - set(top_before))}")
    assert list(tmpdir.iterdir()) == [], f"{case.name}: temporary files left behind: {list(tmpdir.iterdir())}"
    if spec.get("cluster"):
        from cluster_helpers import kubectl

        for kind in ("configmaps", "secrets"):
            dump = kubectl("get", kind, "-A", "-o", "yaml").stdout
            assert token not in dump and listener.token not in dump, f"{case.name}: outside content in the cluster"
