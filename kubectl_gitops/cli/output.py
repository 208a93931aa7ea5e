"""Everything the CLI writes goes through here: colour rules, redaction, tables, json/yaml, errors.

Redaction (``kubectl_gitops.redact``): every message, log line, ``-v`` line and traceback is redacted of
credentials and secret values; diff bodies (``masked=True``), already masked by provenance, of credentials
only.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from kubectl_gitops.errors import ExitCode, GitopsError
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.redact import redact, redact_credentials
from kubectl_gitops.settings import OutputOptions

COLORS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36", "bold": "1", "dim": "2"}


def object_name(key: ResourceKey) -> str:
    """kubectl's ``-o name``: ``deployment.apps/web``, ``configmap/settings`` (the namespace is not part of it)."""
    kind = key.kind.lower() + (f".{key.group}" if key.group else "")
    return f"{kind}/{key.name}"


class Printer:
    """Writes redacted text to stdout/stderr; colours only when enabled and the stream is a terminal."""

    def __init__(self, options: OutputOptions, out: TextIO | None = None, err: TextIO | None = None):
        self.options = options
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def color_on(self, stream: TextIO) -> bool:
        if not self.options.color:
            return False
        return self.options.color_always or (hasattr(stream, "isatty") and stream.isatty())

    def style(self, text: str, color: str, stream: TextIO | None = None) -> str:
        if not self.color_on(stream or self.out):
            return text
        return f"\x1b[{COLORS[color]}m{text}\x1b[0m"

    def echo(self, text: str = "", *, err: bool = False, nl: bool = True, masked: bool = False) -> None:
        """Write ``text`` with every registered secret replaced. ``masked=True`` is for diff bodies, whose
        secret-sourced fields are already masked by provenance (``diff.mask_provenance``): only credentials
        are replaced there, so that a repository cannot hide text by encrypting it (see ``redact``)."""
        stream = self.err if err else self.out
        stream.write((redact_credentials(text) if masked else redact(text)) + ("\n" if nl else ""))
        stream.flush()

    def info(self, text: str) -> None:
        """Human progress and notices go to stderr so stdout stays machine-readable."""
        self.echo(text, err=True)

    def debug(self, text: str, level: int = 1) -> None:
        if self.options.verbose >= level:
            self.echo(self.style(text, "dim", self.err), err=True)

    def warn(self, text: str) -> None:
        self.echo(self.style("warning: ", "yellow", self.err) + text, err=True)

    def json(self, value: Any, *, masked: bool = False) -> None:
        self.echo(json.dumps(value, indent=2, sort_keys=False, default=str), masked=masked)

    def json_line(self, value: Any) -> None:
        self.echo(json.dumps(value, separators=(",", ":"), default=str))

    def yaml(self, value: Any, *, masked: bool = False) -> None:
        import yaml

        docs = value if isinstance(value, list) else [value]
        self.echo(yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False).rstrip("\n"), masked=masked)

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        from tabulate import tabulate

        rows = list(rows)
        if not rows:
            return
        self.echo(tabulate(rows, headers=[h.upper() for h in headers], tablefmt="plain",
                           disable_numparse=True))

    def error(self, err: BaseException) -> int:
        """Print a user error (one message, its details, a hint) and return its exit code."""
        if isinstance(err, GitopsError):
            self.echo(self.style("error: ", "red", self.err) + err.message, err=True)
            for line in err.details:
                self.echo(f"  - {line}", err=True)
            if err.hint:
                self.echo(f"hint: {err.hint}", err=True)
            code = int(err.exit_code)
        else:
            self.echo(self.style("internal error: ", "red", self.err) + f"{type(err).__name__}: {err}", err=True)
            self.echo("this is a bug in kubectl-gitops; run again with -v and report the output", err=True)
            code = int(ExitCode.INTERNAL)
        if self.options.verbose:
            self.echo("".join(traceback.format_exception(type(err), err, err.__traceback__)).rstrip(), err=True)
        if self.options.format == "json":  # -o json: the error as one JSON line on stdout too, for scripts and CI
            doc: dict[str, Any] = {"type": "error", "exitCode": code, "error": type(err).__name__}
            if isinstance(err, GitopsError):
                doc.update(message=err.message, details=list(err.details), hint=err.hint or "")
            else:
                doc["message"] = f"{type(err).__name__}: {err}"
            self.json_line(doc)
        return code
