"""`--ignore-differences FILE`: Argo CD ignoreDifferences rules, shared by diff and sync."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from kubectl_gitops.errors import InvalidInputError

F = TypeVar("F", bound=Callable[..., Any])

ignore_option: Callable[[F], F] = click.option(
    "--ignore-differences", "ignore_file", metavar="FILE", envvar="KUBECTL_GITOPS_IGNORE_DIFFERENCES",
    help="YAML list (or a mapping with an ignoreDifferences list) of Argo CD ignoreDifferences rules: "
         "group/kind/name/namespace with jsonPointers, jqPathExpressions or managedFieldsManagers. "
         "diff leaves those fields out; sync keeps their live values.")


def load_rules(path: str | None) -> tuple[Any, ...]:
    """The rules in FILE (``()`` without one); an unreadable or invalid file is invalid input (exit 3)."""
    if not path:
        return ()
    from kubectl_gitops.engine.diff import load_ignore_rules
    from kubectl_gitops.untrusted.yamldocs import safe_load

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"cannot read ignore rules {path}: {e}",
                                hint="pass a YAML list of Argo CD ignoreDifferences entries") from e
    data = safe_load(text, path)  # the file may come from the repository under review: bounded, errors name path:line
    return tuple(load_ignore_rules(data, path))
