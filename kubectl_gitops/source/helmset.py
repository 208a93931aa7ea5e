"""Helm values given on the command line: ``--set``, ``--set-string``, ``--set-file``, passed to ``helm template``.

They apply to every chart folder under the path (as ``--values`` does), after the chart's values files, in
Helm's own order (``-f`` files, then ``--set``, ``--set-string``, ``--set-file``). Helm parses the values
(``a.b=1,c[0]=x``, escapes): we only check the shape ``KEY=VALUE`` so a typo fails before anything runs.

``--set-file KEY=PATH``: PATH is the user's, relative to the current folder (as with helm), checked to be a
readable file when the flag is parsed. Nothing in the repository can add a ``--set-file`` or choose its path,
so a repository cannot make the tool read a file outside it this way (docs/security.md). Given with no Helm
chart under the path, these flags are a problem (exit 3), like ``--values``.
"""

from __future__ import annotations

import os

from kubectl_gitops.errors import UsageError
from kubectl_gitops.settings import SourceOptions


def parse_set(text: str, *, flag: str = "--set") -> tuple[str, str]:
    """``(key, value)`` of a ``--set``-style flag; for ``--set-file`` the value is an absolute path to a file."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or key != key.strip():
        raise UsageError(f"invalid {flag} {text!r}: use KEY=VALUE (Helm's syntax, e.g. image.tag=1.4.2)")
    if flag == "--set-file":
        path = os.path.abspath(os.path.expanduser(value))
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise UsageError(f"invalid {flag} {text!r}: {value!r} is not a readable file",
                             hint="give a path relative to the current folder")
        return key, path
    return key, value


def helm_set_args(opts: SourceOptions) -> list[str]:
    """The ``helm template`` arguments for the flags in ``opts``."""
    args: list[str] = []
    for flag, items in (("--set", opts.helm_set), ("--set-string", opts.helm_set_string),
                        ("--set-file", opts.helm_set_file)):
        for item in items:
            key, value = parse_set(item, flag=flag)
            args += [flag, f"{key}={value}"]
    return args


def has_helm_sets(opts: SourceOptions) -> bool:
    return bool(opts.helm_set or opts.helm_set_string or opts.helm_set_file)
