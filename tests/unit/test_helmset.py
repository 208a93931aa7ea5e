"""--set/--set-string/--set-file: shape checked when parsed, passed to helm in its order, refused without a chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl_gitops.errors import UsageError
from kubectl_gitops.settings import SourceOptions
from kubectl_gitops.source.helmset import helm_set_args, parse_set
from kubectl_gitops.source.render import render


@pytest.mark.parametrize("text", ["novalue", "=x", " a=1"])
def test_malformed_set_is_a_usage_error(text):
    with pytest.raises(UsageError, match="use KEY=VALUE"):
        parse_set(text)


def test_set_file_must_be_a_readable_file_and_becomes_absolute(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ca.pem").write_text("x")
    assert parse_set("tls.ca=ca.pem", flag="--set-file") == ("tls.ca", str(tmp_path / "ca.pem"))
    with pytest.raises(UsageError, match="not a readable file"):
        parse_set("tls.ca=missing.pem", flag="--set-file")


def test_helm_gets_the_flags_in_helms_order(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("x")
    opts = SourceOptions(helm_set=("a=1,b=2",), helm_set_string=("tag=1.10",), helm_set_file=("c=f",))
    assert helm_set_args(opts) == ["--set", "a=1,b=2", "--set-string", "tag=1.10", "--set-file", f"c={tmp_path / 'f'}"]


def test_set_without_a_chart_under_the_path_is_a_problem(tmp_path: Path):
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
    _, problems = render(tmp_path, ".", SourceOptions(helm_set=("a=1",)))
    assert problems == [".: --set/--set-string/--set-file given but there is no Helm chart under this path; "
                        "drop them or point --path at the chart"]
