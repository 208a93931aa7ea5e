"""Helpers for e2e tests against the local control plane (hack/local-cluster).

    mark = audit_mark()
    kubectl("create", "configmap", "x", "-n", ns)
    [w] = writes_since(mark, user_agent_prefix="kubectl/")
    assert (w.verb, w.resource, w.name, w.dry_run) == ("create", "configmaps", "x", False)

The apiserver logs every write call (create, update, patch, delete, deletecollection) at Metadata level to
an audit log. A mark is a position in that log; `writes_since` returns the write calls logged after it.
Both first make a sentinel request and wait until it shows up in the log, so every request that finished
before the call is in the log too (the apiserver writes an event just after sending the response).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
LOCAL_CLUSTER = ROOT / "hack" / "local-cluster"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
OWNER = "pytest"

T = TypeVar("T")


def cluster_dir() -> Path:
    default = Path.home() / ".cache" / "kubectl-gitops" / "local-cluster"
    return Path(os.environ.get("KUBECTL_GITOPS_CLUSTER_DIR") or default).expanduser().absolute()


def cluster_state() -> dict[str, Any]:
    """The running cluster's state.json (server, kubeconfig, audit_log, pids, ...)."""
    path = cluster_dir() / "state.json"
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise RuntimeError(f"the local cluster is not up (no {path}); run hack/local-cluster up") from None
    return state


@dataclass(frozen=True)
class Cluster:
    """What the `cluster` fixture yields."""

    kubeconfig: str
    server: str
    context: str
    state_dir: Path
    audit_log: Path


def _script(cmd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A cold `up` builds Kubernetes first (tens of minutes), hence the generous timeout.
    return subprocess.run([str(LOCAL_CLUSTER), cmd], text=True, capture_output=True, env=env, timeout=3600)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def cluster_session() -> Iterator[Cluster]:
    """Bring the cluster up (or reuse the running one) for the length of a test session.

    Sessions that share a state dir (pytest-xdist workers, two terminals) register in <state>/test-users/;
    the last one out stops the cluster, and only if a test session started it: a cluster you started by
    hand stays up. KUBECTL_GITOPS_KEEP_CLUSTER=1 keeps it up regardless (fast reruns).
    """
    import fcntl

    root = cluster_dir()
    users = root / "test-users"
    users.mkdir(parents=True, exist_ok=True)
    me = users / str(os.getpid())
    with open(root / ".test-users.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        me.touch()
        proc = _script("up", env={**os.environ, "KUBECTL_GITOPS_CLUSTER_OWNER": OWNER})
        if proc.returncode != 0:
            me.unlink(missing_ok=True)
            raise RuntimeError(f"hack/local-cluster up failed (exit {proc.returncode}):\n{proc.stderr}")
        fcntl.flock(lock, fcntl.LOCK_UN)
    state = cluster_state()
    try:
        yield Cluster(kubeconfig=state["kubeconfig"], server=state["server"], context=state["context"],
                      state_dir=root, audit_log=Path(state["audit_log"]))
    finally:
        with open(root / ".test-users.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            me.unlink(missing_ok=True)
            others = [u for u in users.iterdir() if u.name.isdigit() and _pid_alive(int(u.name))]
            owner = _owner()
            if not others and owner == OWNER and os.environ.get("KUBECTL_GITOPS_KEEP_CLUSTER") != "1":
                proc = _script("down")
                if proc.returncode != 0:
                    raise RuntimeError(f"hack/local-cluster down failed:\n{proc.stderr}")


def _owner() -> str | None:
    with contextlib.suppress(RuntimeError):
        return str(cluster_state().get("owner"))
    return None


# ---------------------------------------------------------------------------------------------- kubectl

def kubectl(*args: str, input: str | None = None, check: bool = True, timeout: float = 60,
            kubeconfig: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real kubectl against the test cluster; with check, a failure is an assertion naming the command."""
    binary = os.environ.get("KUBECTL_GITOPS_KUBECTL", "kubectl")
    # Always the test cluster's kubeconfig, never whatever KUBECONFIG the developer's shell points at.
    env = {**os.environ, "KUBECONFIG": kubeconfig or cluster_state()["kubeconfig"]}
    proc = subprocess.run([binary, *args], input=input, text=True, capture_output=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def kubectl_json(*args: str, **kw: Any) -> Any:
    """`kubectl <args> -o json`, parsed."""
    return json.loads(kubectl(*args, "-o", "json", **kw).stdout)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60, interval: float = 0.25) -> T:
    """Poll probe until it returns something truthy (and return it); fail naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------- audit log

@dataclass(frozen=True)
class AuditMark:
    """A position in the audit log (opaque; make one with audit_mark())."""

    offset: int


@dataclass(frozen=True)
class WriteCall:
    """One write request, as the apiserver's audit log saw it."""

    verb: str  # create, update, patch, delete, deletecollection
    resource: str  # plural: "configmaps", "deployments"
    namespace: str  # "" for cluster-scoped objects
    name: str  # "" when the URL has none (a create names the object in its body; see below)
    dry_run: bool  # ?dryRun=All: the server validated it and changed nothing
    api_group: str = ""
    subresource: str = ""
    user_agent: str = ""
    user: str = ""
    code: int = 0  # HTTP status of the response
    request_uri: str = ""


_DRY_RUN = re.compile(r"[?&]dryRun=All(&|$)")


def _write_call(event: dict[str, Any]) -> WriteCall:
    ref = event.get("objectRef") or {}
    uri = event.get("requestURI", "")
    return WriteCall(
        verb=event.get("verb", ""),
        resource=ref.get("resource", ""),
        namespace=ref.get("namespace", ""),
        # For create the apiserver fills objectRef.name from the body (it is blank for generateName).
        name=ref.get("name", ""),
        dry_run=bool(_DRY_RUN.search(uri)),
        api_group=ref.get("apiGroup", ""),
        subresource=ref.get("subresource", ""),
        user_agent=event.get("userAgent", ""),
        user=(event.get("user") or {}).get("username", ""),
        code=int((event.get("responseStatus") or {}).get("code") or 0),
        request_uri=uri,
    )


def _sentinel() -> str:
    """Make an audited request with a unique marker, and return the marker."""
    state = cluster_state()
    marker = uuid.uuid4().hex
    ctx = ssl.create_default_context(cafile=state["ca"])
    ctx.load_cert_chain(state["client_cert"], state["client_key"])
    url = f"{state['server']}/api/v1/namespaces/{state['audit_sentinel']}?audit-mark={marker}"
    req = urllib.request.Request(url, headers={"User-Agent": "kubectl-gitops-tests-audit-mark"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10):
            pass
    except urllib.error.HTTPError as e:  # 404: the sentinel namespace does not exist; the GET is logged anyway
        if e.code != 404:
            raise
    return marker


def _read_until(marker: str, start: int, timeout: float = 10) -> tuple[list[bytes], int]:
    """Lines of the audit log from byte `start` up to the one holding marker; and the offset after that line."""
    path = Path(cluster_state()["audit_log"])
    needle = f"audit-mark={marker}".encode()
    deadline = time.monotonic() + timeout
    while True:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read()
        lines = data.split(b"\n")
        pos = start
        for i, line in enumerate(lines[:-1]):  # the last piece is unterminated (or empty)
            pos += len(line) + 1
            if needle in line:
                return lines[:i], pos
        if time.monotonic() > deadline:
            raise AssertionError(f"the audit log {path} did not record the sentinel request within {timeout}s")
        time.sleep(0.02)


def audit_mark() -> AuditMark:
    """Now, as a position in the audit log: every request that already finished is before it."""
    start = Path(cluster_state()["audit_log"]).stat().st_size  # the sentinel's line can only come later
    _, offset = _read_until(_sentinel(), start)
    return AuditMark(offset)


def audit_events_since(mark: AuditMark) -> list[dict[str, Any]]:
    """Every audit event (dicts, as logged) after mark, up to now."""
    lines, _ = _read_until(_sentinel(), mark.offset)
    return [json.loads(line) for line in lines if line.strip()]


def writes_since(mark: AuditMark, user_agent_prefix: str | None = "kubectl-gitops", *,
                 leases: bool = False) -> list[WriteCall]:
    """The write calls made after mark, oldest first, by clients whose User-Agent starts with the prefix.

    Our client sends `kubectl-gitops/<version> ...`; kubectl sends `kubectl/<version> ...`; None means any
    client, controllers and kwok included. Writes of Leases (every sync and prune takes and releases its app's
    Lease, controllers renew theirs) are left out unless ``leases``.
    """
    calls = [_write_call(e) for e in audit_events_since(mark) if e.get("verb") in WRITE_VERBS]
    if not leases:
        calls = [c for c in calls if c.resource != "leases"]
    if user_agent_prefix is not None:
        calls = [c for c in calls if c.user_agent.startswith(user_agent_prefix)]
    return calls
