"""argocd-vault-plugin placeholders, resolved in memory: pure substitution, no I/O of its own.

Repositories written for argocd-vault-plugin (AVP) work unchanged. The rules, taken from AVP's behaviour:

* ``<path:secret/data/db#password>`` and ``<path:secret/data/db#password#3>`` (pinned version) are
  placeholders anywhere. The path is the secret's API path, so KV v2 paths contain ``/data/``.
* ``<password>`` is a placeholder only in an object annotated ``avp.kubernetes.io/path: secret/data/db``
  (``avp.kubernetes.io/secret-version`` pins its version). Without that annotation ``<KEY>`` is left
  alone, which keeps CRD descriptions and docs intact.
* Only values are replaced, never mapping keys. When a value is exactly one placeholder and the secret
  holds a number, list or object, that value is injected as is (``replicas: <replicas>``); inside a
  longer string it is written as text (AVP drops the surrounding text there; we keep it).
* Modifiers follow a ``|``: ``base64encode``, ``base64decode``, ``jsonParse``, ``yamlParse``,
  ``sha256sum``, ``indent N`` and ``jsonPath {...}`` (a subset, see ``modifiers.json_path``), chained left to right:
  ``<path:secret/data/db#creds | jsonPath {.user} | base64encode>``.
* A Secret's ``data`` value that decodes from base64 to text holding a placeholder (kustomize's
  secretGenerator writes those) is substituted and encoded again. ConfigMap values are always text.
* ``avp.kubernetes.io/ignore: "true"`` skips the object; ``avp.kubernetes.io/kv-version`` ("1" or "2")
  is handed to the source; ``avp.kubernetes.io/remove-missing: "true"`` (Secret and ConfigMap only)
  drops mapping entries whose secret key is missing instead of failing.

Every problem of every object is collected and raised as one ``SecretsError`` (object, file:line, field,
placeholder, reason); when it is raised nothing is returned, so nothing half-resolved can be applied.
Every value read (and every transformed value but a checksum) is registered with
``redact.register_value`` before it is used, and no message here ever contains a value. The path of every
field that received a value is added to the manifest's ``secret_fields`` (diffs mask those fields in every
output, whatever the kind, the modifier or the form of the value). Placeholders in the object's identity
(apiVersion, kind, metadata name/namespace/generateName) are refused: the identity is printed in every
message and table, so it cannot be masked.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubectl_gitops import redact
from kubectl_gitops.errors import SecretsError
from kubectl_gitops.model import Manifest
from kubectl_gitops.secrets.modifiers import MODIFIERS, ModifierError, _stringify
from kubectl_gitops.secrets.provenance import IDENTITY

ANN_PATH = "avp.kubernetes.io/path"
ANN_IGNORE = "avp.kubernetes.io/ignore"
ANN_KV_VERSION = "avp.kubernetes.io/kv-version"
ANN_SECRET_VERSION = "avp.kubernetes.io/secret-version"
ANN_REMOVE_MISSING = "avp.kubernetes.io/remove-missing"

# AVP's Go patterns use the (?U) flag, which swaps greedy and lazy quantifiers; these are the
# equivalent Python patterns. '.' does not cross lines; [^#] does.
GENERIC = re.compile(r"<(.*?)>")
INLINE = re.compile(r"<path:([^#]+?)#([^#]+?)(?:#([^#]+?))??>")
INLINE_BODY = re.compile(r"^path:([^#]+)#([^#]+)(?:#(.+))?$")


class SecretNotFound(SecretsError):
    """Raised by a ``SecretSource`` when a secret (or the pinned version) does not exist or this token may
    not read it. Unlike other errors it does not stop resolution: it is listed with the rest."""


class SecretSource(Protocol):
    """Where placeholder values come from (``vault.VaultKV``, or ``DictSource`` in tests)."""

    def read(self, path: str, key: str, version: str | None, *, kv_version: int | None = None) -> Any | None:
        """The value of ``key`` in the secret at ``path``: a JSON value, usually a string; ``None`` when the
        secret exists but has no such key. Raises ``SecretNotFound`` when the secret itself cannot be read
        and another ``SecretsError`` when the source as a whole is unusable. Sources cache per path."""
        ...


@dataclass
class DictSource:
    """An in-memory ``SecretSource``: ``{path: {key: value}}``; pinned versions as ``{"path#3": {...}}``."""

    secrets: Mapping[str, Mapping[str, Any]]
    reads: list[tuple[str, str | None, int | None]] = field(default_factory=list)

    def read(self, path: str, key: str, version: str | None, *, kv_version: int | None = None) -> Any | None:
        self.reads.append((path, version, kv_version))
        data = self.secrets.get(f"{path}#{version}" if version else path)
        if data is None:
            raise SecretNotFound(f"no secret at {path}" + (f" version {version}" if version else ""))
        return data.get(key)


def find_placeholders(obj: Mapping[str, Any]) -> bool:
    """Whether resolving this object would contact a secret source (it holds at least one placeholder)."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if _truthy(annotations.get(ANN_IGNORE)):
        return False
    pattern = GENERIC if ANN_PATH in annotations else INLINE
    if pattern is INLINE and obj.get("kind") != "Secret" and "<path:" not in json.dumps(obj, default=str):
        return False  # the common case, decided by one C-speed scan instead of a walk over every string
    for fpath, value in string_leaves(obj, ()):
        if pattern.search(value):
            return True
        if _is_secret_data(obj, fpath):
            decoded = _b64_text(value)
            if decoded is not None and pattern.search(decoded):
                return True
    return False


def resolve_placeholders(manifests: list[Manifest], source: SecretSource) -> list[Manifest]:
    """Return the manifests with every placeholder replaced (new ``Manifest`` objects where something was
    replaced, the same ones otherwise). Raises one ``SecretsError`` listing every value that could not be
    resolved; nothing is returned then."""
    problems: list[str] = []
    out: list[Manifest] = []
    for m in manifests:
        if not find_placeholders(m.obj):
            out.append(m)
            continue
        resolver = _ObjectResolver(m, source)
        obj = resolver.run()
        problems.extend(resolver.problems)
        out.append(Manifest(obj, m.origin, m.secret_fields | frozenset(resolver.secret_fields)))
    if problems:
        n = len(problems)
        raise SecretsError(
            f"cannot resolve placeholders: {n} problem{'s' if n != 1 else ''}, nothing was generated",
            details=problems,
            hint="check the path, key and version in Vault/OpenBao (KV v2 paths contain /data/: "
                 "secret/data/app), or set avp.kubernetes.io/kv-version: \"1\" for a KV v1 mount",
        )
    return out


# -- one object ------------------------------------------------------------------------------------------

class _Missing(Exception):
    """A key absent from an existing secret (the only problem remove-missing forgives)."""


class _Problem(Exception):
    pass


_NO_VALUE = object()


class _ObjectResolver:
    def __init__(self, m: Manifest, source: SecretSource):
        self.m = m
        self.source = source
        self.obj: dict[str, Any] = copy.deepcopy(m.obj)
        ann = (self.obj.get("metadata") or {}).get("annotations") or {}
        self.path: str | None = ann.get(ANN_PATH) or None
        self.generic = ANN_PATH in ann
        self.secret_version: str | None = str(ann[ANN_SECRET_VERSION]) if ann.get(ANN_SECRET_VERSION) else None
        self.kind = str(self.obj.get("kind", ""))
        self.problems: list[str] = []
        self.secret_fields: set[tuple[Any, ...]] = set()  # fields that received a value from the source
        self.kv_version: int | None = None
        raw_kv = ann.get(ANN_KV_VERSION)
        if raw_kv is not None:
            if str(raw_kv).strip() not in ("1", "2"):
                self._problem((), f"{ANN_KV_VERSION}: {raw_kv!r} is not 1 or 2")
            else:
                self.kv_version = int(str(raw_kv).strip())
        self.remove_missing = _truthy(ann.get(ANN_REMOVE_MISSING))
        if self.remove_missing and self.kind not in ("Secret", "ConfigMap"):
            self._problem((), f"{ANN_REMOVE_MISSING} can only be used on Secret or ConfigMap objects")
            self.remove_missing = False

    def _problem(self, fpath: tuple[Any, ...], text: str) -> None:
        where = format_path(fpath)
        self.problems.append(f"{self.m.where()}{' ' + where if where else ''}: {text}")

    def run(self) -> dict[str, Any]:
        self._walk(self.obj, ())
        return self.obj

    def _walk(self, node: Any, fpath: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for k in list(node):
                v = node[k]
                if isinstance(v, str):
                    new = self._value(v, (*fpath, k), removable=self.remove_missing)
                    if new is _NO_VALUE:
                        del node[k]
                    else:
                        node[k] = new
                else:
                    self._walk(v, (*fpath, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, str):
                    new = self._value(v, (*fpath, i), removable=False)
                    node[i] = v if new is _NO_VALUE else new
                else:
                    self._walk(v, (*fpath, i))

    def _value(self, text: str, fpath: tuple[Any, ...], *, removable: bool) -> Any:
        """The replacement for one string value (``_NO_VALUE``: remove the entry)."""
        new = self._replacement(text, fpath, removable=removable)
        if new is not _NO_VALUE and new is not text:
            if fpath in IDENTITY:
                self._problem(fpath, "placeholders are not allowed in apiVersion, kind, metadata.name, "
                                     "metadata.namespace or metadata.generateName (the object's identity is "
                                     "printed everywhere, so it cannot be masked)")
                return text
            self.secret_fields.add(fpath)
        return new

    def _replacement(self, text: str, fpath: tuple[Any, ...], *, removable: bool) -> Any:
        if _is_secret_data(self.obj, fpath):
            decoded = _b64_text(text)
            if decoded is not None and (GENERIC if self.generic else INLINE).search(decoded):
                result = self._substitute(decoded, fpath, removable=removable)
                if result is _NO_VALUE or result is None:
                    return _NO_VALUE if result is _NO_VALUE else text
                return base64.b64encode(_stringify(result).encode()).decode()
        result = self._substitute(text, fpath, removable=removable)
        if result is _NO_VALUE:
            return _NO_VALUE
        if result is None:
            return text
        if self.kind == "ConfigMap" and not isinstance(result, str):
            return _stringify(result)
        return result

    def _substitute(self, text: str, fpath: tuple[Any, ...], *, removable: bool) -> Any:
        """Replace the placeholders in ``text``. ``None``: nothing could be replaced (problems recorded)."""
        pattern = GENERIC if self.generic else INLINE
        matches = list(pattern.finditer(text))
        if not matches:
            return text
        failed = missing = False
        sensitive = False  # a value other than a checksum went in: the whole text is secret
        whole: Any = _NO_VALUE
        pieces: list[str] = []
        last = 0
        for match in matches:
            placeholder = match.group(0)
            try:
                value = self._evaluate(placeholder)
                sensitive = sensitive or not placeholder[1:-1].replace(" ", "").endswith("|sha256sum")
            except _Missing as e:
                missing = True
                if not removable:
                    self._problem(fpath, f"{placeholder}: {e}")
                value = placeholder
            except _Problem as e:
                failed = True
                self._problem(fpath, f"{placeholder}: {e}")
                value = placeholder
            if len(matches) == 1 and match.start() == 0 and match.end() == len(text) and not isinstance(value, str):
                whole = value
            pieces.append(text[last:match.start()])
            pieces.append(_stringify(value))
            last = match.end()
        pieces.append(text[last:])
        if missing and removable and not failed:
            return _NO_VALUE
        if failed or missing:
            return None
        if whole is not _NO_VALUE:
            return whole
        result = "".join(pieces)
        if sensitive:
            redact.register_value(result)
        return result

    def _evaluate(self, placeholder: str) -> Any:
        """The value of one ``<...>`` after its modifiers."""
        body = placeholder[1:-1]
        stages = body.split("|")
        name = stages[0].strip(" ")
        inline = INLINE_BODY.match(name)
        if inline:
            path, key, version = inline.group(1), inline.group(2).strip(), inline.group(3)
            value = self._read(path, key, version.strip() if version else None)
        else:
            if not self.path:
                raise _Problem(f"placeholder needs the {ANN_PATH} annotation or an inline path (<path:p#key>)")
            value = self._read(self.path, name, self.secret_version)
        for stage in stages[1:]:
            words = stage.split()
            if not words:
                raise _Problem("empty modifier after '|'")
            func = MODIFIERS.get(words[0])
            if func is None:
                raise _Problem(f"unknown modifier {words[0]!r} (known: {', '.join(sorted(MODIFIERS))})")
            try:
                value = func(words[1:], value)
            except ModifierError as e:
                raise _Problem(f"{words[0]}: {e}") from e
            if words[0] != "sha256sum":
                _register(value)
        return value

    def _read(self, path: str, key: str, version: str | None) -> Any:
        try:
            value = self.source.read(path, key, version, kv_version=self.kv_version)
        except SecretNotFound as e:
            raise _Problem(e.message) from e
        if value is None:
            raise _Missing(f"key {key!r} not found in {path}" + (f" version {version}" if version else ""))
        _register(value)
        return value


# -- helpers ---------------------------------------------------------------------------------------------

def _truthy(value: Any) -> bool:
    """Go's strconv.ParseBool, as AVP reads its boolean annotations (anything else is false)."""
    return str(value) in ("1", "t", "T", "true", "TRUE", "True") if value is not None else False


def _register(value: Any) -> None:
    """Remember every text the secret could show up as (the value, and each string inside a structure)."""
    if isinstance(value, str):
        redact.register_value(value)
    elif isinstance(value, dict):
        for v in value.values():
            _register(v)
        redact.register_value(_stringify(value))
    elif isinstance(value, list):
        for v in value:
            _register(v)
        redact.register_value(_stringify(value))
    elif value is not None and not isinstance(value, bool):  # masking every "true" would hide too much
        redact.register_value(_stringify(value))



def _is_secret_data(obj: Mapping[str, Any], fpath: tuple[Any, ...]) -> bool:
    return obj.get("kind") == "Secret" and len(fpath) == 2 and fpath[0] == "data"


def _b64_text(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        return None


def string_leaves(node: Any, fpath: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(field path, text) of every string under ``node``."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from string_leaves(v, (*fpath, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from string_leaves(v, (*fpath, i))
    elif isinstance(node, str):
        yield fpath, node


def format_path(fpath: tuple[Any, ...]) -> str:
    """``spec.containers[0].env["A B"]``: a field path for messages."""
    out = ""
    for p in fpath:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", str(p)):
            out += f".{p}" if out else str(p)
        else:
            out += f"[{json.dumps(str(p))}]"
    return out
