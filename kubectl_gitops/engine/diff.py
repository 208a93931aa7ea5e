"""Desired versus live: normalise, compare, attribute drift, mask -> one ``Change`` per object.

Pure: plain dicts in, plain data out; no I/O and no Kubernetes client. ``ops`` fetches live objects
and server-side apply dry runs ("merged") and hands them here; ``cli.diff_view`` renders the result.

The questions this module answers, in the order a diff asks them:

1. **Does this object need a dry run at all?** ``may_differ(desired, live)``. A server-side apply
   changes nothing when (a) every field we send already has that value in the live object and
   (b) the set of fields our field manager owns (``metadata.managedFields``, operation ``Apply``)
   is exactly the set of fields we send: a field dropped from git but still owned by us would be
   *removed* by the apply, so it is a change even though (a) holds. Anything we cannot be sure of
   (a ``null``, a list item we cannot map to its ``k:``/``v:`` entry, ``"1"`` vs ``1``) answers
   "maybe": a dry run is never wrong, only slower.

2. **What would change?** ``classify(desired, live, merged)``. Both sides are normalised (no
   managedFields, resourceVersion, uid, generation, creationTimestamp, status, our source-commit
   annotation) and the user's ignore rules are applied to both; equal means UNCHANGED.

3. **Who made the live object differ?** ``drift(live, merged)``: for every field that differs,
   the manager (other than us) that owns it in live ``managedFields``, with its operation and time:
   ``spec.replicas: changed by kubectl-edit (Update) 2h ago``.

4. **Nothing secret leaves**: ``mask_secrets`` replaces Secret ``data``/``stringData`` values and
   the ``kubectl.kubernetes.io/last-applied-configuration`` annotation (any kind) with ``***``, or
   ``*** (before)`` / ``*** (after)`` when the value changed, as kubectl does; ``mask_provenance`` does
   the same for every field, in any kind, whose desired value came from a secret (``Manifest.secret_fields``:
   sops-encrypted leaves, substituted placeholders), and ``provenance_warnings`` names the fields that show
   a secret's value without having come from a secret (shown, never silently masked). ``Change.before`` and
   ``Change.after`` are always masked; ``Change.desired`` (plaintext) is kept out of ``repr``.

managedFields primer (``fieldsV1``, structured-merge-diff's encoding of a set of field paths)::

    f:spec:                          # map field "spec"
      f:replicas: {}                 # a leaf (or an atomic struct/list owned as a whole)
      f:template: {f:spec: {f:containers:
        k:{"name":"web"}:            # an associative-list item, by its key fields
          .: {}                      # "." marks the item itself as owned
          f:image: {}
      }}}
      f:finalizers: {v:"x": {}}     # a set item, by value;   i:<n> an item by index

Ignore rules are Argo CD's ``ignoreDifferences`` entries (group/kind/name/namespace, globs allowed,
with ``jsonPointers``, ``managedFieldsManagers`` and a safe subset of ``jqPathExpressions``).
Unlike Argo CD (argo-cd#7820) they also apply to sync: see ``respect_ignore_rules``.
``argocd.argoproj.io/compare-options: IgnoreExtraneous`` works as in Argo CD: a live object that
would be pruned is listed but not counted as a difference.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kubectl_gitops import FIELD_MANAGER
from kubectl_gitops.errors import InvalidInputError
from kubectl_gitops.model import (
    ANN_COMPARE_OPTIONS,
    ANN_LAST_APPLIED,
    ANN_SOURCE_COMMIT,
    Manifest,
    Obj,
    ResourceKey,
    split_api_version,
)
from kubectl_gitops.untrusted import saferegex

__all__ = [
    "FIELD_MANAGER", "MASK", "MASK_AFTER", "MASK_BEFORE", "Change", "Drift", "IgnoreRule", "Op", "classify",
    "compare_options", "deletion", "drift", "load_ignore_rules", "mask_provenance", "mask_secrets", "may_differ",
    "normalize", "path_string", "provenance_warnings", "respect_ignore_rules", "strip_managed_by",
]

MASK = "***"
MASK_BEFORE = "*** (before)"
MASK_AFTER = "*** (after)"

# metadata fields the server maintains: never part of what a sync changes
SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink",
                   "deletionGracePeriodSeconds")


class Op(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Drift:
    """A field whose live value was set by another field manager, and a sync would change."""

    path: str  # "spec.replicas", "spec.template.spec.containers[name=web].image"
    manager: str
    operation: str  # Apply | Update
    time: str | None  # RFC 3339, from managedFields

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "manager": self.manager, "operation": self.operation, "time": self.time}


# --- copying and comparing plain JSON trees --------------------------------------------------------

_MISSING: Any = object()


def _copy(value: Any) -> Any:
    """Deep copy of a JSON tree; several times faster than copy.deepcopy and never shares nodes."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps JSON types apart: ``1 != "1"``, ``1 != 1.0``, ``True != 1``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# --- field paths (managedFields) ------------------------------------------------------------------

Seg = tuple[str, Any]  # ("f", name) | ("k", {key fields}) | ("v", value) | ("i", index)
FieldPath = tuple[Seg, ...]


def _parse_member(member: str) -> Seg:
    kind, sep, rest = member.partition(":")
    if not sep:
        raise ValueError(f"bad fieldsV1 member {member!r}")
    if kind == "f":
        return ("f", rest)
    if kind == "k":
        key = json.loads(rest)
        if not isinstance(key, dict):
            raise ValueError(f"bad fieldsV1 key {member!r}")
        return ("k", key)
    if kind == "v":
        return ("v", json.loads(rest))
    if kind == "i":
        return ("i", int(rest))
    raise ValueError(f"bad fieldsV1 member {member!r}")


def _owned_paths(fields: Any, prefix: FieldPath = ()) -> Iterator[FieldPath]:
    """Leaf paths of a fieldsV1 set. A list item owned only as a whole (``{".": {}}``) is a leaf."""
    if not isinstance(fields, dict):
        raise ValueError("fieldsV1 node is not a map")
    for member, child in fields.items():
        if member == ".":
            continue
        seg = _parse_member(member)
        path = (*prefix, seg)
        if not isinstance(child, dict):
            raise ValueError(f"fieldsV1 member {member!r} is not a map")
        if not child or (seg[0] != "f" and set(child) == {"."}):
            yield path
        else:
            yield from _owned_paths(child, path)


def _entry_paths(entry: dict[str, Any]) -> list[FieldPath]:
    """Leaf paths a managedFields entry owns; [] when its fieldsV1 cannot be read (nothing is claimed then)."""
    try:
        return list(_owned_paths(entry.get("fieldsV1") or {}))
    except (ValueError, TypeError):
        return []


def _key_matches(item: Any, key: dict[str, Any]) -> bool:
    return isinstance(item, dict) and all(k in item and _same(item[k], v) for k, v in key.items())


def _find_item(items: list[Any], seg: Seg) -> int | None:
    kind, arg = seg
    if kind == "k":
        return next((i for i, item in enumerate(items) if _key_matches(item, arg)), None)
    if kind == "v":
        return next((i for i, item in enumerate(items) if _same(item, arg)), None)
    if kind == "i":
        return arg if 0 <= arg < len(items) else None
    return None


def _resolve(obj: Any, path: FieldPath) -> Any:
    """The value at a managedFields path, or ``_MISSING``."""
    cur = obj
    for seg in path:
        if seg[0] == "f":
            if not isinstance(cur, dict) or seg[1] not in cur:
                return _MISSING
            cur = cur[seg[1]]
        else:
            if not isinstance(cur, list):
                return _MISSING
            i = _find_item(cur, seg)
            if i is None:
                return _MISSING
            cur = cur[i]
    return cur


def _remove(obj: Any, path: FieldPath) -> None:
    """Delete the value at a managedFields path, if present."""
    if not path:
        return
    parent = _resolve(obj, path[:-1])
    seg = path[-1]
    if seg[0] == "f":
        if isinstance(parent, dict):
            parent.pop(seg[1], None)
    elif isinstance(parent, list):
        i = _find_item(parent, seg)
        if i is not None:
            del parent[i]


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")
_PLAIN = re.compile(r"^[A-Za-z0-9_.:/@+-]+$")


def _scalar_text(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.match(value):
        return value
    return json.dumps(value, sort_keys=True)


def path_string(path: FieldPath) -> str:
    """``spec.template.spec.containers[name=web].image``; ``metadata.labels["app.kubernetes.io/name"]``;
    ``ports[containerPort=80,protocol=TCP]``; set items ``finalizers[=example.com/x]``; indices ``[0]``."""
    out = ""
    for kind, arg in path:
        if kind == "f":
            out += (("." if out else "") + arg) if _IDENT.match(arg) else f"[{json.dumps(arg)}]"
        elif kind == "k":
            out += "[" + ",".join(f"{k}={_scalar_text(v)}" for k, v in arg.items()) + "]"
        elif kind == "v":
            out += f"[={_scalar_text(arg)}]"
        else:
            out += f"[{arg}]"
    return out


def _managed_fields(obj: Obj | None) -> list[dict[str, Any]]:
    if not obj:
        return []
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return [e for e in entries if isinstance(e, dict)]


# --- JSON pointers (RFC 6901) and the jq subset -----------------------------------------------------

Token = str | int
Location = tuple[Token, ...]  # keys and list indices from the root


def _pointer_tokens(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        raise ValueError("a JSON pointer starts with '/', e.g. /spec/replicas")
    tokens = pointer[1:].split("/")
    for t in tokens:
        if re.search(r"~(?![01])", t):
            raise ValueError("'~' must be escaped as ~0 ('~') or ~1 ('/')")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _pointer_location(obj: Any, pointer: str) -> Location | None:
    """Concrete location of a pointer in ``obj`` (list indices resolved), or None when absent."""
    loc: list[Token] = []
    cur = obj
    for t in _pointer_tokens(pointer):
        if isinstance(cur, dict) and t in cur:
            loc.append(t)
            cur = cur[t]
        elif isinstance(cur, list) and t.isdigit() and (t == "0" or not t.startswith("0")) and int(t) < len(cur):
            loc.append(int(t))
            cur = cur[int(t)]
        else:
            return None
    return tuple(loc)


def _get_location(obj: Any, loc: Location) -> Any:
    cur = obj
    for t in loc:
        in_map = isinstance(cur, dict) and isinstance(t, str) and t in cur
        in_list = isinstance(cur, list) and isinstance(t, int) and 0 <= t < len(cur)
        if not (in_map or in_list):
            return _MISSING
        cur = cur[t]  # type: ignore[index]
    return cur


def _delete_locations(obj: Any, locations: list[Location]) -> None:
    """Delete several locations; deepest and highest list index first so the others stay valid."""
    def sort_key(loc: Location) -> tuple[tuple[int, Any], ...]:
        return tuple((1, t) if isinstance(t, int) else (0, t) for t in loc)

    for loc in sorted(set(locations), key=sort_key, reverse=True):
        if not loc:
            continue
        parent = _get_location(obj, loc[:-1])
        last = loc[-1]
        if isinstance(parent, dict) and isinstance(last, str):
            parent.pop(last, None)
        elif isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
            del parent[last]


class _Jq:
    """A safe subset of jq path expressions, enough for Argo CD's documented ignoreDifferences uses::

        .spec.replicas          .metadata.annotations."example.com/x"     .metadata.labels["a/b"]
        .spec.containers[0]     .spec.template.spec.initContainers[] | select(.name == "istio-init")
        .spec.rules[] | select(.host | startswith("tmp-")) | .http

    Stages are joined by ``|``; a stage is a path (``.a``, ``."a"``, ``["a"]``, ``[0]``, ``[]``,
    optional ``?``) or ``select(PATH == LIT)``, ``!=``, or ``select(PATH | startswith/endswith/
    contains/test(STRING))``. Evaluation yields locations; the rule deletes them (jq's ``del``).
    """

    _TOKEN = re.compile(r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|[.\[\]|()?])
    )""", re.VERBOSE)
    FUNCS: dict[str, Callable[[str, str], bool]] = {
        "startswith": lambda s, a: s.startswith(a),
        "endswith": lambda s, a: s.endswith(a),
        "contains": lambda s, a: a in s,
        "test": lambda s, a: saferegex.search(a, s, "test() pattern"),
    }

    def __init__(self, expr: str):
        self.expr = expr
        self.tokens: list[tuple[str, Any]] = []
        pos = 0
        text = expr.strip()
        while pos < len(text):
            m = self._TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(f"unexpected {text[pos:pos + 10]!r}")
            pos = m.end()
            kind = m.lastgroup or ""
            value: Any = m.group(kind)
            if kind in ("str", "num"):
                value = json.loads(value)
            self.tokens.append((kind, value))
        self.i = 0
        self.stages = self._pipeline()
        if self.i != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.i][1]!r}")

    # parsing
    def _peek(self) -> tuple[str, Any]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", None)

    def _take(self, kind: str, value: Any = None) -> Any:
        k, v = self._peek()
        if k != kind or (value is not None and v != value):
            want = value if value is not None else kind
            raise ValueError(f"expected {want!r}, found {v if k != 'end' else 'the end'!r}")
        self.i += 1
        return v

    def _pipeline(self) -> list[tuple[str, Any]]:
        stages = [self._stage()]
        while self._peek() == ("op", "|"):
            self._take("op", "|")
            stages.append(self._stage())
        return stages

    def _stage(self) -> tuple[str, Any]:
        if self._peek() == ("ident", "select"):
            self._take("ident")
            self._take("op", "(")
            path = self._path()
            k, v = self._peek()
            if (k, v) in (("op", "=="), ("op", "!=")):
                self._take("op")
                lit_kind, lit = self._peek()
                if lit_kind == "ident" and lit in ("true", "false", "null"):
                    lit = {"true": True, "false": False, "null": None}[lit]
                elif lit_kind not in ("str", "num"):
                    raise ValueError("select() compares with a string, number, true, false or null")
                self.i += 1
                cond: tuple[Any, ...] = (v, path, lit)
            elif (k, v) == ("op", "|"):
                self._take("op", "|")
                fn = self._take("ident")
                if fn not in self.FUNCS:
                    raise ValueError(f"{fn}() is not supported (use one of {', '.join(self.FUNCS)})")
                self._take("op", "(")
                arg = self._take("str")
                self._take("op", ")")
                if fn == "test":  # RE2 (Go's syntax, as gojq): linear time whatever the pattern
                    try:
                        saferegex.compile(arg, "test() pattern")
                    except saferegex.RegexError as e:
                        raise ValueError(f"{e} ({e.hint})") from e
                cond = (fn, path, arg)
            else:
                raise ValueError("select() takes PATH == VALUE, PATH != VALUE or PATH | startswith(...)")
            self._take("op", ")")
            return ("select", cond)
        return ("path", self._path())

    def _path(self) -> list[tuple[str, Any]]:
        if self._peek() != ("op", "."):
            raise ValueError("a path starts with '.'")
        steps: list[tuple[str, Any]] = []
        while True:
            k, v = self._peek()
            if (k, v) == ("op", "."):
                self.i += 1
                nk, nv = self._peek()
                if nk in ("ident", "str"):
                    self.i += 1
                    steps.append(("key", nv))
                elif (nk, nv) == ("op", "["):
                    continue
                elif not steps and (nk == "end" or (nk, nv) in (("op", "|"), ("op", ")"), ("op", "=="),
                                                               ("op", "!="))):
                    break  # "." alone: the input itself
                else:
                    raise ValueError(f"unexpected {nv if nk != 'end' else 'end'!r} after '.'")
            elif (k, v) == ("op", "["):
                self.i += 1
                nk, nv = self._peek()
                if (nk, nv) == ("op", "]"):
                    steps.append(("each", None))
                elif nk == "str" or (nk == "num" and isinstance(nv, int)):
                    steps.append(("key" if nk == "str" else "index", nv))
                    self.i += 1
                else:
                    raise ValueError("[...] takes a string, an integer or nothing")
                self._take("op", "]")
            elif (k, v) == ("op", "?"):
                self.i += 1  # errors are suppressed anyway: a missing path matches nothing
            else:
                return steps
        return steps

    # evaluation
    @staticmethod
    def _walk(obj: Any, base: Location, steps: list[tuple[str, Any]]) -> Iterator[Location]:
        if not steps:
            yield base
            return
        (kind, arg), rest = steps[0], steps[1:]
        cur = _get_location(obj, base)
        if kind == "key":
            if isinstance(cur, dict) and arg in cur:
                yield from _Jq._walk(obj, (*base, arg), rest)
        elif kind == "index":
            if isinstance(cur, list):
                i = arg if arg >= 0 else len(cur) + arg
                if 0 <= i < len(cur):
                    yield from _Jq._walk(obj, (*base, i), rest)
        elif isinstance(cur, list):
            for i in range(len(cur)):
                yield from _Jq._walk(obj, (*base, i), rest)
        elif isinstance(cur, dict):
            for k in list(cur):
                yield from _Jq._walk(obj, (*base, k), rest)

    def locations(self, obj: Any) -> list[Location]:
        current: list[Location] = [()]
        for kind, arg in self.stages:
            if kind == "path":
                current = [loc for base in current for loc in self._walk(obj, base, arg)]
            else:
                op, path, lit = arg
                kept = []
                for loc in current:
                    values = [_get_location(obj, p) for p in self._walk(obj, loc, path)]
                    value = values[0] if values else None
                    if op == "==":
                        ok = _same(value, lit) or (isinstance(lit, (int, float)) and value == lit
                                                    and not isinstance(value, bool))
                    elif op == "!=":
                        ok = not _same(value, lit)
                    else:
                        ok = isinstance(value, str) and self.FUNCS[op](value, lit)
                    if ok:
                        kept.append(loc)
                current = kept
        return [loc for loc in current if loc]


# --- ignore rules ---------------------------------------------------------------------------------

def _glob(pattern: str, value: str) -> bool:
    return pattern in ("", "*") or fnmatch.fnmatchcase(value, pattern)


_IGNORE_EXAMPLES = {"jsonPointers": "/spec/replicas", "managedFieldsManagers": "kube-controller-manager",
                    "jqPathExpressions": "'.spec.template.spec.containers[].image'"}


@dataclass(frozen=True)
class IgnoreRule:
    """One Argo CD ``ignoreDifferences`` entry. ``group``, ``kind``, ``name`` and ``namespace`` are
    globs; ``*`` (the default) matches anything, ``""`` as group is the core API group."""

    group: str = "*"
    kind: str = "*"
    name: str = "*"
    namespace: str = "*"
    json_pointers: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()

    KEYS = {"group": "group", "kind": "kind", "name": "name", "namespace": "namespace",
            "jsonPointers": "json_pointers", "managedFieldsManagers": "managed_fields_managers",
            "jqPathExpressions": "jq_path_expressions"}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "ignore rule") -> IgnoreRule:
        """Validate and convert one entry with Argo CD's keys. Errors name ``where``."""
        if not isinstance(d, dict):
            raise InvalidInputError(f"{where}: expected a mapping with kind and jsonPointers, "
                                    f"got {type(d).__name__}",
                                    hint="see Argo CD's ignoreDifferences: - {group: apps, kind: Deployment, "
                                         "jsonPointers: [/spec/replicas]}")
        unknown = sorted(set(d) - set(cls.KEYS))
        if unknown:
            raise InvalidInputError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
                                    hint=f"allowed keys: {', '.join(cls.KEYS)}")
        values: dict[str, Any] = {}
        for key in ("group", "kind", "name", "namespace"):
            if key in d:
                if not isinstance(d[key], str):
                    raise InvalidInputError(f"{where}: {key} must be a string, got {d[key]!r}",
                                            hint=f'quote it: {key}: "{d[key]}"')
                values[key] = d[key]
        if "kind" not in values:
            raise InvalidInputError(f"{where}: kind is required",
                                    hint='use kind: "*" to match every kind (Argo CD requires kind too)')
        for key in ("jsonPointers", "managedFieldsManagers", "jqPathExpressions"):
            items = d.get(key)
            if items is None:
                continue
            if not isinstance(items, list) or not all(isinstance(x, str) and x for x in items):
                raise InvalidInputError(f"{where}: {key} must be a list of non-empty strings",
                                        hint=f"write it as a YAML list, e.g. {key}: [{_IGNORE_EXAMPLES[key]}]")
            values[cls.KEYS[key]] = tuple(items)
        for p in values.get("json_pointers", ()):
            try:
                _pointer_tokens(p)
            except ValueError as e:
                raise InvalidInputError(f"{where}: jsonPointers entry {p!r}: {e}",
                                        hint="a JSON pointer starts with '/', e.g. /spec/replicas") from None
        for expr in values.get("jq_path_expressions", ()):
            try:
                _jq(expr)
            except ValueError as e:
                raise InvalidInputError(
                    f"{where}: jqPathExpressions entry {expr!r} is not supported: {e}",
                    hint="kubectl-gitops evaluates a safe subset of jq (paths, [], select(.f == \"v\")); "
                         "use jsonPointers for anything else") from None
        rule = cls(**values)
        if not rule.json_pointers and not rule.managed_fields_managers and not rule.jq_path_expressions:
            raise InvalidInputError(f"{where}: the rule ignores nothing",
                                    hint="add jsonPointers, managedFieldsManagers or jqPathExpressions")
        return rule

    def matches(self, key: ResourceKey) -> bool:
        group_ok = self.group == key.group if self.group == "" else _glob(self.group, key.group)
        return (group_ok and _glob(self.kind, key.kind) and _glob(self.name, key.name)
                and _glob(self.namespace, key.namespace))

    def to_dict(self) -> dict[str, Any]:
        """Argo CD's shape again (for ``--verbose`` and the JSON output)."""
        out: dict[str, Any] = {"group": self.group, "kind": self.kind}
        if self.name != "*":
            out["name"] = self.name
        if self.namespace != "*":
            out["namespace"] = self.namespace
        for attr, key in (("json_pointers", "jsonPointers"), ("managed_fields_managers", "managedFieldsManagers"),
                          ("jq_path_expressions", "jqPathExpressions")):
            if getattr(self, attr):
                out[key] = list(getattr(self, attr))
        return out


_JQ_CACHE: dict[str, _Jq] = {}


def _jq(expr: str) -> _Jq:
    compiled = _JQ_CACHE.get(expr)
    if compiled is None:
        compiled = _JQ_CACHE[expr] = _Jq(expr)
    return compiled


def load_ignore_rules(data: Any, source: str) -> list[IgnoreRule]:
    """Rules from a parsed YAML document: a list of entries, a mapping with ``ignoreDifferences``, or a
    whole Argo CD ``Application`` (its ``spec.ignoreDifferences``). Errors name ``source`` and the entry."""
    if data is None:
        return []
    if isinstance(data, dict):
        if data.get("kind") == "Application" and isinstance(data.get("spec"), dict):
            data = data["spec"].get("ignoreDifferences") or []
        elif "ignoreDifferences" in data:
            data = data["ignoreDifferences"] or []
        else:
            raise InvalidInputError(f"{source}: expected a list of ignoreDifferences entries",
                                    hint="write '- {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}' "
                                         "or a mapping with an ignoreDifferences list")
    if not isinstance(data, list):
        raise InvalidInputError(f"{source}: expected a list of ignoreDifferences entries, got {type(data).__name__}",
                                hint="write '- {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}'")
    return [IgnoreRule.from_dict(entry, f"{source}: ignoreDifferences[{i}]") for i, entry in enumerate(data)]


def _key_of(obj: Obj) -> ResourceKey:
    return ResourceKey.of(obj)


def _matching(rules: Sequence[IgnoreRule], obj: Obj | None) -> list[IgnoreRule]:
    if not rules or not obj:
        return []
    key = _key_of(obj)
    return [r for r in rules if r.matches(key)]


def _ignored_locations(obj: Obj, rules: Sequence[IgnoreRule]) -> list[Location]:
    locs: list[Location] = []
    for rule in rules:
        for pointer in rule.json_pointers:
            loc = _pointer_location(obj, pointer)
            if loc:
                locs.append(loc)
        for expr in rule.jq_path_expressions:
            locs.extend(_jq(expr).locations(obj))
    return locs


# --- normalisation --------------------------------------------------------------------------------

def normalize(obj: Obj, rules: Sequence[IgnoreRule] = ()) -> Obj:
    """A copy without what the server maintains (managedFields, resourceVersion, uid, generation,
    creationTimestamp, selfLink, deletionGracePeriodSeconds, ``status``) and without our source-commit
    annotation; empty ``annotations``/``labels`` left behind are dropped. Then the json pointers and jq
    paths of the rules matching this object are deleted (a path that does not exist is no error)."""
    out = _copy(obj)
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for k in SERVER_METADATA:
            meta.pop(k, None)
        ann = meta.get("annotations")
        if isinstance(ann, dict):
            ann.pop(ANN_SOURCE_COMMIT, None)
    matched = _matching(rules, obj)
    if matched:
        _delete_locations(out, _ignored_locations(out, matched))
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for k in ("annotations", "labels"):
            if k in meta and not meta[k]:
                del meta[k]
    return out


def strip_managed_by(before: Obj, after: Obj, live_managed_fields: list[dict[str, Any]],
                     managers: Sequence[str]) -> tuple[Obj, Obj]:
    """The ``managedFieldsManagers`` rule: a field owned in live by one of ``managers`` whose value
    differs between the sides is removed from both (a field owned by an HPA or an operator stops showing
    up). Fields those managers own with equal values stay, so the diff keeps its context."""
    b, a = _copy(before), _copy(after)
    if not managers:
        return b, a
    wanted = set(managers)
    for entry in live_managed_fields:
        if entry.get("manager") not in wanted:
            continue
        for path in _entry_paths(entry):
            if not _same(_resolve(b, path), _resolve(a, path)):
                _remove(b, path)
                _remove(a, path)
    return b, a


def _overlay(live: Any, desired: Any) -> Any:
    """A local stand-in for a dry run: ``desired`` laid over ``live``. Maps merge key by key, lists of
    named maps merge by name (other lists of maps of the same length item by item), anything else is
    replaced. Used only when the server could not be asked."""
    if isinstance(live, dict) and isinstance(desired, dict):
        out = _copy(live)
        for k, v in desired.items():
            out[k] = _overlay(live[k], v) if k in live else _copy(v)
        return out
    if isinstance(live, list) and isinstance(desired, list) and desired \
            and all(isinstance(x, dict) for x in [*live, *desired]):
        if all("name" in x for x in [*live, *desired]):
            by_name = {x["name"]: x for x in live}
            return [_overlay(by_name[x["name"]], x) if x["name"] in by_name else _copy(x) for x in desired]
        if len(live) == len(desired):
            return [_overlay(a, b) for a, b in zip(live, desired, strict=True)]
    return _copy(desired)


# --- masking --------------------------------------------------------------------------------------

def _is_secret(obj: Obj | None) -> bool:
    if obj is None or obj.get("kind") != "Secret":
        return False
    return split_api_version(str(obj.get("apiVersion", "")))[0] == ""


class _Masker:
    """kubectl style: ``***``, or ``*** (before)``/``*** (after)`` when a value changed. Argo CD style:
    ``++++++++`` with one more ``+`` per distinct value, so equal values get equal masks."""

    def __init__(self, style: str):
        if style not in ("kubectl", "argo"):
            raise ValueError(f"unknown mask style {style!r}")
        self.style = style
        self.seen: list[Any] = []

    def _argo(self, value: Any) -> str:
        for i, v in enumerate(self.seen):
            if _same(v, value):
                return "+" * (8 + i)
        self.seen.append(value)
        return "+" * (8 + len(self.seen) - 1)

    def pair(self, before: Any, after: Any) -> tuple[Any, Any]:
        if self.style == "argo":
            return (_MISSING if before is _MISSING else self._argo(before),
                    _MISSING if after is _MISSING else self._argo(after))
        if before is not _MISSING and after is not _MISSING and not _same(before, after):
            return MASK_BEFORE, MASK_AFTER
        return (_MISSING if before is _MISSING else MASK, _MISSING if after is _MISSING else MASK)


def _get(obj: Obj | None, path: Sequence[str]) -> Any:
    cur: Any = obj
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return _MISSING
        cur = cur[k]
    return cur


def _set(obj: Obj | None, path: Sequence[str], value: Any) -> None:
    if value is _MISSING or obj is None:
        return
    cur: Any = obj
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value


def _mask_value(b: Obj | None, a: Obj | None, path: Sequence[str], masker: _Masker) -> None:
    bv, av = _get(b, path), _get(a, path)
    if bv is _MISSING and av is _MISSING:
        return
    mb, ma = masker.pair(bv, av)
    _set(b, path, mb)
    _set(a, path, ma)


def _mask_map(b: Obj | None, a: Obj | None, path: Sequence[str], masker: _Masker) -> None:
    bm, am = _get(b, path), _get(a, path)
    if bm is _MISSING and am is _MISSING:
        return
    if not (isinstance(bm, dict) or bm is _MISSING or bm is None) or \
            not (isinstance(am, dict) or am is _MISSING or am is None):
        _mask_value(b, a, path, masker)  # not a map: mask it whole
        return
    bm = bm if isinstance(bm, dict) else {}
    am = am if isinstance(am, dict) else {}
    for k in list(dict.fromkeys([*bm, *am])):
        mb, ma = masker.pair(bm.get(k, _MISSING), am.get(k, _MISSING))
        if mb is not _MISSING:
            bm[k] = mb
        if ma is not _MISSING:
            am[k] = ma


def mask_secrets(before: Obj | None, after: Obj | None, *, style: str = "kubectl",
                 pointers: Sequence[str] = ()) -> tuple[Obj | None, Obj | None]:
    """Copies of both sides with every secret value masked; keys are kept so the diff still shows which
    entries were added, removed or changed. Masked: Secret ``data`` and ``stringData``, the
    last-applied-configuration annotation on any kind, and any extra ``pointers`` (RFC 6901) a user marks.
    ``style="argo"`` gives Argo CD's ``++++++++`` masks instead."""
    b = _copy(before) if before is not None else None
    a = _copy(after) if after is not None else None
    return _mask_in_place(b, a, style=style, pointers=pointers)


def _mask_in_place(b: Obj | None, a: Obj | None, *, style: str = "kubectl",
                   pointers: Sequence[str] = ()) -> tuple[Obj | None, Obj | None]:
    masker = _Masker(style)
    if _is_secret(b) or _is_secret(a):
        for fld in ("data", "stringData"):
            _mask_map(b, a, (fld,), masker)
    _mask_value(b, a, ("metadata", "annotations", ANN_LAST_APPLIED), masker)
    for pointer in pointers:  # map paths only; a pointer through a list masks nothing
        _mask_value(b, a, _pointer_tokens(pointer), masker)
    return b, a


# Masking by provenance (see kubectl_gitops.redact and secrets.provenance): the fields of the desired object
# whose values came from a secret (sops-encrypted leaves, substituted placeholders) are masked on both sides,
# in any kind; the same value anywhere else is shown, with a warning. Secret data/stringData stay fully masked.

_LIST_KEYS = ("name", "containerPort", "mountPath", "devicePath", "key", "ip", "port", "type")


def _locate(target: Any, desired: Any, path: tuple[Any, ...]) -> Location | None:
    """Where a desired field is in ``target`` (live or dry-run result): list items are found by their key
    field (``name``, ``containerPort``, ...) as server-side apply merges them, else by position."""
    loc: list[Token] = []
    cur_t, cur_d = target, desired
    for seg in path:
        if isinstance(seg, int):
            if not isinstance(cur_t, list) or not isinstance(cur_d, list) or not 0 <= seg < len(cur_d):
                return None
            item = cur_d[seg]
            idx: int | None = None
            if isinstance(item, dict):
                for k in _LIST_KEYS:
                    if isinstance(item.get(k), (str, int)) and not isinstance(item.get(k), bool):
                        hits = [i for i, x in enumerate(cur_t) if isinstance(x, dict) and _same(x.get(k), item[k])]
                        if len(hits) == 1:
                            idx = hits[0]
                            break
            if idx is None:
                if seg >= len(cur_t):
                    return None
                idx = seg
            loc.append(idx)
            cur_t, cur_d = cur_t[idx], item
        else:
            if not isinstance(cur_t, dict) or seg not in cur_t or not isinstance(cur_d, dict) or seg not in cur_d:
                return None
            loc.append(seg)
            cur_t, cur_d = cur_t[seg], cur_d[seg]
    return tuple(loc)


def _location_string(loc: Sequence[Any]) -> str:
    out = ""
    for t in loc:
        if isinstance(t, int):
            out += f"[{t}]"
        else:
            out += (("." if out else "") + t) if _IDENT.match(t) else f"[{json.dumps(t)}]"
    return out


def _set_location(obj: Any, loc: Location, value: Any) -> None:
    parent = _get_location(obj, loc[:-1])
    parent[loc[-1]] = value


def mask_provenance(b: Obj | None, a: Obj | None, desired: Obj, fields: frozenset[tuple[Any, ...]], *,
                    style: str = "kubectl") -> list[str]:
    """Mask, in place, the fields of ``b`` (live) and ``a`` (after) that hold a secret-sourced field of
    ``desired``; returns their paths (sorted). Identity fields are never among ``fields``."""
    masker = _Masker(style)
    masked: set[str] = set()
    for path in sorted(fields, key=lambda p: tuple(str(x) for x in p)):
        if not path:
            continue
        lb = _locate(b, desired, path) if b is not None else None
        la = _locate(a, desired, path) if a is not None else None
        bv = _get_location(b, lb) if lb else _MISSING
        av = _get_location(a, la) if la else _MISSING
        if bv is _MISSING and av is _MISSING:
            continue
        mb, ma = masker.pair(bv, av)
        if lb and mb is not _MISSING:
            _set_location(b, lb, mb)
        if la and ma is not _MISSING:
            _set_location(a, la, ma)
        masked.add(_location_string(la or lb or path))
    return sorted(masked)


def _strings_of(node: Any, loc: tuple[Token, ...] = ()) -> Iterator[tuple[tuple[Token, ...], str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings_of(v, (*loc, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings_of(v, (*loc, i))
    elif isinstance(node, str):
        yield loc, node


def provenance_warnings(key: ResourceKey, b: Obj | None, a: Obj | None) -> list[str]:
    """One warning per field of the (masked) sides that holds a value equal to a registered secret value
    (in any printed form) although it did not come from a secret: shown unmasked, so that a pull request
    cannot hide a change by encrypting its text elsewhere."""
    from kubectl_gitops.redact import contains_secret_value

    where: dict[str, set[str]] = {}
    for side, obj in (("live", b), ("after", a)):
        for loc, text in _strings_of(obj):
            if text not in (MASK, MASK_BEFORE, MASK_AFTER) and contains_secret_value(text):
                where.setdefault(_location_string(loc), set()).add(side)
    out = []
    for path, sides in sorted(where.items()):
        only = " (live object)" if sides == {"live"} else ""
        out.append(f"value equal to a decrypted secret appears in {path} of {key}{only}, which is not from a "
                   "secret; shown unmasked")
    return out


def _mask_change(desired: Manifest | None, b: Obj | None, a: Obj | None) -> tuple[Obj | None, Obj | None,
                                                                                   list[str], list[str]]:
    """Both sides masked (Secret data, last-applied, provenance) and the provenance warnings."""
    b, a = _mask_in_place(b, a)
    masked = mask_provenance(b, a, desired.obj, desired.secret_fields) if desired and desired.secret_fields else []
    key = desired.key if desired is not None else ResourceKey.of(b or a or {})
    return b, a, masked, provenance_warnings(key, b, a)


# --- the fast path --------------------------------------------------------------------------------

class _Unsure(Exception):
    """Raised inside may_differ's walk: the answer is "maybe", so a dry run decides."""


def _trim_desired(desired: Obj) -> Obj:
    """What we own after an apply, as far as managedFields records it: no apiVersion/kind/name/namespace
    and no source-commit annotation."""
    out = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    meta = desired.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in ("name", "namespace")}
        ann = meta.get("annotations")
        if isinstance(ann, dict) and ANN_SOURCE_COMMIT in ann:
            ann = {k: v for k, v in ann.items() if k != ANN_SOURCE_COMMIT}
            if ann:
                meta["annotations"] = ann
            else:
                del meta["annotations"]
        if meta:
            out["metadata"] = meta
        else:
            del out["metadata"]
    return out


def _trim_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in fields.items() if k not in ("f:apiVersion", "f:kind")}
    meta = out.get("f:metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in ("f:name", "f:namespace")}
        ann = meta.get("f:annotations")
        if isinstance(ann, dict) and f"f:{ANN_SOURCE_COMMIT}" in ann:
            ann = {k: v for k, v in ann.items() if k != f"f:{ANN_SOURCE_COMMIT}"}
            if set(ann) - {"."}:
                meta["f:annotations"] = ann
            else:
                del meta["f:annotations"]
        if set(meta) - {"."}:
            out["f:metadata"] = meta
        else:
            del out["f:metadata"]
    return out


def _match_member(item: Any, index: int, members: dict[str, Any]) -> str:
    """The fieldsV1 member (``k:``/``v:``/``i:``) that stands for a desired list item; unsure -> raise."""
    if isinstance(item, dict):
        found = []
        for member, child in members.items():
            if not member.startswith("k:"):
                continue
            key = _parse_member(member)[1]
            # A key field the item leaves out was defaulted by the server (ports[].protocol): fine,
            # as long as our entry does not claim to own it.
            if all((k in item and _same(item[k], v)) or (k not in item and f"f:{k}" not in (child or {}))
                   for k, v in key.items()):
                found.append(member)
        if len(found) == 1:
            return found[0]
    elif isinstance(item, (str, int, float, bool)):
        found = [m for m in members if m.startswith("v:") and _same(_parse_member(m)[1], item)]
        if len(found) == 1:
            return found[0]
    if f"i:{index}" in members:
        return f"i:{index}"
    raise _Unsure


def _owned_equal(d: Any, live: Any, fields: Any) -> None:
    """Raise _Unsure unless ``d`` (desired) is within ``live`` and ``fields`` (our fieldsV1 node) owns
    exactly the fields of ``d``."""
    if d is None or live is _MISSING or not isinstance(fields, dict):
        raise _Unsure
    if not fields:  # a leaf: a scalar, or an atomic struct/list replaced as a whole
        if not _same(d, live):
            raise _Unsure
        return
    members = {k: v for k, v in fields.items() if k != "."}
    if isinstance(d, dict):
        if not d or not isinstance(live, dict) or any(not m.startswith("f:") for m in members):
            raise _Unsure
        if {m[2:] for m in members} != set(d):
            raise _Unsure
        for k, v in d.items():
            _owned_equal(v, live.get(k, _MISSING), members[f"f:{k}"])
        return
    if isinstance(d, list):
        if not d or not isinstance(live, list) or len(live) != len(d) or len(members) != len(d):
            raise _Unsure
        used: set[str] = set()
        for i, item in enumerate(d):
            member = _match_member(item, i, members)
            if member in used:
                raise _Unsure
            used.add(member)
            seg = _parse_member(member)
            if seg[0] == "k" and not _key_matches(live[i], seg[1]):
                raise _Unsure  # not at the same position in live: an apply would reorder
            if seg[0] == "v":
                if not _same(live[i], item) or set(members[member] or {}) - {"."}:
                    raise _Unsure
                continue
            _owned_equal(item, live[i], {k: v for k, v in members[member].items() if k != "."} or {})
        return
    raise _Unsure  # a scalar where managedFields records children


def may_differ(desired: Obj, live: Obj, field_manager: str = FIELD_MANAGER) -> bool:
    """False only when a server-side apply of ``desired`` by ``field_manager`` surely changes nothing:
    every field of ``desired`` has that value in ``live`` (maps key by key, lists element by element with
    the same length, scalars of the same JSON type), and the fields ``field_manager`` owns in live
    (managedFields, operation Apply) are exactly the fields of ``desired``. True whenever unsure."""
    if desired.get("apiVersion") != live.get("apiVersion") or desired.get("kind") != live.get("kind"):
        return True
    entries = [e for e in _managed_fields(live)
               if e.get("manager") == field_manager and e.get("operation") == "Apply" and not e.get("subresource")]
    if len(entries) > 1 or (entries and not isinstance(entries[0].get("fieldsV1"), dict)):
        return True
    try:
        trimmed = _trim_desired(desired)
        fields = _trim_fields(entries[0]["fieldsV1"]) if entries else {}
        if not trimmed:  # nothing but apiVersion/kind/name: we must own nothing either
            return bool(set(fields) - {"."})
        if not entries:
            return True
        _owned_equal(trimmed, live, fields)
    except (_Unsure, ValueError, TypeError, KeyError, AttributeError):
        return True
    return False


# --- drift ----------------------------------------------------------------------------------------

def _drift(before: Obj, after: Obj, managed_fields: list[dict[str, Any]], field_manager: str) -> list[Drift]:
    found: dict[str, Drift] = {}
    for entry in managed_fields:
        manager = str(entry.get("manager") or "")
        if manager == field_manager or not manager:
            continue
        for path in _entry_paths(entry):
            bv = _resolve(before, path)
            if bv is _MISSING or _same(bv, _resolve(after, path)):
                continue
            d = Drift(path_string(path), manager, str(entry.get("operation") or ""), entry.get("time"))
            old = found.get(d.path)
            if old is None or (d.time or "") > (old.time or ""):
                found[d.path] = d  # shared ownership: the latest writer
    return sorted(found.values(), key=lambda d: d.path)


def drift(live: Obj, merged: Obj, field_manager: str = FIELD_MANAGER) -> list[Drift]:
    """Fields that differ between (normalised) live and merged and that another manager set in live:
    who, how (Apply/Update) and when. Fields only we own are plain changes from git, not drift."""
    return _drift(normalize(live), normalize(merged), _managed_fields(live), field_manager)


# --- changes --------------------------------------------------------------------------------------

def compare_options(obj: Obj | None) -> set[str]:
    """The ``argocd.argoproj.io/compare-options`` values of an object (comma list)."""
    if not obj:
        return set()
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(ANN_COMPARE_OPTIONS)
    return {v.strip() for v in str(value or "").split(",") if v.strip()}


@dataclass
class Change:
    """What a sync would do to one object. ``before``/``after`` are normalised and masked: safe to print
    (both None for an object ``unchanged`` found equal without a dry run: there is nothing to show).
    ``desired`` carries the plaintext manifest for sync and is kept out of ``repr``."""

    key: ResourceKey
    op: Op
    desired: Manifest | None = field(repr=False)  # None for delete
    before: Obj | None  # normalised, masked live
    after: Obj | None  # normalised, masked dry-run result (or desired when no dry run was possible)
    drift: list[Drift] = field(default_factory=list)
    ignored_extraneous: bool = False  # compare-options IgnoreExtraneous: listed but not counted
    note: str = ""  # e.g. "not dry-run: namespace does not exist yet"
    masked_fields: list[str] = field(default_factory=list)  # fields masked because their value is from a secret
    warnings: list[str] = field(default_factory=list)  # a secret's value in a field not from a secret (shown)

    @property
    def changed(self) -> bool:
        """Counts as a difference: not unchanged and not an ignored extraneous object."""
        return self.op is not Op.UNCHANGED and not self.ignored_extraneous

    @property
    def api_version(self) -> str:
        if self.desired is not None:
            return self.desired.api_version
        for side in (self.after, self.before):
            if side and side.get("apiVersion"):
                return str(side["apiVersion"])
        return ""

    @property
    def version(self) -> str:
        return split_api_version(self.api_version)[1]

    @property
    def source(self) -> str | None:
        """``file:line`` of the desired object (None for a deletion)."""
        if self.desired is None:
            return None
        o = self.desired.origin
        return f"{o.path}:{o.line}" if o.line else o.path

    def to_json(self) -> dict[str, Any]:
        """The stable record documented in docs/diff-json.md (without the rendered diff)."""
        return {
            "op": self.op.value,
            "group": self.key.group,
            "version": self.version,
            "kind": self.key.kind,
            "namespace": self.key.namespace,
            "name": self.key.name,
            "source": self.source,
            "drift": [d.to_json() for d in self.drift],
            "ignoredExtraneous": self.ignored_extraneous,
            "note": self.note,
            # only when there are any (schema version 1 unchanged for objects without secrets)
            **({"maskedFields": list(self.masked_fields)} if self.masked_fields else {}),
            **({"warnings": list(self.warnings)} if self.warnings else {}),
        }


def classify(desired: Manifest, live: Obj | None, merged: Obj | None, rules: Sequence[IgnoreRule] = (),
             field_manager: str = FIELD_MANAGER) -> Change:
    """One desired object against the cluster. ``live`` None -> CREATE (``after`` = the dry-run result,
    else the manifest). Otherwise both sides are normalised with the matching rules and compared:
    equal -> UNCHANGED, else UPDATE with drift attribution. ``merged`` None with a live object (no dry
    run was possible) compares against the manifest laid over live, and says so in ``note``."""
    key = desired.key
    matched = _matching(rules, desired.obj)
    if live is None:
        after = normalize(merged if merged is not None else desired.obj, matched)
        _, masked, fields, warnings = _mask_change(desired, None, after)
        return Change(key, Op.CREATE, desired, None, masked, [], masked_fields=fields, warnings=warnings)
    note = ""
    if merged is None:
        merged = _overlay(live, desired.obj)
        note = "not dry-run: the manifest laid over the live object (server defaults not applied)"
    before = normalize(live, matched)
    after = before if merged is live else normalize(merged, matched)
    managers = [m for r in matched for m in r.managed_fields_managers]
    if managers and after is not before:
        before, after = strip_managed_by(before, after, _managed_fields(live), managers)
    if after is before or _same(before, after):
        masked, _, fields, warnings = _mask_change(desired, before, None)
        return Change(key, Op.UNCHANGED, desired, masked, masked, [], note=note, masked_fields=fields,
                      warnings=warnings)
    drifts = _drift(before, after, _managed_fields(live), field_manager)
    mb, ma, fields, warnings = _mask_change(desired, before, after)
    return Change(key, Op.UPDATE, desired, mb, ma, drifts, note=note, masked_fields=fields, warnings=warnings)


def unchanged(desired: Manifest) -> Change:
    """An object ``may_differ`` found unchanged without a dry run. Unchanged objects are never shown, so
    no sides are computed (normalising and masking 1,000 live objects costs a fifth of a no-op diff)."""
    return Change(desired.key, Op.UNCHANGED, desired, None, None, [])


def deletion(key: ResourceKey, live: Obj) -> Change:
    """A live object a prune would delete; with ``compare-options: IgnoreExtraneous`` it is listed but not
    counted (Argo CD's behaviour for extraneous objects)."""
    before, _, _, warnings = _mask_change(None, normalize(live), None)
    return Change(key, Op.DELETE, None, before, None, [],
                  ignored_extraneous="IgnoreExtraneous" in compare_options(live), warnings=warnings)


# --- the same rules for sync ----------------------------------------------------------------------

def respect_ignore_rules(desired: Obj, live: Obj | None, rules: Sequence[IgnoreRule]) -> Obj:
    """The object a sync should apply so that ignored fields are left as they are in the cluster:
    json pointer / jq fields take the live value (or are left out when live has none), and fields that a
    ``managedFieldsManagers`` manager owns in live are left out of the apply (server-side apply keeps the
    other manager's value). Returns a copy; ``desired`` is not changed."""
    out = _copy(desired)
    matched = _matching(rules, desired)
    if not matched:
        return out
    missing: list[Location] = []
    for loc in _ignored_locations(out, matched):  # only fields we send; list positions taken as aligned
        value = _get_location(live, loc) if live is not None else _MISSING
        if value is _MISSING:
            missing.append(loc)
        else:
            parent = _get_location(out, loc[:-1])
            parent[loc[-1]] = _copy(value)
    _delete_locations(out, missing)
    if live is None:
        return out
    managers = {m for r in matched for m in r.managed_fields_managers}
    for entry in _managed_fields(live):
        if entry.get("manager") in managers:
            for path in _entry_paths(entry):
                _remove(out, path)
    return out
