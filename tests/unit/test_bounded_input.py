"""Bounded input: a repository's YAML and regular expressions cannot exhaust memory or CPU.

Each limit is tested exactly at the limit (accepted) and one past it (refused with the line), on the fast path and
on the full loader's path, and in the other readers of repository YAML (sops files, .sops.yaml, ignore rules).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from kubectl_gitops.engine.diff import _Jq, load_ignore_rules
from kubectl_gitops.errors import InvalidInputError, SecretsError
from kubectl_gitops.secrets import yaml12
from kubectl_gitops.secrets.sopsconfig import parse_config
from kubectl_gitops.secrets.sopsmeta import Rules
from kubectl_gitops.untrusted import saferegex, yamldocs, yamllimits

ANCHOR = "anchor: &x {a: 1}\n"  # any anchor sends the text to the full loader (and its pre-check)
BOMB = "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9) if p else ', '.join(['lol'] * 9)}]\n"
               for p, c in zip(["", *"abcdefgh"], "abcdefghi", strict=True))


def docs(text: str) -> list[object]:
    return [d for d, _, _ in yamldocs.documents(text)]


def refused(text: str) -> yamllimits.LimitError:
    with pytest.raises(yamllimits.LimitError) as info:
        docs(text)
    return info.value


def nested(levels: int) -> str:
    """A mapping holding flow sequences: ``levels`` collections in all."""
    return "k: " + "[" * (levels - 1) + "]" * (levels - 1) + "\n"


# --- size ------------------------------------------------------------------------------------------------


def test_size_at_the_limit_is_read_one_byte_more_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamllimits, "MAX_BYTES", 64)
    text = "a: " + "x" * 60 + "\n"
    assert len(text) == 64 and docs(text) == [{"a": "x" * 60}]
    err = refused(text + " ")
    assert err.line == 1 and "larger than" in err.problem and err.hint


def test_size_counts_utf8_bytes_not_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamllimits, "MAX_BYTES", 64)
    assert len("a: " + "é" * 31) < 64 < len(("a: " + "é" * 31).encode())
    refused("a: " + "é" * 31)


# --- documents -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("second", ["2", "&x 2"], ids=["fast path", "full loader"])
def test_document_count_at_the_limit_is_read_one_more_is_refused(second: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamllimits, "MAX_DOCUMENTS", 3)
    text = f"--- {{a: 1}}\n--- {second}\n--- 3\n"
    assert len(docs(text)) == 3
    err = refused(text + "--- 4\n")
    assert err.line == text.count("\n") + 1 and "more than 3 documents" in err.problem


def test_empty_documents_count_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamllimits, "MAX_DOCUMENTS", 3)
    assert docs("---\n---\n---\n") == []
    assert refused("---\n---\n---\n---\n").line == 4


# --- depth -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["", ANCHOR], ids=["fast path", "full loader"])
def test_nesting_at_the_limit_is_read_one_level_more_is_refused(head: str) -> None:
    limit = yamllimits.MAX_DEPTH
    deepest = docs(head + nested(limit))[0]
    assert isinstance(deepest, dict)
    err = refused(head + nested(limit + 1))
    assert err.line == head.count("\n") + 1 and f"deeper than {limit} levels" in err.problem


def test_nesting_through_an_alias_counts_the_anchor_levels() -> None:
    half = yamllimits.MAX_DEPTH // 2
    anchor = "a: &deep " + "[" * half + "]" * half + "\n"
    assert docs(anchor + "b: " + "[" * (half - 1) + "*deep" + "]" * (half - 1) + "\n")  # 1 + 99 + 100 = 200
    err = refused(anchor + "b: " + "[" * half + "*deep" + "]" * half + "\n")  # 201
    assert err.line == 2


def test_block_nesting_is_refused_too() -> None:
    levels = yamllimits.MAX_DEPTH + 1
    text = "".join(" " * i + f"k{i}:\n" for i in range(levels - 1)) + " " * (levels - 1) + "k: {}\n"
    assert "deeper than" in refused(text).problem


# --- aliases ---------------------------------------------------------------------------------------------


def aliased(copies: int) -> str:
    """An anchor of 100 nodes and ``copies`` aliases of it: 104 + 100 * copies nodes, 100 * copies from aliases."""
    return "a: &a [" + ", ".join(["x"] * 99) + "]\nb: [" + ", ".join(["*a"] * copies) + "]\n"


@pytest.mark.parametrize("head", ["", "--- {a: 1}\n---\n"], ids=["first document", "second document"])
def test_alias_expansion_follows_go_yaml_v3(head: str) -> None:
    # go-yaml v3 refuses more than 99% of a document's (< 400,000) nodes coming from aliases:
    # 100k / (104 + 100k) > 0.99  <=>  k > 102.96
    data = docs(head + aliased(102))[-1]
    assert isinstance(data, dict) and len(data["b"]) == 102 and data["b"][0] is data["a"]
    err = refused(head + aliased(103))
    assert err.line == head.count("\n") + 2 and "excessive aliasing" in err.problem


def test_alias_budget_scales_like_go_yaml_v3() -> None:
    exceeded = yamllimits._alias_budget_exceeded
    assert not exceeded(1000, 999) and not exceeded(1001, 100)  # small documents: anything goes
    assert exceeded(1001, 992) and not exceeded(1001, 990)  # 99%
    assert exceeded(4_000_000, 400_001) and not exceeded(4_000_000, 400_000)  # 10%
    middle = 2_200_000  # halfway: 0.99 - 0.89 / 2 = 0.545
    assert exceeded(middle, int(middle * 0.546)) and not exceeded(middle, int(middle * 0.544))


def test_billion_laughs_is_refused_at_its_first_excessive_line() -> None:
    assert len(BOMB) < 400
    err = refused(BOMB)
    assert err.line == 4 and "excessive aliasing" in err.problem


def test_an_anchor_containing_its_own_alias_is_refused() -> None:
    err = refused("ok: 1\na: &a [1, *a]\n")
    assert err.line == 2 and "&a contains an alias to itself" in err.problem


def test_ordinary_anchors_and_merge_keys_still_read_as_before() -> None:
    text = "base: &b {x: 1, y: [1, 2]}\nd:\n  <<: *b\n  z: 2\ne: *b\n"
    assert docs(text) == [yaml.load(text, Loader=yamldocs.Loader)]


# --- the other readers of repository YAML ----------------------------------------------------------------


def test_load_and_safe_load_apply_the_limits() -> None:
    with pytest.raises(yamllimits.LimitError):
        yamldocs.load(BOMB)
    with pytest.raises(InvalidInputError) as info:
        yamldocs.safe_load("a: 1\n" + BOMB, "charts/x/Chart.yaml")
    assert str(info.value).startswith("charts/x/Chart.yaml:5: aliases expand") and info.value.hint
    with pytest.raises(InvalidInputError, match=r"^ignore.yaml:3: invalid YAML") as info:
        yamldocs.safe_load("a: 1\nb: [\n", "ignore.yaml")
    assert yamldocs.safe_load("a: [1, 2]\n", "x.yaml") == {"a": [1, 2]}


def test_sops_yaml_reader_applies_the_limits() -> None:
    with pytest.raises(yaml12.YamlError) as info:
        yaml12.load_all("stringData:\n" + "".join("  " + line + "\n" for line in BOMB.splitlines()))
    assert info.value.line == 5 and "excessive aliasing" in str(info.value)
    with pytest.raises(yaml12.YamlError, match="deeper than"):
        yaml12.load_all(nested(yamllimits.MAX_DEPTH + 1))
    docs_, _ = yaml12.load_all(nested(yamllimits.MAX_DEPTH))
    assert len(docs_) == 1


def test_sops_config_with_a_bomb_names_the_file_and_line() -> None:
    with pytest.raises(SecretsError, match=r"^\.sops\.yaml:4: aliases expand"):
        parse_config(BOMB, Path(".sops.yaml"))


def test_ignore_rules_with_a_self_alias_name_the_file(tmp_path: Path) -> None:
    from kubectl_gitops.cli.ignore import load_rules

    path = tmp_path / "ignore.yaml"
    path.write_text("- kind: ConfigMap\n  jqPathExpressions: &x ['.data', *x]\n")
    with pytest.raises(InvalidInputError, match=r"ignore\.yaml:2: the anchor &x contains an alias to itself"):
        load_rules(str(path))


# --- regular expressions ---------------------------------------------------------------------------------

CATASTROPHIC = "(a+)+$"  # exponential in Python's re: 2**n steps for n a's that end in a mismatch


def test_catastrophic_patterns_match_in_linear_time() -> None:
    # with Python's re each of these would run for longer than the universe is old
    assert not saferegex.search(CATASTROPHIC, "a" * 100_000 + "b", "path_regex")
    assert saferegex.search(CATASTROPHIC, "a" * 100_000, "path_regex")


@pytest.mark.parametrize("pattern, reason", [
    (r"(a)\1", "invalid escape sequence"),
    ("(?=a)", "invalid perl operator"),
    ("(?<!a)b", "invalid perl operator"),
    ("[a", "missing ]"),
    ("a{1001}", "invalid repetition size"),
])
def test_patterns_re2_rejects_are_input_errors_naming_where(pattern: str, reason: str,
                                                            capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(saferegex.RegexError) as info:
        saferegex.compile(pattern, "path_regex", where=".sops.yaml: creation_rules[2]")
    assert str(info.value).startswith(f".sops.yaml: creation_rules[2]: invalid path_regex {pattern!r}: ")
    assert reason in str(info.value) and "RE2" in (info.value.hint or "")
    assert info.value.exit_code == 3
    assert capfd.readouterr().err == ""  # RE2's own logging is off


def test_pattern_length_limit() -> None:
    saferegex.compile("a" * saferegex.MAX_PATTERN, "encrypted_regex")
    with pytest.raises(saferegex.RegexError, match="longer than"):
        saferegex.compile("a" * (saferegex.MAX_PATTERN + 1), "encrypted_regex")


def test_without_the_re2_module_patterns_are_refused_not_backtracked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "re2", None)  # import re2 -> ImportError
    saferegex._compile.cache_clear()
    try:
        with pytest.raises(SecretsError, match="need the RE2 engine") as info:
            saferegex.compile("^data$", "encrypted_regex", error=SecretsError)
        assert "google-re2" in (info.value.hint or "")
    finally:
        saferegex._compile.cache_clear()


def test_sops_rules_use_re2() -> None:
    rules = Rules(encrypted_regex="^" + CATASTROPHIC)
    assert not rules.should_encrypt(["stringData", "a" * 5000 + "b"])
    assert rules.should_encrypt(["a" * 5000])
    assert Rules(unencrypted_regex=CATASTROPHIC).should_encrypt(["a" * 5000 + "b"])
    with pytest.raises(SecretsError, match=r"invalid encrypted_regex '\(\?=x\)'"):
        Rules(encrypted_regex="(?=x)")


def test_sops_path_regex_uses_re2(tmp_path: Path) -> None:
    config = parse_config(f"creation_rules:\n  - path_regex: '{CATASTROPHIC}'\n    age: age1x\n",
                          tmp_path / ".sops.yaml")
    assert config.rule_for(tmp_path / ("a" * 5000 + "b.yaml")) is None
    assert config.rule_for(tmp_path / ("x" * 10 + "a")) is config.rules[0]
    with pytest.raises(SecretsError, match=r"^\.sops\.yaml: creation_rules\[0\]: invalid path_regex"):
        parse_config("creation_rules:\n  - path_regex: '(?<=a)'\n", Path(".sops.yaml"))


def test_jq_test_uses_re2() -> None:
    jq = _Jq(f'.items[] | select(.name | test("{CATASTROPHIC}"))')
    obj = {"items": [{"name": "a" * 5000 + "b"}, {"name": "a" * 5000}]}
    assert jq.locations(obj) == [("items", 1)]
    with pytest.raises(InvalidInputError, match=r"r\.yaml: ignoreDifferences\[0\]: .*invalid test\(\) pattern"):
        load_ignore_rules([{"kind": "X", "jqPathExpressions": ['.a | select(.b | test("(x)\\\\1"))']}], "r.yaml")


# --- JSON (manifests and sops files may be JSON) ---------------------------------------------------------


def test_json_nesting_at_the_limit_is_read_one_level_more_is_refused() -> None:
    limit = yamllimits.MAX_DEPTH
    assert isinstance(yamllimits.load_json('{"a": ' + "[" * (limit - 1) + "]" * (limit - 1) + "}")["a"], list)
    text = '{\n"s": "[[[{{",\n"a": ' + "[" * limit + "]" * limit + "}"
    with pytest.raises(yamllimits.LimitError) as info:
        yamllimits.load_json(text)
    assert info.value.line == 3 and "deeper than" in info.value.problem


def test_json_deeper_than_python_recursion_is_a_limit_error_not_a_crash() -> None:
    with pytest.raises(yamllimits.LimitError) as info:
        yamllimits.load_json("[" * 100_000 + "]" * 100_000)
    assert info.value.line == 1


def test_json_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamllimits, "MAX_BYTES", 16)
    assert yamllimits.load_json('{"a": "' + "x" * 7 + '"}') == {"a": "x" * 7}
    with pytest.raises(yamllimits.LimitError):
        yamllimits.load_json('{"a": "' + "x" * 8 + '"}')
