"""``diff -o patch``: what a sync would change, as one RFC 6902 JSON Patch per object (the ``jsonpatch`` library).

Each patch turns the object's normalised live state (``Change.before``: without status, managedFields,
resourceVersion and the other fields the server maintains) into the server's dry-run result (``Change.after``),
so applying it to the live object (``jsonpatch.apply_patch(live, patch)``) gives what the sync would write, the
server-maintained fields and our source-commit annotation aside. Both sides are masked before the patch is made:
a secret value appears as ``***`` or ``*** (before)``/``*** (after)``, never in clear. A create is a patch
from ``{}``; a delete has ``"patch": null``. Unchanged objects are left out (``--show-unchanged`` lists them
with an empty patch)::

    {"schemaVersion": 1, "source": {"commit": "…", "dirty": false, "ref": null},
     "objects": [{"op": "update", "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "demo",
                  "name": "web", "source": "deploy/web.yaml:1",
                  "patch": [{"op": "replace", "path": "/spec/replicas", "value": 3}]}]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubectl_gitops.engine.diff import Change, Op

SCHEMA_VERSION = 1


def object_patch(change: Change) -> list[dict[str, Any]] | None:
    """The RFC 6902 operations from ``before`` to ``after`` (None for a delete)."""
    import jsonpatch

    if change.op is Op.DELETE:
        return None
    if change.after is None:  # unchanged without a dry run: nothing to show
        return []
    ops: list[dict[str, Any]] = jsonpatch.make_patch(change.before or {}, change.after).patch
    return ops


def to_patch(changes: Sequence[Change], commit: str | None, dirty: bool, ref: str | None = None) -> dict[str, Any]:
    """The document described in the module docstring."""
    objects = []
    for c in changes:
        objects.append({"op": c.op.value, "apiVersion": c.api_version, "kind": c.key.kind,
                        "namespace": c.key.namespace, "name": c.key.name, "source": c.source,
                        "patch": object_patch(c)})
    return {"schemaVersion": SCHEMA_VERSION, "source": {"commit": commit, "dirty": dirty, "ref": ref},
            "objects": objects}
