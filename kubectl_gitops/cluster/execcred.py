"""Exec credential plugins: run the kubeconfig's exec stanza as kubectl does and cache its credential.

Plugins follow client.authentication.k8s.io v1/v1beta1 as kubectl runs them:
``KUBERNETES_EXEC_INFO`` (with the cluster when ``provideClusterInfo``), the stanza's ``env`` and ``args``, stdin
only when interactive, the credential cached until ``expirationTimestamp`` and fetched again once after a 401.
Tokens and keys are registered with ``redact``. An exec plugin inherits our environment, as kubectl passes it
its own (the only read of ``os.environ`` in the transport).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kubectl_gitops import redact
from kubectl_gitops.cluster.kubeconfig import Endpoint
from kubectl_gitops.errors import ClusterError, InvalidInputError

EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")


@dataclass
class Credential:
    """What an exec plugin returned. Key material is kept out of ``repr``."""

    token: str | None = field(default=None, repr=False)
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    expires: float | None = None  # time.time()


class ExecCredentials:
    """Runs the kubeconfig's exec plugin; caches its credential until it expires."""

    def __init__(self, endpoint: Endpoint):
        assert endpoint.exec is not None
        self.spec = endpoint.exec
        self.cluster = endpoint.exec_cluster
        self.context = endpoint.context
        self._cred: Credential | None = None
        self._lock = threading.Lock()

    def get(self, *, refresh: bool = False) -> Credential:
        with self._lock:
            cred = self._cred
            if cred is None or refresh or (cred.expires is not None and time.time() >= cred.expires - 10):
                cred = self._cred = self._run()
            return cred

    def _run(self) -> Credential:
        spec = self.spec
        api_version = str(spec.get("apiVersion") or "")
        command = str(spec.get("command") or "")
        where = f"the exec plugin of context {self.context!r}"
        if api_version not in EXEC_API_VERSIONS:
            raise InvalidInputError(f"{where} has apiVersion {api_version!r}",
                                    hint="use " + " or ".join(EXEC_API_VERSIONS) + " in users[].user.exec")
        if not command:
            raise InvalidInputError(f"{where} has no command", hint="set users[].user.exec.command")
        args, env_items = spec.get("args") or [], spec.get("env") or []
        if not isinstance(args, list) or not isinstance(env_items, list):
            raise InvalidInputError(f"{where}: args and env must be lists",
                                    hint="fix users[].user.exec in the kubeconfig")
        mode = str(spec.get("interactiveMode") or ("IfAvailable" if api_version.endswith("v1beta1") else ""))
        if mode not in ("Never", "IfAvailable", "Always"):
            raise InvalidInputError(f"{where} has interactiveMode {mode!r}",
                                    hint="use Never, IfAvailable or Always")
        tty = sys.stdin is not None and sys.stdin.isatty()
        if mode == "Always" and not tty:
            raise InvalidInputError(f"{where} needs a terminal (interactiveMode: Always) and stdin is not one",
                                    hint="run from a terminal, or change the plugin's interactiveMode")
        interactive = tty and mode != "Never"
        info: dict[str, Any] = {"apiVersion": api_version, "kind": "ExecCredential",
                                "spec": {"interactive": interactive}}
        if spec.get("provideClusterInfo") and self.cluster:
            info["spec"]["cluster"] = self.cluster
        env = dict(os.environ)
        for item in env_items:
            if isinstance(item, dict) and item.get("name"):
                env[str(item["name"])] = str(item.get("value") or "")
        env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
        argv = [command, *(str(a) for a in args)]
        try:
            proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE,
                                  stdin=None if interactive else subprocess.DEVNULL,
                                  stderr=None if interactive else subprocess.PIPE, check=False)
        except FileNotFoundError as e:
            hint = str(spec.get("installHint") or "").strip() or f"install {command} or fix the kubeconfig"
            raise InvalidInputError(f"{where}: {command} not found", hint=hint) from e
        except OSError as e:
            raise InvalidInputError(f"{where}: cannot run {command}: {e.strerror}",
                                    hint="check the plugin's command in the kubeconfig") from e
        if proc.returncode != 0:
            err = (proc.stderr or b"").decode(errors="replace").strip().splitlines()[-3:]
            raise ClusterError(f"{where} ({command}) failed with exit code {proc.returncode}"
                               + (": " + redact.redact(" | ".join(err)) if err else ""),
                               hint="run the plugin by hand to see why (e.g. log in again)")
        return self._parse(proc.stdout, api_version, where)

    @staticmethod
    def _parse(out: bytes, api_version: str, where: str) -> Credential:
        try:
            doc = json.loads(out)
        except ValueError as err:
            raise ClusterError(f"{where} printed something that is not an ExecCredential (not JSON)",
                               hint="run the plugin by hand and check its output") from err
        if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential" or doc.get("apiVersion") != api_version:
            raise ClusterError(f"{where} printed no ExecCredential of {api_version}",
                               hint="the plugin's output must match the apiVersion in the kubeconfig")
        status = doc.get("status") or {}
        cred = Credential(token=status.get("token") or None)
        if status.get("clientCertificateData") or status.get("clientKeyData"):
            if not (status.get("clientCertificateData") and status.get("clientKeyData")):
                raise ClusterError(f"{where} returned a client certificate without its key (or a key alone)",
                                   hint="the plugin must return clientCertificateData and clientKeyData together")
            cred.cert_pem = str(status["clientCertificateData"]).encode()
            cred.key_pem = str(status["clientKeyData"]).encode()
        if not cred.token and not cred.cert_pem:
            raise ClusterError(f"{where} returned neither a token nor a client certificate",
                               hint="run the plugin by hand and check its output")
        if cred.token:
            redact.register(cred.token)
        if cred.key_pem:
            redact.register(cred.key_pem)
        stamp = status.get("expirationTimestamp")
        if stamp:
            try:
                cred.expires = _dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
            except ValueError as err:
                raise ClusterError(f"{where} returned expirationTimestamp {stamp!r}, which is not RFC 3339",
                                   hint="fix the plugin's output") from err
        return cred
