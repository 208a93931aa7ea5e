"""The layout issue 13 asks for, checked: every module says its job in its first docstring line, none grows past
~400 lines without saying why, and README's module table names every module of every package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kubectl_gitops"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
MAX_LINES = 420  # "~400": a module past it must say why in its docstring ("longer than")


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_every_module_opens_with_a_line_saying_its_job(path: Path) -> None:
    doc = ast.get_docstring(ast.parse(path.read_text()))
    if path.name == "__init__.py" and not path.read_text().strip():
        return  # an empty package marker
    assert doc and doc.strip().splitlines()[0].strip(), f"{_rel(path)} has no docstring saying its job"


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_no_module_grows_past_400_lines_without_saying_why(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert lines <= MAX_LINES or "longer than" in doc.lower(), (
        f"{_rel(path)} has {lines} lines: split it, or say in its docstring why it is longer than ~400 lines")


def test_the_readme_module_table_names_every_module() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)/` \| (.*) \|$", readme, re.M)}
    missing = []
    for pkg in sorted(p for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        row = rows.get(pkg.name)
        if row is None:
            missing.append(f"{pkg.name}/ (no row)")
            continue
        if pkg.name == "cli":
            continue  # the commands' own modules; the row says what the layer does
        for mod in sorted(pkg.rglob("*.py")):
            if mod.name == "__init__.py" and mod.parent != pkg:
                name = mod.parent.name
            elif mod.name == "__init__.py" or "__pycache__" in mod.parts:
                continue
            elif mod.parent != pkg:
                continue  # modules of a sub-package: named with the sub-package
            else:
                name = mod.stem
            if f"`{name}`" not in row and f"`{name}/`" not in row:
                missing.append(f"{pkg.name}/{name}")
    assert not missing, f"README's module table does not name: {', '.join(missing)}"
