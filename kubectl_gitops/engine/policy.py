"""The cluster's policy for apps: the model, read from YAML and validated (pure: text in, ``Policy`` out).

A policy belongs to the cluster, not to the repository: the ConfigMap ``kubectl-gitops-policy`` (key
``policy.yaml``) in the namespace given by ``--policy-namespace``, or a file given by ``--policy`` (CI). Its
rules are matched to an app by name (the first rule whose ``apps`` globs match wins) and say where the app may
write (``namespaces``), what (``allowKinds``/``denyKinds``, ``clusterScoped``), as whom (``serviceAccount``),
how much it may delete in one run (``maxDeletes``), whether commits must be signed (``requireSigned``) and
which objects need a person's confirmation to change (``protected``, also at the top level for every app).
The JSON schema is docs/policy.schema.json; docs/policy.md explains every rule with an example.

Patterns are fnmatch-style globs (``*``, ``?``, ``[abc]``), matched case-sensitively: the policy is written by
the cluster's owners, and globs are what kubectl users know from shells; regexes would invite mistakes such as
an unanchored ``kube-system`` matching ``not-kube-system``. Validation is hand-written (no JSON schema library is
installed, and a message must name the rule, e.g. ``rules[2] (payments): maxDeletes must be ...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from kubectl_gitops.errors import InvalidInputError
from kubectl_gitops.model import ResourceKey

API_VERSION = "gitops.kubectl.dev/v1alpha1"
KIND = "Policy"
CONFIGMAP = "kubectl-gitops-policy"
DATA_KEY = "policy.yaml"

_TOP = {"apiVersion", "kind", "rules", "protected", "allowedSigners"}
_RULE = {"name", "apps", "namespaces", "allowKinds", "denyKinds", "clusterScoped", "serviceAccount",
         "maxDeletes", "requireSigned", "protected"}
_KIND = {"group", "kind"}
_OBJECT = {"group", "kind", "namespace", "name"}


class PolicyError(InvalidInputError):
    """The policy itself is invalid (exit 3): the message names where (source and rule)."""


@dataclass(frozen=True)
class KindPattern:
    group: str = "*"
    kind: str = "*"

    def matches(self, group: str, kind: str) -> bool:
        return fnmatchcase(group, self.group) and fnmatchcase(kind, self.kind)

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else f"{self.kind} (core)"


@dataclass(frozen=True)
class ObjectPattern:
    """A protected object: group/kind/namespace/name globs (``namespace: ""`` is cluster-scoped only)."""

    group: str = "*"
    kind: str = "*"
    namespace: str = "*"
    name: str = "*"

    def matches(self, key: ResourceKey) -> bool:
        return (fnmatchcase(key.group, self.group) and fnmatchcase(key.kind, self.kind)
                and fnmatchcase(key.namespace, self.namespace) and fnmatchcase(key.name, self.name))

    def __str__(self) -> str:
        group = f".{self.group}" if self.group not in ("", "*") else ""
        return f"{self.kind}{group}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Rule:
    name: str
    apps: tuple[str, ...]
    namespaces: tuple[str, ...] | None = None  # None: any namespace
    allow_kinds: tuple[KindPattern, ...] | None = None  # None: any kind
    deny_kinds: tuple[KindPattern, ...] = ()
    cluster_scoped: bool = True
    service_account: tuple[str, str] | None = None  # (namespace, name)
    max_deletes: int | None = None
    require_signed: bool = False
    protected: tuple[ObjectPattern, ...] = ()
    index: int = 0

    @property
    def where(self) -> str:
        return f"rules[{self.index}] ({self.name})"

    @property
    def identity(self) -> str | None:
        """The user name Kubernetes gives the rule's ServiceAccount (for Impersonate-User)."""
        if self.service_account is None:
            return None
        return f"system:serviceaccount:{self.service_account[0]}:{self.service_account[1]}"

    def matches(self, app: str) -> bool:
        return any(fnmatchcase(app, p) for p in self.apps)


@dataclass(frozen=True)
class Policy:
    source: str  # "file PATH" or "ConfigMap NS/kubectl-gitops-policy"
    rules: tuple[Rule, ...] = ()
    protected: tuple[ObjectPattern, ...] = ()  # for every app
    allowed_signers: str | None = field(default=None, repr=False)  # ssh allowed_signers text

    def rule_for(self, app: str) -> Rule | None:
        return next((r for r in self.rules if r.matches(app)), None)


# --- reading -----------------------------------------------------------------------------------------------


def parse_policy(text: str, source: str) -> Policy:
    """Read and validate ``text`` (YAML); ``source`` names it in messages. Raises ``PolicyError`` (exit 3)
    listing every problem found."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"policy {source}{where}: not valid YAML ({getattr(e, 'problem', None) or e})",
                          hint="fix the policy; see docs/policy.md") from None
    problems: list[str] = []
    policy = _policy(doc, source, problems)
    if problems:
        raise PolicyError(f"policy {source} is invalid: {problems[0]}" if len(problems) == 1 else
                          f"policy {source} is invalid ({len(problems)} problems)", details=problems,
                          hint="fix the policy (schema: docs/policy.schema.json); nothing was changed")
    return policy


def _policy(doc: Any, source: str, problems: list[str]) -> Policy:
    if not isinstance(doc, dict):
        problems.append("the policy must be a mapping with `rules`")
        return Policy(source)
    _unknown(doc, _TOP, "the policy", problems)
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        problems.append(f"apiVersion must be {API_VERSION}")
    if doc.get("kind", KIND) != KIND:
        problems.append(f"kind must be {KIND}")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list):
        problems.append("`rules` must be a list (of rules, each with `name` and `apps`)")
        raw_rules = []
    rules = tuple(r for r in (_rule(i, raw, problems) for i, raw in enumerate(raw_rules)) if r is not None)
    names = [r.name for r in rules]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"two rules are named {dup!r}: names must be unique")
    signers = doc.get("allowedSigners")
    if signers is not None and not isinstance(signers, str):
        problems.append("allowedSigners must be text (an ssh allowed_signers file)")
        signers = None
    if any(r.require_signed for r in rules) and not signers:
        problems.append("a rule sets requireSigned but the policy has no allowedSigners")
    return Policy(source, rules, _objects(doc.get("protected"), "protected", problems), signers)


def _rule(i: int, raw: Any, problems: list[str]) -> Rule | None:
    if not isinstance(raw, dict):
        problems.append(f"rules[{i}] must be a mapping")
        return None
    name = raw.get("name")
    where = f"rules[{i}] ({name})" if isinstance(name, str) and name else f"rules[{i}]"
    before = len(problems)
    if not isinstance(name, str) or not name:
        problems.append(f"{where}: `name` is required (text)")
    _unknown(raw, _RULE, where, problems)
    apps = _globs(raw.get("apps"), f"{where}: apps", problems, required=True)
    namespaces = None if raw.get("namespaces") is None else _globs(raw["namespaces"], f"{where}: namespaces",
                                                                   problems)
    allow = None if raw.get("allowKinds") is None else _kinds(raw["allowKinds"], f"{where}: allowKinds", problems)
    deny = _kinds(raw.get("denyKinds"), f"{where}: denyKinds", problems)
    cluster_scoped = _bool(raw, "clusterScoped", True, where, problems)
    require_signed = _bool(raw, "requireSigned", False, where, problems)
    sa = raw.get("serviceAccount")
    account: tuple[str, str] | None = None
    if sa is not None:
        parts = sa.split("/") if isinstance(sa, str) else []
        if len(parts) != 2 or not all(_dns_label(p) for p in parts):
            problems.append(f"{where}: serviceAccount must be NAMESPACE/NAME (lowercase DNS names), not {sa!r}")
        else:
            account = (parts[0], parts[1])
    max_deletes = raw.get("maxDeletes")
    if max_deletes is not None and (isinstance(max_deletes, bool) or not isinstance(max_deletes, int)
                                    or max_deletes < 0):
        problems.append(f"{where}: maxDeletes must be a whole number ≥ 0, not {max_deletes!r}")
        max_deletes = None
    protected = _objects(raw.get("protected"), f"{where}: protected", problems)
    if len(problems) > before:
        return None
    return Rule(str(name), apps, namespaces, allow, deny, cluster_scoped, account, max_deletes, require_signed,
                protected, i)


def _unknown(raw: dict[str, Any], known: set[str], where: str, problems: list[str]) -> None:
    for key in sorted(set(map(str, raw)) - known):
        problems.append(f"{where}: unknown field {key!r} (known: {', '.join(sorted(known))})")


def _bool(raw: dict[str, Any], key: str, default: bool, where: str, problems: list[str]) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        problems.append(f"{where}: {key} must be true or false, not {value!r}")
        return default
    return value


def _globs(raw: Any, where: str, problems: list[str], *, required: bool = False) -> tuple[str, ...]:
    if raw is None and not required:
        return ()
    if not isinstance(raw, list) or (required and not raw) or not all(isinstance(p, str) and p for p in raw):
        problems.append(f"{where} must be a{' non-empty' if required else ''} list of glob patterns (text)")
        return ()
    return tuple(raw)


def _kinds(raw: Any, where: str, problems: list[str]) -> tuple[KindPattern, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where} must be a list of {{group, kind}}")
        return ()
    out = []
    for j, item in enumerate(raw):
        if not isinstance(item, dict) or not item or set(map(str, item)) - _KIND \
                or not all(isinstance(v, str) for v in item.values()):
            problems.append(f"{where}[{j}] must be a mapping with group and/or kind (globs; core group is \"\")")
            continue
        out.append(KindPattern(item.get("group", "*"), item.get("kind", "*")))
    return tuple(out)


def _objects(raw: Any, where: str, problems: list[str]) -> tuple[ObjectPattern, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where} must be a list of {{group, kind, namespace, name}}")
        return ()
    out = []
    for j, item in enumerate(raw):
        if not isinstance(item, dict) or not item or set(map(str, item)) - _OBJECT \
                or not all(isinstance(v, str) for v in item.values()):
            problems.append(f"{where}[{j}] must be a mapping of group, kind, namespace, name (globs)")
            continue
        out.append(ObjectPattern(item.get("group", "*"), item.get("kind", "*"), item.get("namespace", "*"),
                                 item.get("name", "*")))
    return tuple(out)


def _dns_label(text: str) -> bool:
    import re

    return bool(re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", text))


__all__ = ["API_VERSION", "CONFIGMAP", "DATA_KEY", "KindPattern", "ObjectPattern", "Policy", "PolicyError", "Rule",
           "parse_policy"]
