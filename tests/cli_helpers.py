"""Running the plugin the way a user does, for e2e tests."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Settings a developer may have exported that would change what a test's command does.
_USER_SETTINGS = ("KUBECTL_GITOPS_APP", "KUBECTL_GITOPS_FAULT", "KUBECTL_EXTERNAL_DIFF")


def gitops(*args: str, cwd: Path, env: dict[str, str] | None = None,
           timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`kubectl gitops ...` through kubectl's plugin discovery: the checkout's bin/ on PATH, no terminal on
    stdin, no colour. ``env`` adds or overrides variables."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(_USER_SETTINGS)}
    full.update({"PATH": f"{ROOT / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1", **(env or {})})
    return subprocess.run(["kubectl", "gitops", *args], cwd=cwd, env=full, text=True, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False)


def on_terminal(args: list[str], *, cwd: Path, answer: str, prompt: bytes = b"[y/N]",
                timeout: float = 120, extra_env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `kubectl gitops <args>` on a pseudo-terminal, type ``answer`` at the prompt; (exit code, output).
    ``extra_env`` adds or overrides variables."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECTL_GITOPS_FAULT"}
    env["PATH"] = f"{ROOT / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra_env or {})
    pid, fd = pty.fork()
    if pid == 0:  # the child: a user at a terminal
        os.chdir(cwd)
        os.execvpe("kubectl", ["kubectl", "gitops", *args], env)
    out, answered, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if prompt in out and not answered:
            os.write(fd, answer.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")
