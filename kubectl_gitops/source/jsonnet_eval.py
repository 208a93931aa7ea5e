"""The Jsonnet evaluator's side of ``source.jsonnet``: runs in a child process, imports only inside the repository.

``source.jsonnet`` starts ``python -I -c … main()`` per ``.jsonnet`` file, writes one JSON request on its stdin
and reads one JSON answer from its stdout. A child process, not a thread, because Jsonnet is a complete
language: ``local f(n) = f(n-1) + f(n-1)`` runs for ever and a manifested ``std.makeArray(1e9, …)`` takes all
memory. The child lowers its own address-space limit first (``RLIMIT_AS``; Go's runtime, which the binding
carries, needs about 1 GiB of reservations on top of its heap) and the parent kills it after the render
timeout, so neither can hang or starve the machine; ``max_stack`` bounds recursion the way jsonnet does.

The evaluator is go-jsonnet's Python binding (PyPI ``gojsonnet``, module ``_gojsonnet``): Google's Go
implementation, the one Argo CD embeds, so errors and results match Argo's. Its API is the C++ binding's.

Imports: ``import``, ``importstr`` and ``importbin`` all go through ``Importer``, which replaces the binding's
file importer. Like go-jsonnet's ``FileImporter`` it tries the importing file's folder, then the library
folders last first; unlike it, a path that leaves the repository (absolute, ``..`` above the root, or through
a symbolic link whose real path is outside) is refused and never read, and a file larger than the per-file
limit is refused too. ``std.native`` has no functions: none are registered. The callback's own error text
is not passed through the binding (go-jsonnet 0.22's Python binding reuses a buffer and garbles it); the
refusal is kept here and sent back instead.
"""

from __future__ import annotations

import json
import os
import posixpath
import sys
from typing import Any

from kubectl_gitops.untrusted.pathguard import is_inside

MAX_STACK = 500  # jsonnet's default stack depth (function calls and object nesting while evaluating)
MAX_TRACE = 8  # stack trace lines in an error: enough for the location, short enough to read
LINK_HINT = "make it a regular file inside the repository"


class ImportRefused(Exception):
    """An import that leaves the repository or exceeds a limit; ``str`` is the whole problem text."""


class Importer:
    """The import callback: ``(base_dir, imported) -> (found_at, bytes)``; paths relative to ``root``."""

    def __init__(self, root: str, libs: list[str], max_bytes: int):
        self.root = root
        self.libs = [posixpath.normpath(p) for p in libs]
        self.max_bytes = max_bytes
        self.refused: str | None = None  # the first refusal, sent back instead of the binding's text

    def __call__(self, base: str, imported: str) -> tuple[str, bytes]:
        try:
            return self._resolve(base, imported)
        except ImportRefused as e:
            self.refused = self.refused or str(e)
            raise RuntimeError("refused") from None

    def _resolve(self, base: str, imported: str) -> tuple[str, bytes]:
        if os.path.isabs(imported) or imported.startswith("\\") or (len(imported) > 1 and imported[1] == ":"):
            raise ImportRefused(f"imports {imported!r}, an absolute path: a repository's Jsonnet may import only "
                                "files inside the repository; import it by a relative path or from a "
                                "library folder (--jsonnet-libs)")
        candidates = [posixpath.join(base, imported)] + [posixpath.join(lib, imported) for lib in reversed(self.libs)]
        for candidate in candidates:
            rel = posixpath.normpath(candidate)
            if rel == ".." or rel.startswith("../") or posixpath.isabs(rel):
                raise ImportRefused(f"imports {imported!r}, which is outside the repository (it was not read); "
                                    "a repository's Jsonnet may import only files inside it: copy the "
                                    "library into the repository (e.g. vendor/) and add --jsonnet-libs vendor")
            full = os.path.join(self.root, rel)
            if not os.path.lexists(full):
                continue
            if not is_inside(self.root, full):
                raise ImportRefused(f"imports {imported!r} through {_first_link(self.root, rel)}, a symbolic link "
                                    f"that leaves the repository (its target was not read); {LINK_HINT}")
            if not os.path.isfile(full):
                continue
            if os.path.getsize(full) > self.max_bytes:
                raise ImportRefused(f"imports {imported!r} ({rel}), larger than {self.max_bytes >> 20} MiB (the "
                                    "limit per file); split it")
            with open(full, "rb") as f:
                return rel, f.read(self.max_bytes + 1)
        raise ImportRefused(f"imports {imported!r}, which was not found next to the importing file "
                            f"({base or './'}) nor in the search path ({', '.join(self.libs)}); "
                            "fix the path or add its folder with --jsonnet-libs (Argo CD: directory.jsonnet.libs)")


def _first_link(root: str, rel: str) -> str:
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        candidate = "/".join(parts[:i])
        if os.path.islink(os.path.join(root, candidate)) and not is_inside(root, os.path.join(root, candidate)):
            return candidate
    return rel


def evaluate(request: dict[str, Any]) -> dict[str, Any]:
    """``{"output": json_text}``, ``{"error": jsonnet's message, "refused": import problem or None}``, or
    ``{"problem": what is wrong with the file as a whole}``."""
    import _gojsonnet  # type: ignore[import-not-found]

    importer = Importer(request["root"], request["libs"], request["max_bytes"])
    path = os.path.join(request["root"], request["file"])
    with open(path, "rb") as f:
        source = f.read(request["max_bytes"] + 1)
    if len(source) > request["max_bytes"]:
        return {"problem": f"larger than {request['max_bytes'] >> 20} MiB (the limit per file); split it"}
    try:
        output = _gojsonnet.evaluate_snippet(
            request["file"], source.decode("utf-8"), ext_vars=request["ext_vars"], ext_codes=request["ext_codes"],
            tla_vars=request["tla_vars"], tla_codes=request["tla_codes"], import_callback=importer,
            max_stack=MAX_STACK, max_trace=MAX_TRACE)
    except RuntimeError as e:
        return {"error": str(e), "refused": importer.refused}
    if len(output) > request["max_bytes"]:
        return {"problem": f"its output is larger than {request['max_bytes'] >> 20} MiB (the limit per file); "
                           "render less per file (split it into several .jsonnet files)"}
    return {"output": output}


def main() -> None:
    """Read the request, lower the memory limit, evaluate, answer. Exit 0 whenever an answer was written."""
    request = json.loads(sys.stdin.read())
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = request["memory"] if soft == resource.RLIM_INFINITY else min(request["memory"], soft)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):  # no resource module or no RLIMIT_AS here: the timeout still holds
        pass
    try:
        answer = evaluate(request)
    except ImportError:
        answer = {"missing": True}
    except MemoryError:  # Python's side ran out (the output's copy), not Go's: the same limit
        answer = {"memory": True}
    except UnicodeDecodeError as e:
        answer = {"problem": f"not UTF-8 text ({e.reason} at byte {e.start}); save the file as UTF-8"}
    sys.stdout.write(json.dumps(answer))
