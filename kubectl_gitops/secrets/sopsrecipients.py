"""Who may hold a file's data key: the recipients its .sops.yaml creation rule names, checked and wrapped for.

sops' recipient list (``sops.age``) is not covered by the MAC: anyone can add ``{recipient: age1…}``
with an empty ``enc`` to a file, and whoever next re-wraps the data key (an edit, a merge, sops
updatekeys) would give it to them. So the creation rule of .sops.yaml, which is reviewed like code,
decides who may hold the data key; the file's own list is only checked against it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from kubectl_gitops.errors import SecretsError
from kubectl_gitops.secrets import age, agekeys
from kubectl_gitops.secrets.sopsmeta import AgeKey, Metadata


class RecipientsError(SecretsError):
    """A file's recipients are not the ones its creation rule names (exit 3)."""


@dataclass(frozen=True)
class RecipientMismatch:
    """How a file's recipients differ from its creation rule's."""

    file: str
    rule: str  # which rule of which .sops.yaml, for messages ("" when no rule matches the file)
    extra: tuple[str, ...]  # listed in the file, not named by the rule
    missing: tuple[str, ...]  # named by the rule, without a wrapped data key in the file

    def describe(self) -> str:
        parts = []
        if self.extra:
            parts.append(f"not named by the rule: {', '.join(self.extra)}")
        if self.missing:
            parts.append(f"named by the rule but without the data key: {', '.join(self.missing)}")
        return f"recipients differ from {self.rule or 'its creation rule'}: " + "; ".join(parts)

    def __str__(self) -> str:
        return f"{self.file}: {self.describe()}"


def recipient_mismatch(meta: Metadata, rule_recipients: Iterable[str], *, file: str,
                       rule: str = "") -> RecipientMismatch | None:
    """Pure: the recipients of ``meta`` compared with a creation rule's; None when they agree."""
    wanted = list(dict.fromkeys(rule_recipients))
    extra = tuple(dict.fromkeys(r for r in meta.recipients if r not in wanted))
    holding = {k.recipient for k in meta.age if k.enc}
    missing = tuple(r for r in wanted if r not in holding)
    if not extra and not missing:
        return None
    return RecipientMismatch(file, rule, extra, missing)


def guard_recipients(meta: Metadata, rule_recipients: list[str] | None, *, file: str, rule: str = "",
                     action: str = "edit", hint: str | None = None) -> RecipientMismatch | None:
    """Before ``action`` re-wraps or re-uses the data key of ``file``: refuse (RecipientsError) when the file
    lists a recipient its creation rule does not name, or, without a matching rule, a recipient without
    a wrapped key (someone it would be wrapped for anew). Returns the recipients the rule names that the
    file lacks (the caller warns: ``updatekeys`` adds them), or None."""
    if rule_recipients is None:
        unwrapped = [k.recipient for k in meta.age if not k.enc]
        if unwrapped:
            raise RecipientsError(
                f"refusing to {action} {file}: it lists {', '.join(unwrapped)} without a wrapped data key and no "
                ".sops.yaml creation rule matches the file to say who may have it",
                hint=f"remove the entry from the file's sops.age list, or add a creation rule for {file} to "
                     ".sops.yaml and run `kubectl gitops secrets updatekeys`")
        return None
    mismatch = recipient_mismatch(meta, rule_recipients, file=file, rule=rule)
    if mismatch is not None and mismatch.extra:
        raise RecipientsError(
            f"refusing to {action} {file}: it lists recipients {rule or 'its creation rule'} does not name: "
            f"{', '.join(mismatch.extra)}",
            details=["the recipient list is not protected by the MAC: anyone can add a key to it, and whoever "
                     "re-encrypts the file next would give that key the data key"],
            hint=hint or f"run `kubectl gitops secrets updatekeys {file}` (it shows the change and asks), or add "
                         "the recipient to the rule if it belongs there")
    return mismatch


def wrap_data_key(data_key: bytes, recipients: list[str], keep: list[AgeKey] | None = None,
                  allowed: Collection[str] | None = None) -> list[AgeKey]:
    """The ``sops.age`` entries for ``recipients``: kept from ``keep`` when it holds a wrapped key for
    one, else the data key wrapped anew. With ``allowed`` (a creation rule's recipients), wrapping for
    anyone else is refused: the recipient list is not under the MAC, so it may have been tampered with."""
    if not recipients:
        raise SecretsError("no age recipients: add `age: <public key>` to the creation rule in .sops.yaml",
                           hint="run `kubectl gitops secrets init` to create a key and a .sops.yaml")
    existing = {k.recipient: k for k in keep or [] if k.enc}
    out = []
    for r in dict.fromkeys(recipients):  # de-duplicated, order kept
        if r in existing:
            out.append(existing[r])
            continue
        if allowed is not None and r not in allowed:
            raise RecipientsError(f"refusing to give the data key to {r}: no .sops.yaml creation rule names it",
                                  hint="add it to the rule's `age:` list, then run `kubectl gitops secrets "
                                       "updatekeys`")
        try:
            parsed = agekeys.Recipient.parse(r)
        except agekeys.AgeError as e:
            raise SecretsError(str(e)) from e
        out.append(AgeKey(r, age.encrypt(data_key, [parsed], armored=True).decode()))
    return out
