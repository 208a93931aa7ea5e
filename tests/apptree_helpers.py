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
