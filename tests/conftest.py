"""Shared fixtures. Tests marked e2e get the local control plane (hack/local-cluster) for the session.

Helpers for e2e tests (kubectl, audit log, waiting) live in tests/cluster_helpers.py; fixtures of one
area belong in that area's test files.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import cluster_helpers` from any test file

import contextlib

from cluster_helpers import Cluster, cluster_session, kubectl, wait_for


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The local cluster, started for this session (or reused when already up), with KUBECONFIG pointing at it.

    It is stopped at the end only if this session started it (see cluster_helpers.cluster_session).
    """
    with cluster_session() as c:
        saved = os.environ.get("KUBECONFIG")
        os.environ["KUBECONFIG"] = c.kubeconfig
        try:
            yield c
        finally:
            if saved is None:
                os.environ.pop("KUBECONFIG", None)
            else:
                os.environ["KUBECONFIG"] = saved


@pytest.fixture(autouse=True)
def _e2e_needs_cluster(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("e2e") is not None:
        request.getfixturevalue("cluster")


@pytest.fixture
def namespace(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[str]:
    """A fresh namespace named after the test (ready for pods: its default ServiceAccount exists); deleted after."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    wait_for(f"the default ServiceAccount in {name}",
             lambda: kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


# --- the canary: one check, for the whole suite, that no secret ever leaks ------------------------------------
# Tests write secret values that must never be shown as "CANARY-..." (base64: "Q0FOQVJZ..."). Whatever any test
# runs — the CLI in a subprocess, click's CliRunner, the code in-process — the canary must not appear in any
# stdout, stderr, captured output, failure report, cluster log or file left behind. Tests that *should* print a
# plaintext (`secrets decrypt`) use other values.
CANARY_PATTERN = re.compile(rb"CANARY-[A-Za-z0-9_-]+|Q0FOQVJZ")
_leaks: list[str] = []
_session_start = 0.0


def _scan(data: object, where: str) -> None:
    if data is None:
        return
    raw = data if isinstance(data, bytes) else str(data).encode("utf-8", "replace")
    m = CANARY_PATTERN.search(raw)
    if m:
        _leaks.append(f"{where}: ...{raw[max(0, m.start() - 60):m.end() + 20].decode('utf-8', 'replace')}...")


def _install_output_watch() -> None:
    import subprocess

    import click.testing

    original_run = subprocess.run
    original_communicate = subprocess.Popen.communicate
    original_invoke = click.testing.CliRunner.invoke

    def run(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = original_run(*args, **kwargs)
        argv = result.args if isinstance(result.args, str) else " ".join(map(str, result.args))
        _scan(result.stdout, f"stdout of `{argv[:120]}`")
        _scan(result.stderr, f"stderr of `{argv[:120]}`")
        return result

    def communicate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        out, err = original_communicate(self, *args, **kwargs)
        _scan(out, f"stdout of `{self.args!s:.120}`")
        _scan(err, f"stderr of `{self.args!s:.120}`")
        return out, err

    def invoke(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = original_invoke(self, *args, **kwargs)
        _scan(result.output, "output of an in-process CLI run")
        with contextlib.suppress(ValueError):
            _scan(result.stderr, "stderr of an in-process CLI run")
        return result

    subprocess.run = run  # type: ignore[assignment]
    subprocess.Popen.communicate = communicate  # type: ignore[method-assign]
    click.testing.CliRunner.invoke = invoke  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    global _session_start
    import time

    _session_start = time.time()
    _install_output_watch()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, content in report.sections:
        _scan(content, f"{report.nodeid} {name}")
    if report.failed:
        _scan(report.longreprtext, f"{report.nodeid} failure report")


def _walk_files(root: Path) -> list[Path]:
    """Files under root; folders that vanish or cannot be read while we look (another process) are skipped."""
    out: list[Path] = []
    for folder, _dirs, names in os.walk(root, onerror=lambda e: None):
        out += [Path(folder) / n for n in names]
    return out


def _files_to_scan(session: pytest.Session) -> list[Path]:
    cache = Path(os.environ.get("KUBECTL_GITOPS_CACHE", Path.home() / ".cache/kubectl-gitops"))
    cluster_dir = Path(os.environ.get("KUBECTL_GITOPS_CLUSTER_DIR", cache / "local-cluster"))
    # The cluster's logs and audit log, not etcd's data: the cluster stores the Secrets we apply, by design.
    roots = [cluster_dir / "logs", cache / "repos"]
    files = [cluster_dir / name for name in ("audit.log",) if (cluster_dir / name).is_file()]
    factory = getattr(session.config, "_tmp_path_factory", None)
    base = getattr(factory, "_basetemp", None)
    if base is not None:
        roots.append(Path(base))
    for root in roots:
        files += _walk_files(root)
    # what our tool left in the temp folder (its private folders are named kubectl-gitops-*: an editor
    # run's plaintext, an external diff's trees), written during this session
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    ours = [p for p in (tmp.glob("kubectl-gitops*") if tmp.is_dir() else [])]
    for p in [f for root in ours for f in ([root] if root.is_file() else _walk_files(root))]:
        try:
            if not p.is_symlink() and p.stat().st_mtime >= _session_start:
                files.append(p)
        except OSError:
            continue
    return files


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # xdist workers: the controller scans once at the end
    for path in _files_to_scan(session):
        try:
            if path.is_symlink() or path.stat().st_size > 20_000_000:
                continue
            _scan(path.read_bytes(), f"file {path}")
        except OSError:
            continue
    if _leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["A secret canary leaked (see tests/conftest.py):", *(f"  {x}" for x in _leaks[:30])]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        else:
            print("\n".join(lines))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
