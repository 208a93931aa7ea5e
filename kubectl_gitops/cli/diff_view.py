"""How a diff looks: unified text, the summary table, the JSON change list, a PR comment, and the
LIVE/MERGED trees for ``KUBECTL_EXTERNAL_DIFF``.

Pure functions from ``Change`` values to text (``write_external`` writes files, nothing else).
Everything here renders ``Change.before``/``Change.after``, which the diff engine has already
masked (Secret data, last-applied, and by provenance every field whose value came from a secret);
``Change.desired`` (plaintext) is never rendered. Bodies are printed with ``Printer.echo(masked=True)``,
which replaces credentials only: replacing secret *values* by text would let a repository hide any
string by encrypting it elsewhere, so a secret's value in a field not from a secret is shown and named
in a ``# warning:`` line (and ``warnings`` in JSON). Notes and drift lines are messages: fully redacted.
``write_external`` redacts its files of credentials itself.

Unified diff format (one block per changed object, like ``kubectl diff``)::

    diff -u -N live/apps.v1.Deployment.demo.web merged/apps.v1.Deployment.demo.web
    --- live/apps.v1.Deployment.demo.web
    +++ merged/apps.v1.Deployment.demo.web
    @@ -10,7 +10,7 @@
     spec:
    -  replicas: 5
    +  replicas: 3
    # spec.replicas: changed by kubectl-edit (Update) 2h ago

File names follow kubectl's ``<group>.<version>.<Kind>.<namespace>.<name>`` (no group for the
core API, an empty namespace for cluster-scoped objects), so the names match what
``KUBECTL_EXTERNAL_DIFF`` sees in the LIVE/MERGED directories; ``live/`` and ``merged/`` stand for
those directories, relative, so the text is the same on every machine and in every run.
YAML keys come in a stable order: apiVersion, kind, metadata, spec, then the rest; inside, as
the API server returned them.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubectl_gitops.cli.output import COLORS
from kubectl_gitops.engine.diff import Change, Drift, Op
from kubectl_gitops.model import Manifest, Obj
from kubectl_gitops.redact import redact, redact_credentials

SCHEMA_VERSION = 1
SUMMARY_HEADERS = ("OP", "KIND", "NAMESPACE/NAME", "SOURCE", "DRIFT")
TOP_KEYS = ("apiVersion", "kind", "metadata", "spec")
MARKDOWN_LIMIT = 60_000  # GitHub comments stop at 65,536 characters


# --- small pieces ---------------------------------------------------------------------------------

def file_name(change: Change) -> str:
    """kubectl's name for an object's file: ``apps.v1.Deployment.demo.web``, ``v1.Namespace..demo``."""
    k = change.key
    group = f"{k.group}." if k.group else ""
    return f"{group}{change.version}.{k.kind}.{k.namespace}.{k.name}"


def display_kind(change: Change) -> str:
    """``Deployment`` for built-in API groups, ``Widget.example.com`` for custom resources (as ``waves``)."""
    from kubectl_gitops.engine.plan import display_kind as plan_kind

    return plan_kind(Manifest({"apiVersion": change.api_version, "kind": change.key.kind}))


def display_name(change: Change) -> str:
    k = change.key
    return f"{k.namespace}/{k.name}" if k.namespace else k.name


def humanize_age(time: str | None, now: datetime | None = None) -> str:
    """``45s``, ``12m``, ``2h``, ``3d``, ``2y``: how long ago an RFC 3339 time was ("" if unknown)."""
    if not time:
        return ""
    try:
        then = datetime.fromisoformat(time.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "0s"
    for limit, unit, size in ((120, "s", 1), (120 * 60, "m", 60), (48 * 3600, "h", 3600),
                              (2 * 365 * 86400, "d", 86400)):
        if seconds < limit:
            return f"{seconds // size}{unit}"
    return f"{seconds // (365 * 86400)}y"


def describe_drift(d: Drift, now: datetime | None = None) -> str:
    """``spec.replicas: changed by kubectl-edit (Update) 2h ago``."""
    age = humanize_age(d.time, now)
    op = f" ({d.operation})" if d.operation else ""
    return f"{d.path}: changed by {d.manager}{op}" + (f" {age} ago" if age else "")


def _ordered(obj: Obj) -> Obj:
    out = {k: obj[k] for k in TOP_KEYS if k in obj}
    out.update((k, v) for k, v in obj.items() if k not in out)
    return out


_DUMPER: Any = None


def _dumper() -> Any:
    global _DUMPER
    if _DUMPER is None:
        import yaml

        class Dumper(yaml.SafeDumper):
            def ignore_aliases(self, data: Any) -> bool:
                return True

        def represent_str(dumper: Any, data: str) -> Any:
            # multi-line strings (ConfigMap files, scripts) as blocks, so a diff shows the changed line
            style = "|" if "\n" in data else None
            return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

        Dumper.add_representer(str, represent_str)
        _DUMPER = Dumper
    return _DUMPER


def to_yaml(obj: Obj | None) -> str:
    """The YAML a diff shows for one side ("" for a missing side)."""
    if obj is None:
        return ""
    import yaml

    return str(yaml.dump(_ordered(obj), Dumper=_dumper(), sort_keys=False, default_flow_style=False,
                         allow_unicode=True, width=1 << 30))


def _paint(line: str, color: bool) -> str:
    if not color:
        return line
    if line.startswith(("diff ", "--- ", "+++ ")):
        code = COLORS["bold"]
    elif line.startswith("@@"):
        code = COLORS["cyan"]
    elif line.startswith("+"):
        code = COLORS["green"]
    elif line.startswith("-"):
        code = COLORS["red"]
    elif line.startswith("#"):
        code = COLORS["yellow"]
    else:
        return line
    return f"\x1b[{code}m{line}\x1b[0m"


def annotation_lines(change: Change, now: datetime | None = None) -> list[str]:
    """The ``# ...`` lines under a diff: drift attribution, notes, the fields masked because their value came
    from a secret, and warnings about secret values in fields that did not."""
    lines = [f"# {redact(describe_drift(d, now))}" for d in change.drift]
    if change.ignored_extraneous:
        lines.append("# not counted as a difference: compare-options IgnoreExtraneous")
    if change.note:
        lines.append(f"# note: {redact(change.note)}")
    if change.masked_fields:
        lines.append(f"# masked, from a secret: {', '.join(change.masked_fields)}")
    lines += [f"# warning: {redact(w)}" for w in change.warnings]
    return lines


# --- views ----------------------------------------------------------------------------------------

def unified(change: Change, *, color: bool, context: int = 3, now: datetime | None = None,
            annotate: bool = True) -> str:
    """``diff -u -N`` of one object, with kubectl-style headers and, when ``annotate``, the drift and
    note lines. "" for an unchanged object."""
    if change.op is Op.UNCHANGED:
        return ""
    name = file_name(change)
    before = to_yaml(change.before).splitlines()
    after = to_yaml(change.after).splitlines()
    lines = [f"diff -u -N live/{name} merged/{name}"]
    lines += difflib.unified_diff(before, after, f"live/{name}", f"merged/{name}", n=context, lineterm="")
    if annotate:
        lines += annotation_lines(change, now)
    return "\n".join(_paint(line, color) for line in lines)


def _drift_cell(change: Change, now: datetime | None = None) -> str:
    if not change.drift:
        return ""
    first = change.drift[0]
    age = humanize_age(first.time, now)
    text = f"{first.path} ({first.manager}{', ' + age + ' ago' if age else ''})"
    if len(change.drift) > 1:
        text += f", +{len(change.drift) - 1} more"
    return text


def _op_cell(change: Change) -> str:
    return f"{change.op.value} (ignored)" if change.ignored_extraneous else change.op.value


def summary_rows(changes: Iterable[Change], *, now: datetime | None = None) -> list[tuple[str, str, str, str, str]]:
    """Rows for ``SUMMARY_HEADERS``: OP, KIND, NAMESPACE/NAME, SOURCE (file:line), DRIFT (first field, who,
    when; "+N more")."""
    return [(_op_cell(c), display_kind(c), display_name(c), c.source or "-", _drift_cell(c, now))
            for c in changes]


def counts(changes: Iterable[Change]) -> dict[str, int]:
    """``{create, update, delete, unchanged, ignored}``; an IgnoreExtraneous deletion counts as ignored."""
    out = {op.value: 0 for op in Op}
    out["ignored"] = 0
    for c in changes:
        out["ignored" if c.ignored_extraneous else c.op.value] += 1
    return out


def to_json(changes: Sequence[Change], commit: str | None, dirty: bool, ref: str | None = None) -> dict[str, Any]:
    """The change list for scripts, documented in docs/diff-json.md (``schemaVersion`` 1)."""
    return {
        "schemaVersion": SCHEMA_VERSION,
        "source": {"commit": commit, "dirty": dirty, "ref": ref},
        "counts": counts(changes),
        "changes": [{**c.to_json(), "note": redact(c.note),
                     **({"warnings": [redact(w) for w in c.warnings]} if c.warnings else {}),
                     "diff": unified(c, color=False, annotate=False)} for c in changes],
    }


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") if text else ""


def _fence(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return fence


def _md_summary(n: dict[str, int]) -> str:
    parts = [f"{n[op]} to {op}" for op in ("create", "update", "delete") if n[op]]
    if n["ignored"]:
        parts.append(f"{n['ignored']} ignored")
    if n["unchanged"]:
        parts.append(f"{n['unchanged']} unchanged")
    return ", ".join(parts) or "no objects"


def markdown(changes: Sequence[Change], commit: str | None, *, now: datetime | None = None,
             limit: int = MARKDOWN_LIMIT) -> str:
    """A pull request comment: a heading with the counts, a table of changed objects and one collapsed
    ``diff`` block per object. Diffs that would push the comment past ``limit`` characters are left out
    (and counted), so the comment is never rejected for its size."""
    n = counts(changes)
    at = f" at `{commit[:12]}`" if commit else ""
    shown = [c for c in changes if c.op is not Op.UNCHANGED]
    lines = [f"### kubectl gitops diff{at}", "", _md_summary(n), ""]
    if not shown:
        lines.append("No differences: a sync would change nothing.")
        return "\n".join(lines) + "\n"
    lines += ["| Op | Kind | Namespace/Name | Source | Drift |", "|---|---|---|---|---|"]
    for row in summary_rows(shown, now=now):
        lines.append("| " + " | ".join(_md_cell(cell) for cell in row) + " |")
    lines.append("")
    text = "\n".join(lines)
    left_out = 0
    for c in shown:
        body = "\n".join([line for line in unified(c, color=False, now=now).splitlines()])
        fence = _fence(body)
        title = f"{_op_cell(c)} {display_kind(c)} {display_name(c)}"
        block = (f"<details><summary>{_html(title)}</summary>\n\n{fence}diff\n{body}\n{fence}\n\n</details>\n")
        if len(text) + len(block) > limit - 200:
            left_out += 1
            continue
        text += "\n" + block
    if left_out:
        text += (f"\n_{left_out} diff{'s' if left_out != 1 else ''} left out to stay under the comment size "
                 "limit; run `kubectl gitops diff` to see them._\n")
    return text


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_external(changes: Iterable[Change], tmpdir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``tmpdir/LIVE`` and ``tmpdir/MERGED`` for ``KUBECTL_EXTERNAL_DIFF``: one masked YAML file (redacted of
    credentials; secret-sourced fields masked by provenance) per object side, named like kubectl's; a side
    that does not exist (create, delete) has no file, which ``diff -N`` reads as empty. Unchanged objects
    are skipped. The caller removes ``tmpdir``."""
    root = Path(tmpdir)
    live, merged = root / "LIVE", root / "MERGED"
    for d in (live, merged):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    for c in changes:
        if c.op is Op.UNCHANGED:
            continue
        for folder, side in ((live, c.before), (merged, c.after)):
            if side is None:
                continue
            path = folder / file_name(c)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(redact_credentials(to_yaml(side)))
    return live, merged
