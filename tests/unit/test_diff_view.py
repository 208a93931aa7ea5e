"""The diff views: unified text, summary rows, the JSON change list, the PR comment, external-diff trees.
And the one rule over all of them: a secret value never appears in anything rendered."""

from __future__ import annotations

import base64
import copy
import json
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_gitops.cli import diff_view as view
from kubectl_gitops.engine.diff import Change, Drift, classify, deletion
from kubectl_gitops.model import ANN_COMPARE_OPTIONS, Manifest, Origin, ResourceKey

DATA = Path(__file__).parent / "testdata" / "diff"
NOW = datetime(2024, 5, 2, 10, 0, tzinfo=timezone.utc)
CANARIES = ("CANARY-d1ff-5ecret", "CANARY-0ld-5ecret")
ANSI = "\x1b["


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((DATA / f"{name}.yaml").read_text())


def leaked(text: str) -> list[str]:
    forms = [*CANARIES, *(base64.b64encode(c.encode()).decode() for c in CANARIES)]
    return [f for f in forms if f in text]


def drifted_update() -> Change:
    live = load("deployment-live-drifted")
    merged = copy.deepcopy(live)
    merged["spec"]["replicas"] = 3
    merged["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.25"
    return classify(Manifest(load("deployment-desired"), Origin("apps/web.yaml", 12)), live, merged)


def configmap_create() -> Change:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "demo"},
          "data": {"nginx.conf": "worker_processes 1;\nevents {}\n"}}
    return classify(Manifest(cm, Origin("apps/cfg.yaml", 1)), None, None)


def secret_update() -> Change:
    live = load("secret-live")
    merged = copy.deepcopy(live)
    merged["data"]["password"] = base64.b64encode(CANARIES[0].encode()).decode()
    return classify(Manifest(load("secret-desired"), Origin("apps/secret.enc.yaml", 2)), live, merged)


def secret_create() -> Change:
    return classify(Manifest(load("secret-desired"), Origin("apps/secret.enc.yaml", 2)), None, None)


def secret_delete(ignored: bool = False) -> Change:
    live = load("secret-live")
    if ignored:
        live["metadata"]["annotations"][ANN_COMPARE_OPTIONS] = "IgnoreExtraneous"
    return deletion(ResourceKey.of(live), live)


def unchanged() -> Change:
    live = load("service-live")
    return classify(Manifest(load("service-desired"), Origin("apps/svc.yaml", 1)), live, live)


def crd_change() -> Change:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": "demo"},
           "spec": {"size": 2}}
    return classify(Manifest(obj, Origin("apps/widget.yaml", 4)), None, None)


# --- unified ----------------------------------------------------------------------------------------

def test_unified_has_kubectl_headers_changed_lines_and_drift() -> None:
    text = view.unified(drifted_update(), color=False, now=NOW)
    lines = text.splitlines()
    assert lines[:3] == ["diff -u -N live/apps.v1.Deployment.demo.web merged/apps.v1.Deployment.demo.web",
                         "--- live/apps.v1.Deployment.demo.web",
                         "+++ merged/apps.v1.Deployment.demo.web"]
    assert "-  replicas: 5" in lines and "+  replicas: 3" in lines
    assert "-        image: nginx:1.26-debug" in lines and "+        image: nginx:1.25" in lines
    assert lines[-2:] == ["# spec.replicas: changed by kubectl-edit (Update) 2h ago",
                          "# spec.template.spec.containers[name=web].image: changed by kubectl-set (Update) 30m ago"]
    assert ANSI not in text
    assert not any(line.startswith(("-", "+")) and "managedFields" in line for line in lines)
    assert not any("status" in line for line in lines)


@pytest.mark.parametrize("context, hunks", [(3, 2), (30, 1)])
def test_unified_context_lines(context: int, hunks: int) -> None:
    text = view.unified(drifted_update(), color=False, context=context, now=NOW)
    assert sum(line.startswith("@@") for line in text.splitlines()) == hunks


def test_unified_colours_only_when_asked() -> None:
    text = view.unified(drifted_update(), color=True, now=NOW)
    assert "\x1b[31m-  replicas: 5\x1b[0m" in text
    assert "\x1b[32m+  replicas: 3\x1b[0m" in text
    assert "\x1b[33m# spec.replicas" in text
    assert " spec:" in text.splitlines()  # context lines stay plain


def test_unified_create_is_all_additions_in_a_stable_key_order() -> None:
    lines = view.unified(configmap_create(), color=False).splitlines()
    assert lines[3].startswith("@@ -0,0 +1,")
    body = [line[1:] for line in lines[4:]]
    assert all(line.startswith("+") for line in lines[4:])
    assert body[:3] == ["apiVersion: v1", "kind: ConfigMap", "metadata:"]
    assert body.index("metadata:") < body.index("data:")
    assert "  nginx.conf: |" in body and "    events {}" in body  # multi-line strings as blocks


def test_unified_key_order_is_apiversion_kind_metadata_spec_then_the_rest() -> None:
    obj = {"status": {}, "data": {"a": "b"}, "spec": {"z": 1, "a": 2}, "metadata": {"name": "x"}, "kind": "K",
           "apiVersion": "example.com/v1"}
    text = view.to_yaml(obj)
    assert [line for line in text.splitlines() if not line.startswith(" ")] == [
        "apiVersion: example.com/v1", "kind: K", "metadata:", "spec:", "status: {}", "data:"]
    assert text.index("z: 1") < text.index("a: 2")  # inside: as the server returned it


def test_unified_delete_names_the_cluster_scoped_file_like_kubectl() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}}
    text = view.unified(deletion(ResourceKey.of(ns), ns), color=False)
    assert text.splitlines()[0] == "diff -u -N live/v1.Namespace..old merged/v1.Namespace..old"
    assert "-kind: Namespace" in text.splitlines()


def test_unified_shows_nothing_for_an_unchanged_object() -> None:
    assert view.unified(unchanged(), color=True) == ""


def test_unified_notes_and_ignore_extraneous() -> None:
    ch = secret_delete(ignored=True)
    ch.note = "kept by Prune=false"
    lines = view.unified(ch, color=False).splitlines()
    assert lines[-2:] == ["# not counted as a difference: compare-options IgnoreExtraneous",
                          "# note: kept by Prune=false"]
    assert view.unified(ch, color=False, annotate=False).splitlines()[-1].startswith("-")


@pytest.mark.parametrize("time, age", [
    ("2024-05-02T09:59:15Z", "45s"),
    ("2024-05-02T09:58:01Z", "119s"),
    ("2024-05-02T09:30:00Z", "30m"),
    ("2024-05-02T08:00:00Z", "2h"),
    ("2024-05-01T10:00:00+00:00", "24h"),
    ("2024-04-28T10:00:00Z", "4d"),
    ("2021-05-02T10:00:00Z", "3y"),
    ("2024-05-02T11:00:00Z", "0s"),  # clock skew: never negative
    ("yesterday", ""),
    (None, ""),
])
def test_humanized_ages(time: str | None, age: str) -> None:
    assert view.humanize_age(time, NOW) == age


def test_drift_without_a_time_has_no_age() -> None:
    assert view.describe_drift(Drift("spec.replicas", "helm", "Update", None)) == \
        "spec.replicas: changed by helm (Update)"


# --- summary ----------------------------------------------------------------------------------------

def test_summary_rows() -> None:
    rows = view.summary_rows([drifted_update(), configmap_create(), secret_delete(), secret_delete(ignored=True),
                              crd_change()], now=NOW)
    assert rows == [
        ("update", "Deployment", "demo/web", "apps/web.yaml:12", "spec.replicas (kubectl-edit, 2h ago), +1 more"),
        ("create", "ConfigMap", "demo/cfg", "apps/cfg.yaml:1", ""),
        ("delete", "Secret", "demo/db", "-", ""),
        ("delete (ignored)", "Secret", "demo/db", "-", ""),
        ("create", "Widget.example.com", "demo/w1", "apps/widget.yaml:4", ""),
    ]
    assert len(view.SUMMARY_HEADERS) == len(rows[0])


# --- json -------------------------------------------------------------------------------------------

def test_json_change_list_is_the_documented_schema() -> None:
    changes = [drifted_update(), configmap_create(), unchanged(), secret_delete(), secret_delete(ignored=True)]
    doc = view.to_json(changes, "3f1c2a9", True, "main")
    assert json.loads(json.dumps(doc)) == doc  # plain JSON
    assert doc["schemaVersion"] == 1
    assert doc["source"] == {"commit": "3f1c2a9", "dirty": True, "ref": "main"}
    assert doc["counts"] == {"create": 1, "update": 1, "delete": 1, "unchanged": 1, "ignored": 1}
    first = doc["changes"][0]
    assert set(first) == {"op", "group", "version", "kind", "namespace", "name", "source", "drift",
                          "ignoredExtraneous", "note", "diff"}
    assert (first["op"], first["group"], first["version"], first["kind"]) == ("update", "apps", "v1", "Deployment")
    assert first["source"] == "apps/web.yaml:12"
    assert first["drift"][0] == {"path": "spec.replicas", "manager": "kubectl-edit", "operation": "Update",
                                 "time": "2024-05-02T08:00:00Z"}
    assert "+  replicas: 3" in first["diff"] and ANSI not in first["diff"] and "# spec.replicas" not in first["diff"]
    assert doc["changes"][2]["op"] == "unchanged" and doc["changes"][2]["diff"] == ""
    assert doc["changes"][4]["ignoredExtraneous"] is True


def test_json_schema_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "diff-json.md").read_text()
    sample = view.to_json([drifted_update()], "abc", False)
    for key in [*sample, *sample["source"], *sample["counts"], *sample["changes"][0],
                *sample["changes"][0]["drift"][0]]:
        assert f"`{key}`" in doc, key


# --- markdown ---------------------------------------------------------------------------------------

def test_markdown_has_a_table_and_a_collapsed_diff_per_changed_object() -> None:
    text = view.markdown([drifted_update(), unchanged(), configmap_create()], "3f1c2a9d0b7e4c5a8f6d", now=NOW)
    assert text.startswith("### kubectl gitops diff at `3f1c2a9d0b7e`")
    assert "1 to create, 1 to update, 1 unchanged" in text
    assert "| update | Deployment | demo/web | apps/web.yaml:12 | spec.replicas (kubectl-edit, 2h ago), +1 more |" \
        in text
    assert text.count("<details>") == 2 and text.count("</details>") == 2
    assert "<summary>update Deployment demo/web</summary>" in text
    assert "```diff\ndiff -u -N live/apps.v1.Deployment.demo.web" in text
    assert "Service" not in text  # unchanged objects are counted, not shown
    assert ANSI not in text


def test_markdown_without_differences() -> None:
    text = view.markdown([unchanged()], None)
    assert "No differences" in text and "<details>" not in text and "`" not in text.splitlines()[0]


def test_markdown_escapes_table_cells_and_fences() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"},
           "data": {"README.md": "```sh\nmake\n```\n"}}
    ch = classify(Manifest(obj, Origin("a|b.yaml", 1)), None, None)
    text = view.markdown([ch], "abc")
    assert "a\\|b.yaml:1" in text
    assert "````diff" in text  # a longer fence than any inside


def test_markdown_stays_under_the_comment_limit() -> None:
    changes = [classify(Manifest({"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": f"c{i}", "namespace": "d"},
                                  "data": {"k": "x" * 2000}}, Origin(f"c{i}.yaml", 1)), None, None)
               for i in range(50)]
    text = view.markdown(changes, "abc", limit=20_000)
    assert len(text) <= 20_000
    shown = text.count("<details>")
    assert 0 < shown < 50
    assert f"_{50 - shown} diffs left out" in text
    assert text.count("| create |") == 50  # the table still lists everything


# --- external diff ----------------------------------------------------------------------------------

def test_write_external_trees(tmp_path: Path) -> None:
    changes = [drifted_update(), configmap_create(), secret_delete(), unchanged()]
    live, merged = view.write_external(changes, tmp_path)
    assert (live, merged) == (tmp_path / "LIVE", tmp_path / "MERGED")
    assert sorted(p.name for p in live.iterdir()) == ["apps.v1.Deployment.demo.web", "v1.Secret.demo.db"]
    assert sorted(p.name for p in merged.iterdir()) == ["apps.v1.Deployment.demo.web", "v1.ConfigMap.demo.cfg"]
    assert yaml.safe_load((merged / "apps.v1.Deployment.demo.web").read_text())["spec"]["replicas"] == 3
    assert yaml.safe_load((live / "apps.v1.Deployment.demo.web").read_text())["spec"]["replicas"] == 5
    assert stat.S_IMODE((live / "v1.Secret.demo.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(live.stat().st_mode) == 0o700


def test_write_external_redacts_registered_values_in_any_kind(tmp_path: Path) -> None:
    from kubectl_gitops import redact

    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"},
           "data": {"dsn": f"postgres://app:{CANARIES[1]}@db/app"}}
    redact.register(CANARIES[1])
    try:
        _, merged = view.write_external([classify(Manifest(obj), None, None)], tmp_path)
        text = (merged / "v1.ConfigMap.d.c").read_text()
    finally:
        redact.clear()
    assert "postgres://app:***@db/app" in text and not leaked(text)


# --- the canary -------------------------------------------------------------------------------------

def test_no_view_ever_shows_a_secret_value(tmp_path: Path) -> None:
    changes = [secret_update(), secret_create(), secret_delete(), secret_delete(ignored=True)]
    rendered = [
        *(view.unified(c, color=color, now=NOW) for c in changes for color in (False, True)),
        json.dumps(view.to_json(changes, "abc", False)),
        view.markdown(changes, "abc"),
        repr(view.summary_rows(changes)),
        repr(changes),
    ]
    live, merged = view.write_external(changes, tmp_path)
    rendered += [p.read_text() for d in (live, merged) for p in d.iterdir()]
    assert rendered[0].count("*** (before)") == 1 and rendered[0].count("*** (after)") == 1
    for text in rendered:
        assert not leaked(text)
