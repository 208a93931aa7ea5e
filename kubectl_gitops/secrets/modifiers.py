"""The placeholder modifiers (``base64encode``, ``jsonPath``, ...) and the small Kubernetes JSONPath they use.

Pure functions of a value; ``secrets.placeholders`` chains them after ``|``. No message here contains a value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any


class ModifierError(ValueError):
    """A modifier could not be applied. Messages never contain the value."""


def _want_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ModifierError(f"expects text, got {_type_name(value)}")
    return value


def _no_args(args: list[str]) -> None:
    if args:
        raise ModifierError("takes no arguments")


def _base64encode(args: list[str], value: Any) -> Any:
    _no_args(args)
    return base64.b64encode(_want_str(value).encode()).decode()


def _base64decode(args: list[str], value: Any) -> Any:
    _no_args(args)
    try:
        return base64.b64decode(_want_str(value), validate=True).decode()
    except (binascii.Error, ValueError):
        # from None: a UnicodeDecodeError quotes a byte of the decoded secret value
        raise ModifierError("the value is not valid base64 of UTF-8 text") from None


def _json_parse(args: list[str], value: Any) -> Any:
    _no_args(args)
    try:
        return json.loads(_want_str(value))
    except json.JSONDecodeError as e:
        raise ModifierError(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from e


def _yaml_parse(args: list[str], value: Any) -> Any:
    import yaml

    _no_args(args)
    try:
        return yaml.safe_load(_want_str(value))
    except yaml.YAMLError as e:  # the message quotes the input: say where only
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise ModifierError(f"not valid YAML{at}") from None  # from None: the cause quotes the secret value


def _indent(args: list[str], value: Any) -> Any:
    """AVP's indent: the first line trimmed, then every non-empty line trimmed and indented by N spaces."""
    if len(args) != 1:
        raise ModifierError("takes one argument: the number of spaces")
    try:
        n = int(args[0])
    except ValueError as err:
        raise ModifierError(f"invalid indentation level {args[0]!r}") from err
    lines = _want_str(value).split("\n")
    out = [lines[0].strip()]
    if len(lines) > 1:
        out.append("\n")
    for i in range(1, len(lines)):
        if lines[i]:
            out.append(" " * n + lines[i].strip())
            if i < len(lines) - 1:
                out.append("\n")
    return "".join(out)


def _sha256sum(args: list[str], value: Any) -> Any:
    _no_args(args)
    return hashlib.sha256(_want_str(value).encode()).hexdigest()


def _json_path(args: list[str], value: Any) -> Any:
    if not args:
        raise ModifierError("needs a template, e.g. jsonPath {.username}")
    data = value
    if isinstance(value, str):
        try:
            data = json.loads(value)
        except json.JSONDecodeError as e:
            raise ModifierError(f"the value is not JSON ({e.msg})") from e
    return json_path(" ".join(args), data)


MODIFIERS: dict[str, Callable[[list[str], Any], Any]] = {
    "base64encode": _base64encode,
    "base64decode": _base64decode,
    "jsonPath": _json_path,
    "jsonParse": _json_parse,
    "yamlParse": _yaml_parse,
    "indent": _indent,
    "sha256sum": _sha256sum,
}


# -- a small Kubernetes JSONPath -------------------------------------------------------------------------

_TOKEN = re.compile(r"""\.\.|\.(\*|[^.\[\]]+)|\[\s*(\*|-?\d+|'[^']*'|"[^"]*")\s*\]""")


def json_path(template: str, data: Any) -> str:
    """Evaluate a kubectl-style JSONPath template: text outside ``{}`` is copied, each ``{...}`` is replaced
    by its results (joined by spaces). Supported inside braces: ``$``, ``.field``, ``['field']``, ``[N]``
    (negative counts from the end), ``[*]`` and ``.*`` wildcards, and quoted literals ``{'text'}``.
    Not supported (an error says so): ``..``, filters ``[?()]``, slices ``[a:b]``, unions, ``range``.
    A missing field is an error, like AVP (which sets AllowMissingKeys(false))."""
    out: list[str] = []
    i = 0
    while i < len(template):
        start = template.find("{", i)
        if start < 0:
            out.append(template[i:])
            break
        out.append(template[i:start])
        end = template.find("}", start)
        if end < 0:
            raise ModifierError("unclosed '{' in the jsonPath template")
        expr = template[start + 1:end].strip()
        out.append(" ".join(_jp_text(v) for v in _jp_eval(expr, data)))
        i = end + 1
    return "".join(out)


def _jp_eval(expr: str, data: Any) -> list[Any]:
    if len(expr) >= 2 and expr[0] == expr[-1] and expr[0] in "'\"":
        return [expr[1:-1]]
    if expr.startswith("$"):
        expr = expr[1:]
    if expr and not expr.startswith((".", "[")):
        expr = "." + expr
    results = [data]
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None or m.group(0) == "..":
            raise ModifierError(f"unsupported jsonPath expression {{{expr}}} (supported: .field, ['field'], "
                                "[N], [*])")
        pos = m.end()
        step = m.group(1) if m.group(1) is not None else m.group(2)
        if step is None:
            continue
        nxt: list[Any] = []
        for r in results:
            nxt.extend(_jp_step(r, step, expr))
        results = nxt
    return results


def _jp_step(node: Any, step: str, expr: str) -> list[Any]:
    if step == "*":
        if isinstance(node, dict):
            return list(node.values())
        if isinstance(node, list):
            return list(node)
        raise ModifierError(f"{{{expr}}}: wildcard on {_type_name(node)}")
    if re.fullmatch(r"-?\d+", step):
        if not isinstance(node, list):
            raise ModifierError(f"{{{expr}}}: index [{step}] on {_type_name(node)}")
        idx = int(step)
        if not -len(node) <= idx < len(node):
            raise ModifierError(f"{{{expr}}}: index [{step}] is out of range")
        return [node[idx]]
    name = step[1:-1] if step[:1] in "'\"" and len(step) >= 2 else step
    if not isinstance(node, dict) or name not in node:
        raise ModifierError(f"{{{expr}}}: field {name!r} not found")
    return [node[name]]


def _jp_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return "<nil>"
    return _stringify(v)



def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)

