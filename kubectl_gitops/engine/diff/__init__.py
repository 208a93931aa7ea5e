"""Desired versus live: normalise, compare, attribute drift, mask -> one ``Change`` per object.

Pure: plain dicts in, plain data out; no I/O and no Kubernetes client. ``ops`` fetches live objects
and server-side apply dry runs ("merged") and hands them here; ``cli.diff_view`` renders the result.

The questions this module answers, in the order a diff asks them:

1. **Does this object need a dry run at all?** ``may_differ(desired, live)``. A server-side apply
   changes nothing when (a) every field we send already has that value in the live object and
   (b) the set of fields our field manager owns (``metadata.managedFields``, operation ``Apply``)
   is exactly the set of fields we send: a field dropped from git but still owned by us would be
   *removed* by the apply, so it is a change even though (a) holds. Anything we cannot be sure of
   (a ``null``, a list item we cannot map to its ``k:``/``v:`` entry, ``"1"`` vs ``1``) answers
   "maybe": a dry run is never wrong, only slower.

2. **What would change?** ``classify(desired, live, merged)``. Both sides are normalised (no
   managedFields, resourceVersion, uid, generation, creationTimestamp, status, our source-commit
   annotation) and the user's ignore rules are applied to both; equal means UNCHANGED.

3. **Who made the live object differ?** ``drift(live, merged)``: for every field that differs,
   the manager (other than us) that owns it in live ``managedFields``, with its operation and time:
   ``spec.replicas: changed by kubectl-edit (Update) 2h ago``.

4. **Nothing secret leaves**: ``mask_secrets`` replaces Secret ``data``/``stringData`` values and
   the ``kubectl.kubernetes.io/last-applied-configuration`` annotation (any kind) with ``***``, or
   ``*** (before)`` / ``*** (after)`` when the value changed, as kubectl does; ``mask_provenance`` does
   the same for every field, in any kind, whose desired value came from a secret (``Manifest.secret_fields``:
   sops-encrypted leaves, substituted placeholders), and ``provenance_warnings`` names the fields that show
   a secret's value without having come from a secret (shown, never silently masked). ``Change.before`` and
   ``Change.after`` are always masked; ``Change.desired`` (plaintext) is kept out of ``repr``.

managedFields primer (``fieldsV1``, structured-merge-diff's encoding of a set of field paths)::

    f:spec:                          # map field "spec"
      f:replicas: {}                 # a leaf (or an atomic struct/list owned as a whole)
      f:template: {f:spec: {f:containers:
        k:{"name":"web"}:            # an associative-list item, by its key fields
          .: {}                      # "." marks the item itself as owned
          f:image: {}
      }}}
      f:finalizers: {v:"x": {}}     # a set item, by value;   i:<n> an item by index

Ignore rules are Argo CD's ``ignoreDifferences`` entries (group/kind/name/namespace, globs allowed,
with ``jsonPointers``, ``managedFieldsManagers`` and a safe subset of ``jqPathExpressions``).
Unlike Argo CD (argo-cd#7820) they also apply to sync: see ``respect_ignore_rules``.
``argocd.argoproj.io/compare-options: IgnoreExtraneous`` works as in Argo CD: a live object that
would be pruned is listed but not counted as a difference.

One job per module, in the order a comparison uses them: ``tree`` (plain JSON trees), ``fields``
(managedFields paths), ``pointer`` and ``jq`` (ignore-rule paths), ``ignore`` (the rules, for diff and sync),
``normalize``, ``mask``, ``fastpath`` (``may_differ``), ``drift``, ``change`` (``Change``, ``Op``, ``classify``)
and ``compare`` (the comparison engine: every desired object against the cluster, behind ``DryRunner``).
"""

from __future__ import annotations

from kubectl_gitops import FIELD_MANAGER
from kubectl_gitops.engine.diff.change import Change, Op, classify, compare_options, deletion, unchanged
from kubectl_gitops.engine.diff.drift import Drift, drift
from kubectl_gitops.engine.diff.fastpath import may_differ
from kubectl_gitops.engine.diff.fields import path_string
from kubectl_gitops.engine.diff.ignore import IgnoreRule, load_ignore_rules, respect_ignore_rules, strip_managed_by
from kubectl_gitops.engine.diff.jq import Jq as _Jq
from kubectl_gitops.engine.diff.mask import (
    MASK,
    MASK_AFTER,
    MASK_BEFORE,
    mask_provenance,
    mask_secrets,
    provenance_warnings,
)
from kubectl_gitops.engine.diff.normalize import normalize

__all__ = [
    "FIELD_MANAGER", "MASK", "MASK_AFTER", "MASK_BEFORE", "Change", "Drift", "IgnoreRule", "Op", "_Jq", "classify",
    "compare_options", "deletion", "drift", "load_ignore_rules", "mask_provenance", "mask_secrets", "may_differ",
    "normalize", "path_string", "provenance_warnings", "respect_ignore_rules", "strip_managed_by", "unchanged",
]
