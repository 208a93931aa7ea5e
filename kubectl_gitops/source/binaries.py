"""Find and run the renderer binaries (helm, kustomize or kubectl): which one, with what timeout, what error text."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from kubectl_gitops.errors import RenderError
from kubectl_gitops.settings import HELM_ENV, KUSTOMIZE_ENV, RENDER_TIMEOUT_ENV, environment


def _timeout() -> float:
    return environment().render_timeout


def _from_env(var: str, what: str) -> str | None:
    value = {HELM_ENV: environment().helm, KUSTOMIZE_ENV: environment().kustomize}[var]
    if not value:
        return None
    found = shutil.which(value)
    if not found:
        raise RenderError(f"{var}={value} does not name an executable {what} binary",
                          hint=f"point {var} at the {what} binary, or unset it to use the one on PATH")
    return found


def helm_binary(rel_dir: str = ".") -> str:
    """The helm to run: ``$KUBECTL_GITOPS_HELM``, else ``helm`` on PATH; RenderError naming both otherwise."""
    found = _from_env(HELM_ENV, "helm") or shutil.which("helm")
    if not found:
        raise RenderError(f"{rel_dir}: rendering this Helm chart needs the 'helm' binary, which is not on PATH",
                          hint="install Helm 3 (https://helm.sh/docs/intro/install/) or set "
                               f"{HELM_ENV}=/path/to/helm")
    return found


def kustomize_command(rel_dir: str = ".") -> list[str]:
    """``[kustomize, build]`` or ``[kubectl, kustomize]``: ``$KUBECTL_GITOPS_KUSTOMIZE``, ``kustomize``, kubectl."""
    env = _from_env(KUSTOMIZE_ENV, "kustomize")
    if env:
        return [env, "kustomize"] if Path(env).name.startswith("kubectl") else [env, "build"]
    found = shutil.which("kustomize")
    if found:
        return [found, "build"]
    kubectl = environment().kubectl or shutil.which("kubectl")  # KUBECTL_PATH: set by kubectl for plugins
    if kubectl and shutil.which(kubectl):
        return [kubectl, "kustomize"]
    raise RenderError(f"{rel_dir}: building this kustomization needs 'kustomize' or 'kubectl', neither is on PATH",
                      hint=f"install kubectl (https://kubernetes.io/docs/tasks/tools/) or kustomize, or set "
                           f"{KUSTOMIZE_ENV}=/path/to/kustomize")


# kubectl's log prefix: `E1121 05:19:08.292223    1733 run.go:72] "command failed" err="..."`
_KLOG = re.compile(r'^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.-]+:\d+\] (?:"command failed" err=)?(.*)$')


def _unklog(line: str) -> str:
    """The message of a klog line (``kubectl kustomize`` errors), without the timestamp, pid and quoting."""
    m = _KLOG.match(line.strip())
    if not m:
        return line
    msg = m.group(1)
    if len(msg) >= 2 and msg[0] == msg[-1] == '"':
        try:
            msg = json.loads(msg)
        except ValueError:
            msg = msg[1:-1]
    return str(msg)


def run_renderer(cmd: list[str], *, root: Path) -> tuple[bool, str]:
    """(ok, stdout or a one-paragraph error) of a renderer run; temp paths are shown relative to the repo."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_timeout(), check=False,
                              stdin=subprocess.DEVNULL, cwd=root)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {_timeout():.0f}s (raise {RENDER_TIMEOUT_ENV})"
    except OSError as e:
        raise RenderError(f"cannot run {cmd[0]}: {e.strerror}", hint="check that the binary exists and is executable",
                          ) from e
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip()
        err = err.replace(str(root) + os.sep, "").replace(str(root), ".")
        lines = [_unklog(ln) for ln in err.splitlines() if ln.strip()]
        return False, " | ".join(lines[-6:]) or f"exit code {proc.returncode}"
    return True, proc.stdout
