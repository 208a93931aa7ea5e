"""`sync --diff-changes` / `-c` against the local control plane (issue 17, item 4): the changes first (on
stderr, masked), then a question on a terminal; --yes applies without asking; no terminal and no --yes is
exit 6 with nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import on_terminal
from cluster_helpers import kubectl_json
from sync_helpers import SyncApp, configmap, exists, ok

pytestmark = pytest.mark.e2e


def value(name: str, namespace: str) -> str:
    return str(kubectl_json("get", "configmap", name, "-n", namespace)["data"]["value"])


def changed_app(tmp_path: Path, name: str, namespace: str) -> SyncApp:
    app = SyncApp(tmp_path, name, namespace)
    app.write("a.yaml", configmap("a", namespace)).write("b.yaml", configmap("b", namespace))
    app.commit("two")
    ok(app.sync())
    app.write("a.yaml", configmap("a", namespace, value="2"))
    app.remove("b.yaml")
    app.commit("change a, drop b")
    return app


def test_diff_changes_without_a_terminal_needs_yes(tmp_path: Path, namespace: str) -> None:
    app = changed_app(tmp_path, "dc", namespace)
    refused = app.sync("-c", "--prune")
    assert refused.returncode == 6, refused.stdout + refused.stderr
    assert "+  value: '2'" in refused.stderr and "-  value: '1'" in refused.stderr
    assert f"--- delete ConfigMap {namespace}/b" in refused.stderr
    assert "1 to update, 1 to prune" in refused.stderr
    assert "no terminal to ask" in refused.stderr
    assert value("a", namespace) == "1" and exists("configmap", "b", namespace)

    dry = ok(app.sync("--diff-changes", "--dry-run"))  # shown, not asked, nothing written
    assert "+  value: '2'" in dry.stderr and value("a", namespace) == "1"

    done = ok(app.sync("-c", "--prune", "--yes", "-o", "json"))
    assert "+  value: '2'" in done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith('{"type":"result"')  # stdout stays JSON lines
    assert value("a", namespace) == "2" and not exists("configmap", "b", namespace)

    quiet = ok(app.sync("-c"))  # nothing to change: nothing to ask
    assert "sync: no changes" in quiet.stderr


def on_a_terminal(app: SyncApp, answer: str, *args: str) -> tuple[int, str]:
    return on_terminal(["sync", "--app", app.name, "--record-namespace", app.namespace, *args], cwd=app.repo.path,
                       answer=answer, extra_env={"NO_COLOR": "1"})


def test_diff_changes_on_a_terminal_asks(tmp_path: Path, namespace: str) -> None:
    app = changed_app(tmp_path, "dctty", namespace)
    code, text = on_a_terminal(app, "n", "-c")
    assert code == 6, text
    assert "Apply these changes?" in text and value("a", namespace) == "1"
    code, text = on_a_terminal(app, "y", "-c")
    assert code == 0, text
    assert value("a", namespace) == "2"
    assert exists("configmap", "b", namespace), "no --prune: b stays"
