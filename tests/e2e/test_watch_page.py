"""The watch loop's status page (issue 15, item 6), loaded in a real headless Chromium (Debian's package).

The page must show the app with its commit, sync status, health, last sync, drift and last failure, draw its waves
(SVG with graphviz, else the waves table), refresh itself, offer no script or form, and never show a secret value
(the repository holds a Secret with a canary value). A screenshot is kept as a test artefact in
``$KUBECTL_GITOPS_TEST_ARTIFACTS`` (default ``.test-artifacts/`` in the checkout, ignored by git).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import ROOT
from sync_helpers import SyncApp, argo, configmap, deployment
from watch_helpers import WatchProc

pytestmark = pytest.mark.e2e

CANARY = "CANARY-status-page-4711"


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browse(binary: str, url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           f"--user-data-dir={profile}", "--no-first-run", *extra, url],
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_status_page_shows_the_app_in_a_real_browser(tmp_path: Path, namespace: str) -> None:
    binary = chromium()
    if binary is None:
        pytest.skip("Debian's chromium is not installed (hack/test installs it when it can: apt-get, root)")
    ns = namespace
    app = SyncApp(tmp_path, "paged", ns)
    app.write("config.yaml", configmap("settings", ns, argo(wave=0), value="1"))
    app.write("web.yaml", deployment("web", ns, argo(wave=1), replicas=1))
    app.write("secret.yaml", f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: {ns}\n"
                             f"stringData:\n  password: {CANARY}\n")
    commit = app.commit()
    w = WatchProc.start(app, "--interval", "1s", "--drift-interval", "2s", "--metrics-addr", "127.0.0.1:0")
    try:
        address = w.wait_event(lambda e: e.get("type") == "watch.metrics", timeout=30, what="the endpoint")["address"]
        w.wait_event(lambda e: e.get("type") == "watch.synced", timeout=90, what="the first sync")
        url = f"http://{address}/"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.headers["Content-Type"] == "text/html; charset=utf-8"
            raw = r.read().decode()
        assert '<meta http-equiv="refresh"' in raw and "<script" not in raw and "<form" not in raw
        dom = browse(binary, url, tmp_path / "profile", "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        page = dom.stdout
        assert 'id="app-paged"' in page and commit[:12] in page
        assert '<td class="Synced">Synced</td>' in page and "<td>Healthy</td>" in page
        assert "0 object(s)" in page  # drift
        assert ("waves-svg" in page and "<svg" in page) if shutil.which("dot") else "waves-text" in page
        assert "ConfigMap" in page and "Deployment" in page and "Secret" in page
        assert CANARY not in page and CANARY not in raw
        artefacts = Path(os.environ.get("KUBECTL_GITOPS_TEST_ARTIFACTS") or ROOT / ".test-artifacts")
        artefacts.mkdir(parents=True, exist_ok=True)
        shot = artefacts / "status-page.png"
        shot.unlink(missing_ok=True)
        taken = browse(binary, url, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,900",
                       "--hide-scrollbars")
        assert taken.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", taken.stderr[-2000:]
        assert shot.stat().st_size > 5000  # a page was drawn, not an empty canvas
        assert w.stop() == 0, w.dump()
    finally:
        w.kill()
