"""A real OpenBao dev server for tests (hack/openbao.sh provides the `bao` binary): no mock of Vault."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubectl_gitops.secrets.vault import VaultKV

ROOT = Path(__file__).resolve().parents[1]


def bao_binary() -> str:
    proc = subprocess.run([str(ROOT / "hack" / "openbao.sh")], text=True, capture_output=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"hack/openbao.sh could not provide the bao binary:\n{proc.stderr}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Bao:
    addr: str
    token: str

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.addr}/v1/{path}", data=data, method=method,
                                     headers={"X-Vault-Token": token or self.token, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def put_v2(self, path: str, data: dict[str, Any]) -> int:
        mount, rest = path.split("/", 1)
        version: int = self.call("POST", f"{mount}/data/{rest}", {"data": data})["data"]["version"]
        return version

    def put_v1(self, path: str, data: dict[str, Any]) -> None:
        self.call("POST", path, data)

    def kv(self, token: str | None = None) -> VaultKV:
        return VaultKV(addr=self.addr, token=token or self.token, timeout=5)



@contextmanager
def bao_server() -> Iterator[Bao]:
    """A real `bao server -dev` on a free loopback port with a random root token and a private HOME
    (the dev server writes ~/.vault-token); stopped and removed on exit."""
    binary = bao_binary()
    token, port = secrets.token_hex(16), free_port()
    home = tempfile.mkdtemp(prefix="kubectl-gitops-bao-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = home
    log = open(Path(home) / "server.log", "wb")  # noqa: SIM115 (closed below, after the server)
    proc = subprocess.Popen([binary, "server", "-dev", f"-dev-root-token-id={token}",
                             f"-dev-listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home)
    server = Bao(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"bao server exited with {proc.returncode}:\n"
                            f"{(Path(home) / 'server.log').read_text(errors='replace')[-3000:]}", pytrace=False)
            try:
                urllib.request.urlopen(f"{server.addr}/v1/sys/health", timeout=2).close()
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail("bao server did not become healthy within 60s", pytrace=False)
                time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()
        shutil.rmtree(home, ignore_errors=True)  # the log names the root token; ~/.vault-token holds it
