"""Scalar values the way sops (Go) sees them: which type a YAML scalar has, and the exact bytes it
encrypts and feeds into the MAC.

sops reads YAML with yaml.v3 (YAML 1.2 core schema plus a few Go specifics) and turns every scalar
into one of ``string``, ``int``, ``float64``, ``bool``, ``time.Time`` (or nil, which is skipped).
The bytes it encrypts and hashes are ``ToBytes(value)``: decimal ints, ``strconv.FormatFloat(v, 'f',
-1, 64)`` floats (``2.0`` → ``2``), ``True``/``False``, RFC 3339 with nanoseconds for times. A
reader that types a scalar differently (PyYAML calls ``yes`` a bool and ``0777`` the int 777)
computes another MAC, so this module mirrors yaml.v3's ``resolve`` line by line.

Examples::

    resolve_plain("0777")        -> Value("int", 511)
    resolve_plain("08")          -> Value("float", 8.0)     # not octal, not int: yaml.v3 says float
    resolve_plain("yes")         -> Value("str", "yes")
    resolve_plain("2024-01-02")  -> Value("time", "2024-01-02T00:00:00Z")
    resolve_plain("~")           -> None                    # null: not encrypted, not in the MAC
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1

KINDS = ("str", "int", "float", "bool", "time", "comment")


class UnsupportedValue(ValueError):
    """A scalar sops cannot handle either (for example an integer between 2^63 and 2^64)."""


@dataclass(frozen=True)
class Value:
    """A typed scalar. ``data`` is str, int, float, bool, or for ``time`` the RFC 3339 text."""

    kind: str
    data: Any

    def plaintext(self) -> bytes:
        """sops' ``ToBytes``: what gets encrypted and what the MAC hashes."""
        if self.kind in ("str", "comment", "time"):
            return str(self.data).encode("utf-8", "surrogateescape")
        if self.kind == "bool":
            return b"True" if self.data else b"False"
        if self.kind == "int":
            return str(int(self.data)).encode()
        if self.kind == "float":
            return format_float(float(self.data)).encode()
        raise UnsupportedValue(f"unknown value type {self.kind}")

    @classmethod
    def from_plaintext(cls, kind: str, raw: bytes) -> Value:
        """Parse decrypted bytes like sops' AES cipher does (``strconv.Atoi``, ``ParseFloat``, ...)."""
        text = raw.decode("utf-8", "surrogateescape")
        if kind in ("str", "bytes"):
            return cls("str", text)
        if kind == "comment":
            return cls("comment", text)
        if kind == "int":
            if not re.fullmatch(r"[+-]?[0-9]+", text) or not INT64_MIN <= int(text) <= INT64_MAX:
                raise UnsupportedValue("invalid int")
            return cls("int", int(text))
        if kind == "float":
            return cls("float", parse_float(text))
        if kind == "bool":
            if text in ("1", "t", "T", "TRUE", "true", "True"):
                return cls("bool", True)
            if text in ("0", "f", "F", "FALSE", "false", "False"):
                return cls("bool", False)
            raise UnsupportedValue("invalid bool")
        if kind == "time":
            canonical = parse_rfc3339(text)
            if canonical is None:
                raise UnsupportedValue("invalid time")
            return cls("time", canonical)
        raise UnsupportedValue(f"unknown value type {kind!r}")


# --- floats -----------------------------------------------------------------------------------

def format_float(f: float) -> str:
    """``strconv.FormatFloat(f, 'f', -1, 64)``: shortest round-trip digits, never an exponent."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    text = format(Decimal(repr(f)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


_GO_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.I)


def parse_float(text: str) -> float:
    """``strconv.ParseFloat(text, 64)`` for the decimal forms sops writes."""
    if not _GO_FLOAT.fullmatch(text):
        raise UnsupportedValue("invalid float")
    f = float(text)
    if math.isinf(f) and "inf" not in text.lower():
        raise UnsupportedValue("float out of range")
    return f


def yaml_float_text(f: float) -> str:
    """A YAML spelling that both yaml.v3 and PyYAML read back as this float."""
    if math.isnan(f):
        return ".nan"
    if math.isinf(f):
        return ".inf" if f > 0 else "-.inf"
    text = repr(f)
    if "e" in text:
        mantissa, exp = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        text = f"{mantissa}e{exp}"
    return text


# --- ints -------------------------------------------------------------------------------------

_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def _parse_int_base0(s: str) -> int | None:
    """``strconv.ParseInt(s, 0, ...)`` without the range check; None when not an integer literal."""
    if not s:
        return None
    neg = s[0] == "-"
    if s[0] in "+-":
        s = s[1:]
        if not s:
            return None
    base = 10
    if s[0] == "0":
        if len(s) >= 3 and s[1] in "bB":
            base, s = 2, s[2:]
        elif len(s) >= 3 and s[1] in "oO":
            base, s = 8, s[2:]
        elif len(s) >= 3 and s[1] in "xX":
            base, s = 16, s[2:]
        else:
            base, s = 8, s[1:]
    if any(c not in _DIGITS[base] for c in s):
        return None
    n = int(s, base) if s else 0
    return -n if neg else n


# --- times ------------------------------------------------------------------------------------

_TS_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_TS_TIME = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,]([0-9]+))?")
_TS_ZONE = re.compile(r"Z|([+-])([0-9]{2}):([0-9]{2})")


def _format_time(year: int, month: int, day: int, hh: int, mm: int, ss: int, nanos: int,
                 offset_minutes: int) -> str:
    text = f"{year:04d}-{month:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}"
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    if offset_minutes == 0:
        return text + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    o = abs(offset_minutes)
    return text + f"{sign}{o // 60:02d}:{o % 60:02d}"


def _valid_date(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def _nanos(frac: str | None) -> int:
    if not frac:
        return 0
    return int(frac[:9].ljust(9, "0"))


def parse_yaml_timestamp(s: str) -> str | None:
    """yaml.v3 ``parseTimestamp``: the four Go layouts it accepts; returns RFC 3339 (nanoseconds) text."""
    m = _TS_DATE.match(s)
    if not m:
        return None
    year, month, day = (int(g) for g in m.groups())
    rest = s[m.end():]
    if not _valid_date(year, month, day):
        return None
    if rest == "":
        return _format_time(year, month, day, 0, 0, 0, 0, 0)
    sep, rest = rest[0], rest[1:]
    if sep not in "Tt ":
        return None
    t = _TS_TIME.match(rest)
    if not t:
        return None
    hh, mm, ss = int(t.group(1)), int(t.group(2)), int(t.group(3))
    if hh > 23 or mm > 59 or ss > 59:
        return None
    nanos = _nanos(t.group(4))
    rest = rest[t.end():]
    if sep == " ":  # "2006-1-2 15:4:5.999999999": no zone, UTC
        return _format_time(year, month, day, hh, mm, ss, nanos, 0) if rest == "" else None
    z = _TS_ZONE.fullmatch(rest)
    if not z:
        return None
    offset = 0
    if z.group(1):
        oh, om = int(z.group(2)), int(z.group(3))
        if oh > 24 or om > 60:
            return None
        offset = (oh * 60 + om) * (1 if z.group(1) == "+" else -1)
    return _format_time(year, month, day, hh, mm, ss, nanos, offset)


_RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
                      r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")


def _rfc3339_parts(text: str) -> tuple[int, int, int, int, int, int, int, int] | None:
    m = _RFC3339.fullmatch(text)
    if not m:
        return None
    year, month, day, hh, mm, ss = (int(m.group(i)) for i in range(1, 7))
    if not _valid_date(year, month, day) or hh > 23 or mm > 59 or ss > 59:
        return None
    offset = 0
    if m.group(8):
        offset = (int(m.group(9)) * 60 + int(m.group(10))) * (1 if m.group(8) == "+" else -1)
    return year, month, day, hh, mm, ss, _nanos(m.group(7)), offset


def parse_rfc3339(text: str) -> str | None:
    """``time.Time.UnmarshalText`` then ``MarshalText``: the canonical RFC 3339 (nano) text."""
    parts = _rfc3339_parts(text)
    return None if parts is None else _format_time(*parts)


def rfc3339_seconds(text: str) -> str | None:
    """``t.Format(time.RFC3339)`` of a parsed RFC 3339 text (sops' ``lastmodified`` and MAC AAD)."""
    parts = _rfc3339_parts(text)
    if parts is None:
        return None
    year, month, day, hh, mm, ss, _, offset = parts
    return _format_time(year, month, day, hh, mm, ss, 0, offset)


# --- yaml.v3 resolve --------------------------------------------------------------------------

_MAP: dict[str, Value | None] = {}
for _s in ("true", "True", "TRUE"):
    _MAP[_s] = Value("bool", True)
for _s in ("false", "False", "FALSE"):
    _MAP[_s] = Value("bool", False)
for _s in ("", "~", "null", "Null", "NULL"):
    _MAP[_s] = None
for _s in (".nan", ".NaN", ".NAN"):
    _MAP[_s] = Value("float", math.nan)
for _s in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"):
    _MAP[_s] = Value("float", math.inf)
for _s in ("-.inf", "-.Inf", "-.INF"):
    _MAP[_s] = Value("float", -math.inf)

_HINT_MAP = set("yYnNtTfFoO~")
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")
_STR = object()


def _lookup(s: str) -> object:
    return _MAP.get(s, _STR)


def resolve_plain(s: str) -> Value | None:
    """The value yaml.v3 decodes a plain (unquoted, untagged) scalar to; None for null.

    Raises UnsupportedValue for integers sops cannot walk (2^63 ≤ n < 2^64 decode as uint64).
    """
    if s == "":
        return None
    hint = s[0]
    if hint in _HINT_MAP or hint in ".+-0123456789":
        found = _lookup(s)
        if found is not _STR:
            return found  # type: ignore[return-value]
    if hint == ".":
        if _DOT_FLOAT.fullmatch(s):
            f = float(s)
            if not math.isinf(f):
                return Value("float", f)
        return Value("str", s)
    if hint in "+-0123456789":
        if hint.isdigit():
            ts = parse_yaml_timestamp(s)
            if ts is not None:
                return Value("time", ts)
        plain = s.replace("_", "")
        n = _parse_int_base0(plain)
        if n is not None and INT64_MIN <= n <= INT64_MAX:
            return Value("int", n)
        if n is not None and plain[:1] not in "+-" and 0 <= n <= UINT64_MAX:
            raise UnsupportedValue(f"integer {s} is out of the signed 64-bit range sops supports")
        if _YAML_FLOAT.fullmatch(plain):
            f = float(plain)
            if not math.isinf(f):
                return Value("float", f)
    return Value("str", s)


def resolves_to_str(s: str) -> bool:
    """Whether a plain scalar ``s`` would be read back as this very string by yaml.v3."""
    try:
        v = resolve_plain(s)
    except UnsupportedValue:
        return False
    return v is not None and v.kind == "str"


def python_scalar_value(obj: Any) -> Value | None:
    """A typed Python scalar (from JSON, or an explicitly tagged YAML scalar) as a sops value."""
    if obj is None:
        return None
    if isinstance(obj, bool):
        return Value("bool", obj)
    if isinstance(obj, int):
        if INT64_MIN <= obj <= INT64_MAX:
            return Value("int", int(obj))
        return Value("float", float(obj))  # Go's json.Number falls back to float64
    if isinstance(obj, float):
        return Value("float", float(obj))
    if isinstance(obj, str):
        return Value("str", str(obj))
    raise UnsupportedValue(f"unsupported value type {type(obj).__name__}")
