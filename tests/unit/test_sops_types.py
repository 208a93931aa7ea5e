"""Scalar types and bytes exactly as sops (yaml.v3, Go's strconv/time) sees them, and the YAML layer.

The MAC hashes these bytes, so a single difference from Go breaks every file with such a value. The
expected values come from yaml.v3's resolve.go and Go's strconv/time behaviour; the interop tests
confirm them against the real binary.
"""

from __future__ import annotations

import math

import pytest

from kubectl_gitops.secrets import yaml12, yamlcomments
from kubectl_gitops.secrets.gotypes import (
    UnsupportedValue,
    Value,
    format_float,
    parse_rfc3339,
    resolve_plain,
    rfc3339_seconds,
    yaml_float_text,
)


@pytest.mark.parametrize("text, kind, plaintext", [
    ("hello", "str", b"hello"),
    ("yes", "str", b"yes"),            # YAML 1.1 bool, a string in YAML 1.2
    ("on", "str", b"on"),
    ("tRue", "str", b"tRue"),
    ("true", "bool", b"True"),
    ("FALSE", "bool", b"False"),
    ("0777", "int", b"511"),           # Go base-0 parsing: leading 0 is octal
    ("0o17", "int", b"15"),
    ("0x1F", "int", b"31"),
    ("0b101", "int", b"5"),
    ("-0o17", "int", b"-15"),
    ("+5", "int", b"5"),
    ("1_000", "int", b"1000"),
    ("08", "float", b"8"),             # not octal, so yaml.v3 falls through to float
    ("2.0", "float", b"2"),
    ("1e3", "float", b"1000"),
    (".5", "float", b"0.5"),
    ("+.5", "float", b"0.5"),
    ("1.", "float", b"1"),
    ("99999999999999999999", "float", b"100000000000000000000"),
    (".inf", "float", b"+Inf"),
    ("-.Inf", "float", b"-Inf"),
    ("1e400", "str", b"1e400"),        # out of float64 range: Go's ParseFloat fails, so a string
    ("2024-01-02", "time", b"2024-01-02T00:00:00Z"),
    ("2024-1-2", "time", b"2024-01-02T00:00:00Z"),
    ("2001-12-14t21:59:43.10-05:00", "time", b"2001-12-14T21:59:43.1-05:00"),
    ("2001-12-14 21:59:43.10", "time", b"2001-12-14T21:59:43.1Z"),
    ("2024-01-02T03:04:05+00:00", "time", b"2024-01-02T03:04:05Z"),
    ("2024-02-30", "str", b"2024-02-30"),  # no such day
    ("2024-01-02T03:04:05", "str", b"2024-01-02T03:04:05"),  # T layout needs a zone
    ("12:30", "str", b"12:30"),        # YAML 1.1 sexagesimal, a string in yaml.v3
    ("-", "str", b"-"),
    ("ENC[AES256_GCM,data:x]", "str", b"ENC[AES256_GCM,data:x]"),
])
def test_plain_scalars_get_yaml_v3_types_and_go_bytes(text: str, kind: str, plaintext: bytes) -> None:
    value = resolve_plain(text)
    assert value is not None
    assert (value.kind, value.plaintext()) == (kind, plaintext)


@pytest.mark.parametrize("text", ["", "~", "null", "Null", "NULL"])
def test_nulls_resolve_to_none(text: str) -> None:
    assert resolve_plain(text) is None


def test_integers_between_int64_and_uint64_are_refused_like_sops() -> None:
    with pytest.raises(UnsupportedValue, match="64-bit"):
        resolve_plain("18446744073709551615")


@pytest.mark.parametrize("f, text", [
    (1e22, "10000000000000000000000"), (1.5e-7, "0.00000015"), (-0.0, "-0"), (2.0, "2"), (0.1, "0.1"),
    (123456.789, "123456.789"), (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN"),
])
def test_floats_format_like_go_strconv_f_minus_one(f: float, text: str) -> None:
    assert format_float(f) == text


@pytest.mark.parametrize("f", [2.0, 1e16, 1.5e-7, 0.1, math.inf, -math.inf])
def test_yaml_float_text_reads_back_as_the_same_float_in_yaml_v3_and_pyyaml(f: float) -> None:
    import yaml

    text = yaml_float_text(f)
    value = resolve_plain(text)
    assert value is not None and value.kind == "float" and value.data == f
    assert yaml.safe_load(f"v: {text}")["v"] == f


@pytest.mark.parametrize("kind, raw, data", [
    ("int", b"-42", -42), ("float", b"0.5", 0.5), ("bool", b"True", True), ("bool", b"false", False),
    ("time", b"2024-01-02T03:04:05.120Z", "2024-01-02T03:04:05.12Z"), ("str", "héllo".encode(), "héllo"),
    ("comment", b" a comment", " a comment"),
])
def test_decrypted_bytes_parse_like_the_sops_cipher(kind: str, raw: bytes, data: object) -> None:
    assert Value.from_plaintext(kind, raw).data == data


@pytest.mark.parametrize("kind, raw", [("int", b"1.5"), ("bool", b"yes"), ("time", b"2024-01-02"), ("what", b"x")])
def test_malformed_decrypted_bytes_are_rejected(kind: str, raw: bytes) -> None:
    with pytest.raises(UnsupportedValue):
        Value.from_plaintext(kind, raw)


def test_lastmodified_is_reformatted_to_rfc3339_seconds_for_the_mac_aad() -> None:
    assert rfc3339_seconds("2024-01-02T03:04:05.999Z") == "2024-01-02T03:04:05Z"
    assert rfc3339_seconds("2024-01-02T03:04:05+00:00") == "2024-01-02T03:04:05Z"
    assert rfc3339_seconds("2024-01-02T03:04:05+02:00") == "2024-01-02T03:04:05+02:00"
    assert rfc3339_seconds("yesterday") is None
    assert parse_rfc3339("2024-01-02T03:04:05.000000001Z") == "2024-01-02T03:04:05.000000001Z"


# --- the YAML layer -----------------------------------------------------------------------------

def test_unchanged_yaml_round_trips_byte_for_byte() -> None:
    text = (
        "# head\n"
        "apiVersion: v1\n"
        "kind: Secret  # kind\n"
        "metadata:\n"
        "  name: x\n"
        "  labels: {a: b}\n"
        "stringData:\n"
        "  # before\n"
        "  a: 'single'\n"
        "  b: \"double\"\n"
        "  c: yes\n"
        "  d: 0777\n"
        "  e:\n"
        "  f: |\n"
        "    line1\n"
        "    line2\n"
        "list:\n"
        "  - one\n"
        "  - two: 2\n"
        "---\n"
        "second: doc\n"
    )
    docs, layout = yaml12.load_all(text)
    assert yaml12.dump_all(docs, layout) == text


@pytest.mark.parametrize("text, mapping, offset", [
    ("a:\n  b: c\nl:\n- x\n", 2, 0),
    ("a:\n    b: c\nl:\n    - x\n", 4, 4),
    ("l:\n  - x\na:\n   b: c\n", 3, 2),
])
def test_layout_is_guessed_from_the_first_nested_blocks(text: str, mapping: int, offset: int) -> None:
    layout = yaml12.guess_layout(text)
    assert (layout.mapping, layout.offset) == (mapping, offset)
    docs, layout = yaml12.load_all(text)
    assert yaml12.dump_all(docs, layout) == text


@pytest.mark.parametrize("text, expected", [
    ("yes", True), ("true", True), ("0777", True), ("", True), ("1.5", True), ("2024-01-02", True),
    ("null", True), ("~", True), ("12:30", True),  # the last one: a YAML 1.1 (PyYAML) int
    ("plain words", False), ("ENC[AES256_GCM,data:x]", False), ("CamelCase", False),
])
def test_decrypted_strings_are_quoted_when_a_reader_could_type_them(text: str, expected: bool) -> None:
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    leaf = yaml12.yaml_leaf(Value("str", text))
    assert isinstance(leaf, DoubleQuotedScalarString) is expected
    assert yaml12.leaf_value(leaf) == Value("str", text)


@pytest.mark.parametrize("value", [Value("int", 511), Value("float", 2.0), Value("bool", False),
                                   Value("time", "2024-01-02T00:00:00Z"), Value("float", 1e16)])
def test_typed_values_are_written_to_read_back_with_their_type(value: Value) -> None:
    assert yaml12.leaf_value(yaml12.yaml_leaf(value)) == value


def test_comment_paths_follow_the_collection_that_holds_them() -> None:
    text = (
        "# top\n"                       # []
        "kind: Secret  # eol\n"         # []
        "stringData:  # after key\n"    # [] (on the key's line)
        "  # first\n"                   # [stringData]
        "  password: x  # inline\n"     # [stringData]
        "  # trailing\n"                # [stringData]
        "# between\n"                   # []
        "items:\n"
        "  - name: a\n"
        "    # in item\n"               # [items]
        "    sub:\n"
        "      # deep\n"                # [items, sub]
        "      k: v\n"
        "# end\n"                       # []
    )
    docs, _ = yaml12.load_all(text)
    found = {c.text.strip(): c.path for c in yamlcomments.comment_lines(docs[0])}
    assert found == {
        "top": (), "eol": (), "after key": (), "first": ("stringData",), "inline": ("stringData",),
        "trailing": ("stringData",), "between": (), "in item": ("items",), "deep": ("items", "sub"), "end": (),
    }


def test_set_comment_text_keeps_indentation_and_neighbouring_lines() -> None:
    docs, layout = yaml12.load_all("a:\n  b: 1\n  # one\n  # two\nc: 2\n")
    comments = yamlcomments.comment_lines(docs[0])
    yamlcomments.set_comment_text(comments[0], "ENC[x]")
    assert yaml12.dump_all(docs, layout) == "a:\n  b: 1\n  #ENC[x]\n  # two\nc: 2\n"


def test_aliases_are_expanded_into_independent_copies() -> None:
    docs, _ = yaml12.load_all("base: &b {x: 1}\ncopy: *b\n")
    doc = yaml12.unshare(docs[0])
    doc["copy"]["x"] = "2"
    assert str(doc["base"]["x"]) == "1"


@pytest.mark.parametrize("text", [
    "---\na: 1\n",
    "# license\n\n# header\n---\na: 1\n",     # comments before the first "---" (ruamel drops them)
    "a: 1\n---\nb: 2\n---\n",                 # a trailing separator: an empty last document
    "a: 1\n---\n---\nb: 2\n",
    "a: 1 # x\n# end of a\n---\n# start of b\nb: 2\n",
])
def test_document_separators_and_header_comments_round_trip(text: str) -> None:
    docs, layout = yaml12.load_all(text)
    assert yaml12.dump_all(docs, layout) == text


def test_invalid_yaml_reports_its_line() -> None:
    with pytest.raises(yaml12.YamlError) as err:
        yaml12.load_all("a: 1\nb: [unclosed\nc: 3\n")
    assert err.value.line is not None and err.value.line >= 2
