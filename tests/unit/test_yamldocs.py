"""The fast YAML path must give exactly what the full loader gives, or hand the file to it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_gitops.untrusted import yamldocs, yamllimits

ROOT = Path(__file__).resolve().parents[2]

# YAML 1.1 as PyYAML's safe loader reads it: every implicit type, quoting, tags, multi-document streams.
CASES = {
    "ints": "a: 1\nb: -2\nc: +3\nd: 0x1F\ne: 017\nf: 0b101\ng: 1_000\nh: 190:20:30\ni: 0\n",
    "floats": "a: 1.5\nb: -.5\nc: 1e3\nd: 6.8523015e+5\ne: .inf\nf: -.Inf\ng: 1_000.5\nh: 190:20:30.15\n",
    "bools": "a: yes\nb: No\nc: on\nd: OFF\ne: true\nf: False\ng: y\nh: n\n",
    "bool keys": "on: push\ny: 1\n",
    "nulls": "a: ~\nb: null\nc: Null\nd:\ne: NULL\n",
    "quoted": "a: '1'\nb: \"yes\"\nc: 'null'\nd: \"~\"\ne: ''\nf: \"tab\\tand \\u00e9\"\n",
    "explicit tags": "a: !!str 1\nb: !!int '7'\nc: !!float '2'\nd: !!bool 'yes'\ne: !!null ''\nf: ! 12\n",
    "timestamps": "a: 2001-12-14t21:59:43.10-05:00\nb: 2002-12-14\nc: !!timestamp 2001-12-14\n",
    "block scalars": "a: |\n  line 1\n  line 2\nb: >-\n  folded\n  text\nc: |+\n  keep\n\n",
    "flow": "a: {b: 1, c: [x, 'y', 3]}\nd: []\ne: {}\n",
    "nested": "spec:\n  template:\n    spec:\n      containers:\n        - name: a\n          ports:\n"
              "            - containerPort: 80\n              protocol: TCP\n",
    "multi": "a: 1\n---\n---\nb: 2\n...\n---\n# only a comment\n---\n[1, 2]\n",
    "scalar docs": "--- 5\n--- text\n--- ''\n",
    "empty": "",
    "comments": "# nothing here\n",
    "unicode": "name: caf\u00e9\nemoji: \"\\U0001F600\"\n",
    "odd strings": "a: 1.2.3\nb: 0o17\nc: 08\nd: 0x\ne: 12:30\nf: =x\ng: .5e\nh: -\ni: 1e\n",
    "null key": "~: a\nnull: b\n",
    "numeric keys": "1: a\n'1': b\n1.5: c\n",
    "long values": "a: " + "x" * 200 + "\nb: " + "7" * 100 + "\n",
    # the full loader's territory: the fast path hands these over
    "anchors": "a: &x {b: 1}\nc: *x\n",
    "merge": "base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n",
    "binary": "a: !!binary aGVsbG8=\n",
    "set": "a: !!set {x, y}\n",
    "value key": "=: 1\n",
    "complex key": "? [a, b]\n: 1\n",
    "list kind": "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n",
}

ERRORS = {
    "duplicate": "a: 1\nb: 2\na: 3\n",
    "bad indent": "a:\n  b: 1\n   c: 2\n",
    "unclosed": "a: [1, 2\n",
    "tab": "a:\n\tb: 1\n",
    "unknown tag": "a: !Ref x\n",
    "bool duplicate": "true: 1\nTrue: 2\n",
    "error after a document": "a: 1\n---\nb: [\n",
}


def same(a: Any, b: Any) -> bool:
    """Equal, with types (1 is not True), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def run(fn: Any, text: str) -> tuple[list[tuple[Any, int]], str | None]:
    docs: list[tuple[Any, int]] = []
    try:
        for data, line, _ in fn(text):
            docs.append((data, line))
    except yaml.YAMLError as e:
        return docs, str(e)
    return docs, None


@pytest.mark.parametrize("text", list(CASES.values()) + list(ERRORS.values()), ids=list(CASES) + list(ERRORS))
def test_fast_path_equals_full_loader(text: str) -> None:
    fast, fast_err = run(yamldocs.documents, text)
    full, full_err = run(yamldocs._full_documents, text)
    assert fast_err == full_err
    assert [line for _, line in fast] == [line for _, line in full]
    assert all(same(a, b) for (a, _), (b, _) in zip(fast, full, strict=True))


@pytest.mark.parametrize("name", ["ints", "floats", "bools", "quoted", "explicit tags", "timestamps", "multi", "flow"])
def test_fast_path_takes_ordinary_files(name: str) -> None:
    """These must not fall back: otherwise the test above compares the full loader with itself."""
    assert yamldocs._fast_documents(CASES[name]) is not None


@pytest.mark.parametrize("name", ["anchors", "merge", "binary", "set", "value key", "complex key", "list kind"])
def test_fast_path_hands_over_what_it_does_not_build(name: str) -> None:
    with pytest.raises(yamldocs._Fallback):
        yamldocs._fast_documents(CASES[name])


@pytest.mark.parametrize("name", ["duplicate", "unknown tag", "bool duplicate"])
def test_fast_path_hands_over_errors(name: str) -> None:
    with pytest.raises(yamldocs._Fallback):
        yamldocs._fast_documents(ERRORS[name])


def test_types_and_values() -> None:
    (ints, _, _), = yamldocs.documents(CASES["ints"])
    assert (ints["c"], ints["d"], ints["e"], ints["f"], ints["g"], ints["h"]) == (3, 31, 15, 5, 1000, 685230)
    (bools, _, _), = yamldocs.documents(CASES["bools"])
    assert bools == {"a": True, "b": False, "c": True, "d": False, "e": True, "f": False, "g": "y", "h": "n"}
    (ts, _, _), = yamldocs.documents(CASES["timestamps"])
    assert ts == {"a": "2001-12-14t21:59:43.10-05:00", "b": "2002-12-14", "c": "2001-12-14"}


def test_every_yaml_file_of_the_repository_reads_the_same() -> None:
    """A broad corpus: examples, test data, docs snippets of this repository."""
    files = [p for p in ROOT.rglob("*.y*ml") if ".venv" not in p.parts and ".git" not in p.parts]
    assert len(files) > 50
    for p in files:
        text = p.read_text(encoding="utf-8", errors="replace")
        try:
            yamllimits.check(text)
        except yamllimits.LimitError:
            continue  # a hostile case over a limit: refused whichever path reads it (test_bounded_input.py)
        fast, fast_err = run(yamldocs.documents, text)
        full, full_err = run(yamldocs._full_documents, text)
        assert fast_err == full_err, p
        assert len(fast) == len(full) and all(same(a, b) for (a, _), (b, _) in zip(fast, full, strict=True)), p
