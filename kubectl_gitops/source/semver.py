"""``newest``: the newest Git tag that satisfies a semver constraint (Flux ``GitRepository`` ``spec.ref.semver``).

Flux reads constraints with Masterminds/semver v3, so this reads the same syntax: comparisons (``=``, ``!=``,
``>``, ``<``, ``>=``, ``<=``), ``~`` (patch-level: ``~1.2.3`` is ``>=1.2.3 <1.3.0``; ``~1`` is ``>=1 <2``), ``^``
(no change to the leftmost non-zero part: ``^1.2.3`` is ``>=1.2.3 <2.0.0``, ``^0.2.3`` is ``>=0.2.3 <0.3.0``),
wildcards (``1.2.x``, ``1.*``, ``*``), hyphen ranges (``1.2 - 1.4.5``), ``,`` or a space for AND and ``||`` for OR.
Tags may carry a leading ``v``; tags that are not semver are ignored; a pre-release passes only terms that name
a pre-release themselves (Masterminds' rule: ``>=1.2.3-0`` opts in). Build metadata is ignored in comparisons.

Hand-written (~100 lines): the Python semver libraries implement npm's or PEP 440's dialect (no ``,`` for AND, no
``!=``, different pre-release rules), and a constraint that selects a different tag than Flux would is a silent
deployment of the wrong commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from kubectl_gitops.errors import InvalidInputError

_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_PART = re.compile(r"^(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_OP = re.compile(r"^(!=|>=|<=|=>|=<|>|<|=|~>|~|\^)?\s*v?(.+)$")

Version = tuple[int, int, int, tuple[tuple[int, int | str], ...]]  # major, minor, patch, pre-release (empty: none)
Test = Callable[[Version], bool]


def _pre(text: str | None) -> tuple[tuple[int, int | str], ...]:
    if not text:
        return ()
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in text.split("."))


def parse_version(tag: str) -> Version | None:
    """``v1.2.3-rc.1`` → (1, 2, 3, pre); None for a tag that is no version (``1`` and ``1.2`` are versions)."""
    m = _VERSION.match(tag.strip())
    if not m:
        return None
    return int(m[1]), int(m[2] or 0), int(m[3] or 0), _pre(m[4])


def _key(v: Version) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    return v[0], v[1], v[2], 0 if v[3] else 1, v[3]  # a release sorts after its pre-releases


def _one(term: str, constraint: str) -> Test:
    m = _OP.match(term)
    p = _PART.match(m[2]) if m else None
    if not m or not p:
        raise InvalidInputError(f"semver constraint {constraint!r}: cannot read {term!r}",
                                hint="write e.g. '>=1.2.0 <2.0.0', '~1.4', '^2', '1.2.x' (Masterminds/semver syntax)")
    op = {"=>": ">=", "=<": "<=", "~>": "~"}.get(m[1] or "=", m[1] or "=")
    wild = [x is None or x in "xX*" for x in (p[1], p[2], p[3])]
    nums = [0 if w else int(x) for w, x in zip(wild, (p[1], p[2], p[3]), strict=True)]
    pre = _pre(p[4])
    lo: Version = (nums[0], nums[1], nums[2], pre)
    depth = wild.index(True) if any(wild) else 3  # how many parts were given (1.2.x: 2)

    def bump(level: int) -> Version:
        if level == 0:
            return nums[0] + 1, 0, 0, ()
        return (nums[0], nums[1] + 1, 0, ()) if level == 1 else (nums[0], nums[1], nums[2] + 1, ())

    def between(a: Version, b: Version | None) -> Test:
        return lambda v: _key(v) >= _key(a) and (b is None or _key(v) < _key(b))

    if op == "~" and depth == 3 and not any(nums):
        test = lambda v: True  # noqa: E731  (~0.0.0: any)
    elif op == "~":
        test = between(lo, bump(0 if depth == 1 else 1))
    elif op == "^":
        level = 0 if nums[0] or depth == 1 else (1 if nums[1] or depth == 2 else 2)
        test = between(lo, bump(level))
    elif depth == 0:  # *, x: any version; >* any but 0.0.0; <* none
        test = {"<": lambda v: False, ">": lambda v: _key(v) > _key(lo)}.get(op, lambda v: True)
    elif op == "=":
        test = between(lo, bump(depth - 1)) if depth < 3 else (lambda v: _key(v) == _key(lo))
    elif op == "!=":
        inside = between(lo, bump(depth - 1)) if depth < 3 else (lambda v: _key(v) == _key(lo))
        test = lambda v: not inside(v)  # noqa: E731
    elif op == ">":
        up = bump(depth - 1) if depth < 3 else None
        test = (lambda v: _key(v) >= _key(up)) if up else (lambda v: _key(v) > _key(lo))  # type: ignore[arg-type]
    elif op == ">=":
        test = lambda v: _key(v) >= _key(lo)  # noqa: E731
    elif op == "<":
        test = lambda v: _key(v) < _key(lo)  # noqa: E731
    else:  # <=
        up = bump(depth - 1) if depth < 3 else None
        test = (lambda v: _key(v) < _key(up)) if up else (lambda v: _key(v) <= _key(lo))  # type: ignore[arg-type]
    if pre:
        return test
    return lambda v: not v[3] and test(v)  # a pre-release only for a term that names one (Masterminds' rule)


def _terms(group: str) -> list[str]:
    """``>= 1.2, < 3`` → [">=1.2", "<3"]: operators glued to their version, ``a - b`` kept as a hyphen range."""
    text = re.sub(r"(!=|>=|<=|=>|=<|~>|[<>=~^])\s+", r"\1", group.replace(",", " "))
    words = text.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        if i + 2 < len(words) and words[i + 1] == "-":
            out += [f">={words[i]}", f"<={words[i + 2]}"]
            i += 3
        else:
            out.append(words[i])
            i += 1
    return out


def matcher(constraint: str) -> Test:
    """A test for versions, from a Masterminds constraint; ``InvalidInputError`` when it cannot be read."""
    groups: list[list[Test]] = []
    for group in constraint.split("||"):
        terms = _terms(group)
        if not terms:
            raise InvalidInputError(f"semver constraint {constraint!r} has an empty part",
                                    hint="write e.g. '>=1.2.0 <2.0.0' or '~1.4 || ^2'")
        groups.append([_one(t, constraint) for t in terms])
    return lambda v: any(all(t(v) for t in tests) for tests in groups)


def newest(tags: Iterable[str], constraint: str) -> str | None:
    """The tag of the highest version satisfying ``constraint`` (ties: the first listed), or None."""
    test = matcher(constraint)
    best: tuple[Version, str] | None = None
    for tag in tags:
        v = parse_version(tag)
        if v is not None and test(v) and (best is None or _key(v) > _key(best[0])):
            best = (v, tag)
    return best[1] if best else None


__all__ = ["matcher", "newest", "parse_version"]
