"""How a plan looks: the ``waves`` table, its JSON step list, and dot/mermaid pictures.

Pure functions from a ``Plan`` to text or plain data (no click, no I/O), so they are tested
without a repository and shared by ``waves`` and ``sync --dry-run``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubectl_gitops.engine.plan import (
    DELETE_POLICIES,
    NOTE_SYNC_FAIL,
    Phase,
    Plan,
    Step,
    display_kind,
    display_name,
    skip_reason,
)
from kubectl_gitops.model import ResourceKey

# What ``--live`` adds: the change a sync would make to each object (create, update, unchanged, ...).
Changes = Mapping[ResourceKey, str]

HEADERS = ("PHASE", "WAVE", "KIND", "NAMESPACE/NAME", "HOOK", "NOTE")


def describe_hook(step: Step) -> str:
    """``PreSync (HookSucceeded)``: hook types, then delete policies; ``""`` for ordinary objects."""
    if not step.hook:
        return ""
    policies = ",".join(sorted(step.delete_policies, key=DELETE_POLICIES.index))
    return f"{','.join(step.hook_types)} ({policies})"


def step_notes(step: Step, *, verbose: int = 0) -> list[str]:
    """Why a step is where it is and what is special about it, most important first."""
    notes: list[str] = []
    if step.moved_by:
        notes.append(step.moved_by)
    if step.runs_only_on_failure:
        notes.append(NOTE_SYNC_FAIL)
    if step.helm_hooks:
        notes.append(f"Helm hook {','.join(step.helm_hooks)}")
    if step.generated:
        notes.append("new name on each sync (generateName)")
    options = step.options.to_strings()
    if options:
        notes.append(" ".join(options))
    if verbose:
        notes.append(str(step.manifest.origin))
    return notes


def table_rows(plan: Plan, *, verbose: int = 0, changes: Changes | None = None) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the ``waves`` table; skipped objects come last with PHASE ``Skip``."""
    headers = list(HEADERS)
    if changes is not None:
        headers.insert(4, "CHANGE")
    rows: list[list[str]] = []
    for step in plan.steps:
        row = [str(step.phase), str(step.wave), step.display_kind, step.display_name, describe_hook(step),
               "; ".join(step_notes(step, verbose=verbose))]
        if changes is not None:
            row.insert(4, changes.get(step.key, ""))
        rows.append(row)
    for m in plan.skipped:
        notes = [skip_reason(m) or "skipped"]
        if verbose:
            notes.append(str(m.origin))
        row = ["Skip", "", display_kind(m), display_name(m), "", "; ".join(notes)]
        if changes is not None:
            row.insert(4, "")
        rows.append(row)
    return headers, rows


def render_table(plan: Plan, *, verbose: int = 0, changes: Changes | None = None) -> str:
    """The table as printed (plain columns, like kubectl get); ``""`` for an empty plan."""
    from tabulate import tabulate

    headers, rows = table_rows(plan, verbose=verbose, changes=changes)
    if not rows:
        return ""
    return str(tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True))


def summary(plan: Plan) -> str:
    """``7 steps in 5 waves (PreSync 1, Sync 5, PostSync 1), 1 skipped``."""
    groups = plan.groups()
    per_phase: dict[Phase, int] = {}
    for step in plan.steps:
        per_phase[step.phase] = per_phase.get(step.phase, 0) + 1
    n = len(plan.steps)
    text = f"{n} step{'s' if n != 1 else ''} in {len(groups)} wave{'s' if len(groups) != 1 else ''}"
    if per_phase:
        text += " (" + ", ".join(f"{p} {c}" for p, c in sorted(per_phase.items())) + ")"
    if plan.skipped:
        text += f", {len(plan.skipped)} skipped"
    return text


def plan_json(plan: Plan, *, changes: Changes | None = None) -> list[dict[str, Any]]:
    """The documented step list (docs/waves.md); with ``--live`` each step also has ``change``."""
    steps = plan.to_json()
    if changes is not None:
        for data, step in zip(steps, plan.steps, strict=True):
            data["change"] = changes.get(step.key, "")
    return steps


# --- graphs ----------------------------------------------------------------------------------------

def _group_label(phase: Phase, wave: int) -> str:
    return f"{phase}, wave {wave}"


def _node_label(step: Step) -> tuple[str, str]:
    second = step.display_name + (f" [{describe_hook(step)}]" if step.hook else "")
    return step.display_kind, second


def _edges(plan: Plan) -> list[tuple[int, int, bool]]:
    """(from group, to group, on failure only) between consecutive groups; SyncFail hangs off the
    last group that runs before it, drawn dashed."""
    groups = plan.groups()
    edges: list[tuple[int, int, bool]] = []
    last_main: int | None = None
    for i, (phase, _wave, _steps) in enumerate(groups):
        if i == 0:
            if phase is not Phase.SYNC_FAIL:
                last_main = 0
            continue
        prev_phase = groups[i - 1][0]
        if phase is Phase.SYNC_FAIL and prev_phase is not Phase.SYNC_FAIL:
            if last_main is not None:
                edges.append((last_main, i, True))
        else:
            edges.append((i - 1, i, False))
        if phase is not Phase.SYNC_FAIL:
            last_main = i
    return edges


def _dot_quote(text: str) -> str:
    """A DOT string literal; a newline becomes DOT's ``\\n`` line break."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_dot(plan: Plan) -> str:
    """Graphviz: one cluster per (phase, wave), an edge from each wave to the next."""
    groups = plan.groups()
    lines = ["digraph waves {", "  rankdir=TB;", "  compound=true;", "  newrank=true;",
             '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    first_node: list[str] = []
    for i, (phase, wave, steps) in enumerate(groups):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_dot_quote(_group_label(phase, wave))};")
        if phase is Phase.SYNC_FAIL:
            lines.append("    style=dashed;")
        for step in steps:
            kind, name = _node_label(step)
            lines.append(f"    s{step.order} [label={_dot_quote(kind + chr(10) + name)}];")
        lines.append("  }")
        first_node.append(f"s{steps[0].order}")
    for a, b, failure in _edges(plan):
        attrs = f"ltail=cluster_{a}, lhead=cluster_{b}"
        if failure:
            attrs += f", style=dashed, label={_dot_quote('if the sync fails')}"
        lines.append(f"  {first_node[a]} -> {first_node[b]} [{attrs}];")
    lines.append("}")
    return "\n".join(lines)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def render_mermaid(plan: Plan) -> str:
    """Mermaid flowchart: one subgraph per (phase, wave), edges between consecutive waves."""
    lines = ["flowchart TD"]
    for i, (phase, wave, steps) in enumerate(plan.groups()):
        lines.append(f'  subgraph g{i}["{_mermaid_text(_group_label(phase, wave))}"]')
        lines.append("    direction LR")
        for step in steps:
            kind, name = _node_label(step)
            lines.append(f'    s{step.order}["{_mermaid_text(kind)}<br/>{_mermaid_text(name)}"]')
        lines.append("  end")
    for a, b, failure in _edges(plan):
        lines.append(f'  g{a} -. "if the sync fails" .-> g{b}' if failure else f"  g{a} --> g{b}")
    return "\n".join(lines)

