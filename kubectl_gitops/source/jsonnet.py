"""Render ``.jsonnet`` files as Argo CD does, with its ``directory.jsonnet`` inputs: extVars, TLAs and libs.

Argo CD evaluates every ``*.jsonnet`` file of a directory app (``.libsonnet`` files are libraries, read only
through ``import``) and reads the result as one object or an array of objects; ``kind: *List`` objects are
flattened into their items, ``null`` array entries dropped. We do the same, with the same evaluator
(go-jsonnet, see ``jsonnet_eval``). Inputs::

    JsonnetOptions(ext_vars=(("env", "prod"),), ext_codes=(("replicas", "3"),),
                   tla_vars=(("ns", "web"),), tla_codes=(), libs=("vendor",))

come from the ``--jsonnet-*`` flags, or from an Argo CD Application through ``from_argo``, which takes
``spec.source.directory.jsonnet`` as a dict (and the build environment for ``$ARGOCD_APP_NAME`` and friends)::

    opts, problems = from_argo({"extVars": [{"name": "env", "value": "prod"}],
                                "tlas": [{"name": "replicas", "value": "3", "code": True}],
                                "libs": ["vendor"]}, env={"ARGOCD_APP_NAME": "web"})
    render(root, "apps/web", dataclasses.replace(source, jsonnet=opts))

Library folders are relative to the repository root (Argo's rule); imports are looked up next to the
importing file, then in the libraries (last first), then in the rendered ``--path`` folder, as Argo's jpath
list ``[app path, *libs]`` is searched by go-jsonnet.

A repository is untrusted (docs/security.md): each file is evaluated in a child process with a memory
limit (``MEMORY_LIMIT``) and the render timeout, imports never leave the repository, and the output goes
through the same size and nesting limits as a YAML or JSON file of the repository. Problems are strings
``file:line: what; what to do`` (line from jsonnet's message), reported with every other render problem.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubectl_gitops.errors import RenderError
from kubectl_gitops.model import Origin
from kubectl_gitops.settings import RENDER_TIMEOUT_ENV, JsonnetOptions, environment
from kubectl_gitops.source.parse import Out, add_object
from kubectl_gitops.untrusted.pathguard import is_inside
from kubectl_gitops.untrusted.yamllimits import MAX_BYTES, MAX_DOCUMENTS, LimitError, load_json

JSONNET_SUFFIX = ".jsonnet"
LIBSONNET_SUFFIX = ".libsonnet"
MEMORY_LIMIT = 3 << 30  # address space of one evaluation: about 2 GiB of heap once Go's runtime has reserved its own
_BOOT = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
         "from kubectl_gitops.source.jsonnet_eval import main; main()")
_LOCATION = re.compile(r"^\s*(?P<file>[^\s<][^:\s]*):(?P<line>\d+):\d+(?:-\d+)?(?:\s+|$)")
_ARGO_VAR_FIELDS = {"name", "value", "code"}
_ARGO_FIELDS = {"extVars", "tlas", "libs"}


# --- inputs ---------------------------------------------------------------------------------------------


def _envsubst(text: str, env: Mapping[str, str]) -> str:
    """Argo CD's ``Env.Envsubst`` (Go's ``os.Expand``): ``$NAME`` and ``${NAME}`` from ``env``, unknown ones
    empty, ``$$`` a dollar."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1) or m.group(2) or "", "")

    return re.sub(r"\$\$|\$\{([^}]*)\}|\$([A-Za-z0-9_]+)", sub, text)


def _references(text: str) -> set[str]:
    return {a or b for a, b in re.findall(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)", text.replace("$$", ""))}


def from_argo(spec: Any, env: Mapping[str, str] | None = None, *, where: str = "spec.source.directory.jsonnet",
              unavailable: frozenset[str] = frozenset()) -> tuple[JsonnetOptions, list[str]]:
    """Options from Argo CD's ``directory.jsonnet`` (``{extVars, tlas, libs}``), values expanded with ``env``.

    Returns ``(options, problems)``; a problem names the field (``where.extVars[1].code``) and what to do, and
    an unknown field is a problem too, never ignored. A value using a build variable of ``unavailable`` (one
    Argo CD knows and the caller cannot give) is a problem rather than an empty string."""
    env = env or {}
    problems: list[str] = []
    if spec is None:
        return JsonnetOptions(), []
    if not isinstance(spec, dict):
        return JsonnetOptions(), [f"{where}: must be a mapping with extVars, tlas and libs; fix the Application"]
    for key in sorted(set(spec) - _ARGO_FIELDS):
        problems.append(f"{where}.{key}: not a field of directory.jsonnet (known: extVars, tlas, libs); remove it")
    lists: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}
    for field in ("extVars", "tlas"):
        strs: list[tuple[str, str]] = []
        codes: list[tuple[str, str]] = []
        items = spec.get(field) or []
        if not isinstance(items, list):
            problems.append(f"{where}.{field}: must be a list of {{name, value, code}}; fix the Application")
            items = []
        for i, item in enumerate(items):
            at = f"{where}.{field}[{i}]"
            if not isinstance(item, dict):
                problems.append(f"{at}: must be a mapping with name, value and code; fix the Application")
                continue
            for key in sorted(set(item) - _ARGO_VAR_FIELDS):
                problems.append(f"{at}.{key}: not a field of a Jsonnet variable (known: name, value, code); remove it")
            name, value, code = item.get("name"), item.get("value", ""), item.get("code", False)
            if not isinstance(name, str) or not name:
                problems.append(f"{at}.name: must be a non-empty string; name the variable")
                continue
            if not isinstance(value, str):
                problems.append(f"{at}.value: must be a string, found {type(value).__name__}; quote the value")
                continue
            if not isinstance(code, bool):
                problems.append(f"{at}.code: must be true or false; fix the Application")
                continue
            missing = sorted(_references(value) & unavailable)
            if missing:
                problems.append(f"{at}.value: uses ${missing[0]}, which kubectl-gitops cannot know before it renders; "
                                "write the value out")
                continue
            (codes if code else strs).append((name, _envsubst(value, env)))
        lists[field] = (strs, codes)
    libs = spec.get("libs") or []
    if not isinstance(libs, list) or not all(isinstance(p, str) and p for p in libs):
        problems.append(f"{where}.libs: must be a list of folders relative to the repository root; fix the Application")
        libs = []
    opts = JsonnetOptions(ext_vars=tuple(lists["extVars"][0]), ext_codes=tuple(lists["extVars"][1]),
                          tla_vars=tuple(lists["tlas"][0]), tla_codes=tuple(lists["tlas"][1]), libs=tuple(libs))
    return opts, problems


def check_options(root: Path, opts: JsonnetOptions) -> list[str]:
    """Problems with the library folders (inside the repository, existing) and variables named twice."""
    problems = []
    for lib in opts.libs:
        rel = posixpath.normpath(lib.replace(os.sep, "/"))
        if posixpath.isabs(rel) or rel == ".." or rel.startswith("../"):
            problems.append(f"jsonnet library folder {lib!r} is outside the repository; give a folder relative to the "
                            "repository root (e.g. vendor)")
        elif os.path.lexists(root / rel) and not is_inside(root, root / rel):
            problems.append(f"jsonnet library folder {lib!r} is a symbolic link that leaves the repository (not read); "
                            "make it a folder inside the repository")
        elif not (root / rel).is_dir():
            problems.append(f"jsonnet library folder {lib!r} does not exist in the repository; library folders are "
                            "relative to the repository root, not to --path")
    for kind, strs, codes in (("external variable", opts.ext_vars, opts.ext_codes),
                              ("top-level argument", opts.tla_vars, opts.tla_codes)):
        both = sorted({n for n, _ in strs} & {n for n, _ in codes})
        for name in both:
            problems.append(f"jsonnet {kind} {name!r} is given both as a string and as code; give it once")
    return problems


# --- evaluation -----------------------------------------------------------------------------------------


def _hint(what: str) -> str:
    m = re.search(r"Undefined external variable: (\S+)", what)
    if m:
        return (f"pass it with --jsonnet-ext-var-str {m.group(1)}=VALUE (Argo CD: directory.jsonnet.extVars)")
    m = re.search(r"Missing argument: (\S+)", what)
    if m:
        return f"pass it with --jsonnet-tla-str {m.group(1)}=VALUE (Argo CD: directory.jsonnet.tlas)"
    if "max stack frames exceeded" in what:
        return "the evaluation nests deeper than 500 calls (the limit); fix the recursion"
    return "fix the Jsonnet"


def error_problem(rel: str, message: str, refused: str | None = None) -> str:
    """``file:line: what; what to do`` from go-jsonnet's error text: the location is the static error's, or the
    innermost frame of the trace (an error inside a library names the library's line)."""
    lines = [ln for ln in message.splitlines() if ln.strip()]
    head = lines[0].strip() if lines else "evaluation failed"
    runtime = head.startswith("RUNTIME ERROR: ")
    head = head.removeprefix("RUNTIME ERROR: ")
    where = rel
    m = _LOCATION.match(head)
    if m and not runtime:  # a static (parse) error: "file:line:col message"
        where = f"{m.group('file')}:{m.group('line')}"
        head = head[m.end():].strip()
    else:
        for ln in lines[1:]:
            m = _LOCATION.match(ln)
            if m:
                where = f"{m.group('file')}:{m.group('line')}"
                break
    if refused:
        return f"{where}: {refused}"
    return f"{where}: jsonnet: {head}; {_hint(head)}"


def _request(root: Path, rel: str, app_path: str, opts: JsonnetOptions) -> dict[str, Any]:
    libs = [posixpath.normpath(lib.replace(os.sep, "/")) for lib in opts.libs]
    return {
        "root": str(root), "file": rel, "libs": [app_path, *libs], "max_bytes": MAX_BYTES, "memory": MEMORY_LIMIT,
        "ext_vars": dict(opts.ext_vars), "ext_codes": dict(opts.ext_codes),
        "tla_vars": dict(opts.tla_vars), "tla_codes": dict(opts.tla_codes),
    }


def _run(root: Path, request: dict[str, Any]) -> dict[str, Any]:
    """The child's answer, or ``{"problem": …}`` when it timed out or died (memory)."""
    timeout = environment().render_timeout
    try:
        # An empty environment: the evaluator needs none, and a hostile file then has nothing to find in it.
        proc = subprocess.run([sys.executable, "-I", "-c", _BOOT, json.dumps(sys.path)], input=json.dumps(request),
                              capture_output=True, text=True, timeout=timeout, cwd=root, check=False, env={})
    except subprocess.TimeoutExpired:
        return {"problem": f"evaluation timed out after {timeout:.0f}s and was stopped; fix the Jsonnet, or raise "
                           f"{RENDER_TIMEOUT_ENV} if it is meant to take that long"}
    except OSError as e:
        raise RenderError(f"cannot start the Jsonnet evaluator ({sys.executable}): {e.strerror}",
                          hint="check the Python installation") from e
    answer: dict[str, Any] = {}
    if proc.returncode == 0:
        try:
            answer = json.loads(proc.stdout)
        except ValueError:
            answer = {}
        if answer and not answer.get("memory"):
            return answer
    if answer.get("memory") or "out of memory" in proc.stderr or "MemoryError" in proc.stderr:
        return {"problem": f"evaluation needed more than {MEMORY_LIMIT >> 30} GiB of memory (the limit) and was "
                           "stopped; fix the Jsonnet or render less per file"}
    last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    return {"problem": f"the Jsonnet evaluator stopped ({last}); run with -v and report it if the file is fine"}


def _flatten(out: Out, data: Any, rel: str) -> None:
    origin = Origin(rel, None, "jsonnet", "")
    if isinstance(data, list):
        items = [d for d in data if d is not None]
    elif (isinstance(data, dict) and "apiVersion" not in data and "kind" not in data and data
          and all(isinstance(v, dict) and "kind" in v for v in data.values())):
        out.problems.append(f"{rel}: the output is an object of objects (name: object, as Tanka and kube-prometheus "
                            "write it), not a Kubernetes object; Argo CD reads one object or an array: end the file "
                            "with std.objectValues(...) of it")
        return
    else:
        items = [data]
    if len(items) > MAX_DOCUMENTS:
        out.problems.append(f"{rel}: the output has more than {MAX_DOCUMENTS:,} objects (the limit per file); "
                            "split it into several .jsonnet files")
        return
    for item in items:
        add_object(out, item, origin)


def render_file(root: Path, rel: str, app_path: str, opts: JsonnetOptions) -> Out:
    """Evaluate ``rel`` (a ``.jsonnet`` file, relative to ``root``) into manifests and problems. ``app_path``
    is the rendered folder (Argo's app path, a library folder too). Raises ``RenderError`` when the
    evaluator (the ``gojsonnet`` package) is not installed."""
    out = Out([], [])
    answer = _run(root, _request(root, rel, app_path, opts))
    if answer.get("missing"):
        raise RenderError(f"{rel}: rendering .jsonnet files needs the Python package gojsonnet, which is not "
                          "installed for this Python",
                          hint="pip install gojsonnet (it has no wheel for Python 3.14 on Intel Macs: use Python "
                               "3.10-3.13 there); or --exclude '*.jsonnet' to skip these files")
    if "problem" in answer:
        out.problems.append(f"{rel}: {answer['problem']}")
        return out
    if "error" in answer:
        out.problems.append(error_problem(rel, str(answer["error"]), answer.get("refused")))
        return out
    try:
        data = load_json(str(answer.get("output", "")))
    except LimitError as e:
        out.problems.append(f"{rel}: the output {e.problem}; {e.hint}")
        return out
    except ValueError as e:  # not expected from jsonnet's own manifestation
        out.problems.append(f"{rel}: the output is not JSON ({e}); report it with -v")
        return out
    _flatten(out, data, rel)
    return out
