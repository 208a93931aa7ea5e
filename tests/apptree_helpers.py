"""Helpers for the tree-of-apps tests: small Helm charts served by a chart repository on 127.0.0.1 (``helm
package`` + ``helm repo index`` + a loopback HTTP server), Argo CD Application and Flux object builders.

Sources are named by made-up URLs (``https://git.example.test/...``, ``https://charts.example.test``) that the
tests map to the local repositories and the local chart server with ``--repo-mirror``, as an air-gapped cluster
would map its mirrors.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from http_helpers import LoopbackHTTPServer, serving

GIT_BASE = "https://git.example.test/org"
CHARTS_URL = "https://charts.example.test/stable"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_chart(root: Path, name: str, version: str, templates: dict[str, str], *, crds: dict[str, str] | None = None,
               values: dict[str, Any] | None = None) -> Path:
    chart = root / "src" / name
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version}))
    (chart / "values.yaml").write_text(yaml.safe_dump(values or {}))
    for file, text in templates.items():
        (chart / "templates" / file).write_text(text)
    for file, text in (crds or {}).items():
        (chart / "crds").mkdir(exist_ok=True)
        (chart / "crds" / file).write_text(text)
    return chart


@contextlib.contextmanager
def chart_repository(root: Path, helm: str, charts: list[Path]) -> Iterator[str]:
    """Package ``charts`` into ``root/repo``, index it, serve it on 127.0.0.1; yields the repository URL."""
    repo = root / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    for chart in charts:
        subprocess.run([helm, "package", str(chart), "-d", str(repo)], check=True, capture_output=True)
    with serving(LoopbackHTTPServer(functools.partial(_Quiet, directory=str(repo)))) as server:  # type: ignore[arg-type]
        subprocess.run([helm, "repo", "index", str(repo), "--url", server.url], check=True, capture_output=True)
        yield server.url


def deployment_template(image: str = "{{ .Values.image }}", *, node_selector: dict[str, str] | None = None) -> str:
    selector = ""
    if node_selector:
        selector = "      nodeSelector:\n" + "".join(f"        {k}: \"{v}\"\n" for k, v in node_selector.items())
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ .Release.Name }}}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {{{{ .Release.Name }}}}}}
  template:
    metadata:
      labels: {{app: {{{{ .Release.Name }}}}}}
    spec:
{selector}      containers:
      - name: main
        image: {image}
"""


def application(name: str, *, wave: int | None = None, source: dict[str, Any] | None = None,
                sources: list[dict[str, Any]] | None = None, namespace: str, record_namespace: str = "argocd",
                sync_policy: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> str:
    meta: dict[str, Any] = {"name": name, "namespace": record_namespace}
    if wave is not None:
        meta["annotations"] = {"argocd.argoproj.io/sync-wave": str(wave)}
    spec: dict[str, Any] = {"project": "default",
                            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace}}
    if source is not None:
        spec["source"] = source
    if sources is not None:
        spec["sources"] = sources
    if sync_policy is not None:
        spec["syncPolicy"] = sync_policy
    spec.update(extra or {})
    return yaml.safe_dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta,
                           "spec": spec}, sort_keys=False)


def crd(group: str, kind: str, plural: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}})


class _Registry(http.server.BaseHTTPRequestHandler):
    """The parts of the OCI distribution API that `helm push` and `helm pull` use, in memory."""

    blobs: dict[str, bytes]
    manifests: dict[tuple[str, str], tuple[bytes, str]]
    uploads: dict[str, bytes]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _route(self) -> None:
        import hashlib
        import re
        import urllib.parse
        import uuid

        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        path = url.path
        if path in ("/v2", "/v2/"):
            return self._send(200, b"{}", {"Content-Type": "application/json"})
        m = re.fullmatch(r"/v2/(.+)/blobs/uploads/([^/]*)", path)
        if m:
            name, upload = m.groups()
            if self.command == "POST":
                upload = uuid.uuid4().hex
                self.uploads[upload] = b""
                return self._send(202, headers={"Location": f"/v2/{name}/blobs/uploads/{upload}",
                                                "Range": "0-0", "Docker-Upload-UUID": upload})
            data = self.uploads.get(upload, b"") + self._body()
            if self.command == "PATCH":
                self.uploads[upload] = data
                return self._send(202, headers={"Location": f"/v2/{name}/blobs/uploads/{upload}",
                                                "Range": f"0-{max(len(data) - 1, 0)}"})
            digest = query["digest"][0]
            assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
            self.blobs[digest] = data
            return self._send(201, headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest})
        m = re.fullmatch(r"/v2/(.+)/blobs/(sha256:[0-9a-f]+)", path)
        if m:
            data = self.blobs.get(m.group(2))
            if data is None:
                return self._send(404)
            return self._send(200, data, {"Docker-Content-Digest": m.group(2),
                                          "Content-Type": "application/octet-stream"})
        m = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path)
        if m:
            name, ref = m.groups()
            if self.command == "PUT":
                data = self._body()
                digest = "sha256:" + hashlib.sha256(data).hexdigest()
                kind = self.headers.get("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.manifests[(name, ref)] = self.manifests[(name, digest)] = (data, kind)
                return self._send(201, headers={"Docker-Content-Digest": digest,
                                                "Location": f"/v2/{name}/manifests/{digest}"})
            found = self.manifests.get((name, ref))
            if found is None:
                return self._send(404)
            data, kind = found
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            return self._send(200, data, {"Content-Type": kind, "Docker-Content-Digest": digest})
        m = re.fullmatch(r"/v2/(.+)/tags/list", path)
        if m:
            tags = sorted({ref for (name, ref) in self.manifests if name == m.group(1)
                           and not ref.startswith("sha256:")})
            import json as _json
            return self._send(200, _json.dumps({"name": m.group(1), "tags": tags}).encode(),
                              {"Content-Type": "application/json"})
        return self._send(404)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _route


@contextlib.contextmanager
def oci_registry(helm: str, charts: list[Path], tmp: Path, path: str = "charts") -> Iterator[str]:
    """An OCI registry on 127.0.0.1 (plain HTTP) holding ``charts`` pushed with ``helm push``; yields
    ``127.0.0.1:PORT/<path>``."""
    handler = type("Registry", (_Registry,), {"blobs": {}, "manifests": {}, "uploads": {}})
    with serving(LoopbackHTTPServer(handler)) as server:
        where = f"127.0.0.1:{server.server_address[1]}/{path}"
        out = tmp / "oci-packages"
        out.mkdir(exist_ok=True)
        for chart in charts:
            pkg = subprocess.run([helm, "package", str(chart), "-d", str(out)], check=True, capture_output=True,
                                 text=True).stdout.strip().rsplit(" ", 1)[-1]
            subprocess.run([helm, "push", pkg, f"oci://{where}", "--plain-http"], check=True, capture_output=True,
                           env={**__import__("os").environ, "HELM_REGISTRY_CONFIG": str(tmp / "registry.json")})
        yield where
