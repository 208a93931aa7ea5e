"""``secrets git-setup``: git reviews and merges sops files as text.

Two git drivers, configured in the repository's ``.git/config`` and switched on per file in
``.gitattributes`` (an entry for each file a ``.sops.yaml`` creation rule matches, in a block this
command owns and rewrites; re-run it after adding secret files)::

    [diff "sops"]
        textconv = kubectl-gitops secrets textconv
        cachetextconv = false        # never store decrypted text in git's notes cache
    [merge "sops"]
        name = kubectl-gitops sops merge
        driver = kubectl-gitops secrets merge-driver %O %A %B %P

* textconv: ``git diff``/``git log -p`` show decrypted text, like sops' documented textconv does.
  This is for local review by someone who holds a key; without a key the file is shown as it is
  (ciphertext) with a warning. Decrypted text goes to git's pager only, never into git's storage.
* merge driver: decrypts base, ours and theirs in memory, runs ``git merge-file`` on the plaintext
  (in a private temporary folder removed afterwards, also on SIGTERM/SIGHUP), and re-encrypts the
  result with our data key, re-using the IVs of both sides: values nobody changed keep their ciphertext and the MAC is
  recomputed, so merging two branches that edited different values just works (sops#52). On a
  real conflict, our version is kept unchanged, git reports the conflict, and nothing decrypted
  is written to the work tree; resolve it with ``kubectl gitops secrets edit``. Recipient lists are
  never united: the creation rule of .sops.yaml decides (see ``merged_recipients``), and a side that
  lists a recipient the rule does not name is refused.

This is the one module of the secrets layer that runs ``git``: configuring git is its job.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kubectl_gitops.errors import SecretsError
from kubectl_gitops.secrets import sops, sopsfile, sopsrecipients
from kubectl_gitops.secrets.check import rule_label
from kubectl_gitops.secrets.keys import Keyring
from kubectl_gitops.secrets.plaintmp import private_tempdir
from kubectl_gitops.secrets.sopsconfig import SopsConfig, config_for

DRIVER = "sops"
BLOCK_BEGIN = "# BEGIN kubectl-gitops secrets (managed by `kubectl gitops secrets git-setup`)"
BLOCK_END = "# END kubectl-gitops secrets"
GIT_TIMEOUT = 60.0


def _git(args: list[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT,
                              check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError as err:
        raise SecretsError("git is not installed or not on PATH") from err
    except subprocess.TimeoutExpired as err:
        raise SecretsError(f"git {args[0]} timed out after {GIT_TIMEOUT:.0f}s") from err
    if check and done.returncode != 0:
        raise SecretsError(f"git {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done


def default_command() -> str:
    """How git should call us: ``kubectl-gitops`` when on PATH, else this Python with ``-m``."""
    if shutil.which("kubectl-gitops"):
        return "kubectl-gitops"
    return f"{shlex.quote(sys.executable)} -m kubectl_gitops"


@dataclass
class SetupResult:
    repo: Path
    files: list[str]
    config: dict[str, str] = field(default_factory=dict)
    attributes_path: Path | None = None


def matching_files(repo: Path) -> list[str]:
    """Repository files (tracked or new, not ignored) that a .sops.yaml creation rule matches."""
    listed = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], repo).stdout
    out = []
    configs: dict[Path, SopsConfig | None] = {}
    for rel in sorted(set(filter(None, listed.split("\0")))):
        if not rel.lower().endswith((".yaml", ".yml", ".json")) or Path(rel).name in (".sops.yaml", ".sops.yml"):
            continue
        path = repo / rel
        if path.parent not in configs:
            configs[path.parent] = config_for(path)
        config = configs[path.parent]
        if config is not None and config.rule_for(path) is not None:
            out.append(rel)
    return out


def _attributes_text(existing: str, files: list[str]) -> str:
    lines = existing.splitlines()
    if BLOCK_BEGIN in lines and BLOCK_END in lines:
        start, end = lines.index(BLOCK_BEGIN), lines.index(BLOCK_END)
        lines = lines[:start] + lines[end + 1:]
    while lines and not lines[-1].strip():
        lines.pop()
    block = [BLOCK_BEGIN] + [f"{_escape_attr_path(f)} diff={DRIVER} merge={DRIVER}" for f in files] + [BLOCK_END]
    return "\n".join([*lines, *([""] if lines else []), *block]) + "\n"


def _escape_attr_path(rel: str) -> str:
    """gitattributes patterns are globs anchored with a leading ``/``: escape glob characters."""
    escaped = "/" + "".join("\\" + c if c in "*?[]\\" else c for c in rel)
    return f'"{escaped}"' if " " in escaped else escaped


def setup(cwd: Path, command: str | None = None) -> SetupResult:
    repo = Path(_git(["rev-parse", "--show-toplevel"], cwd).stdout.strip())
    command = command or default_command()
    settings = {
        f"diff.{DRIVER}.textconv": f"{command} secrets textconv",
        f"diff.{DRIVER}.cachetextconv": "false",
        f"merge.{DRIVER}.name": "kubectl-gitops sops merge (decrypt, merge, re-encrypt)",
        f"merge.{DRIVER}.driver": f"{command} secrets merge-driver %O %A %B %P",
    }
    for key, value in settings.items():
        _git(["config", "--local", key, value], repo)
    files = matching_files(repo)
    attributes = repo / ".gitattributes"
    existing = attributes.read_text() if attributes.exists() else ""
    attributes.write_text(_attributes_text(existing, files))
    return SetupResult(repo=repo, files=files, config=settings, attributes_path=attributes)


# --- drivers ----------------------------------------------------------------------------------

def textconv(path: Path, keyring: Keyring | None = None) -> tuple[str, str | None]:
    """(text to show, warning): decrypted text for sops files, the file itself otherwise."""
    text = path.read_text()
    if not sopsfile.looks_encrypted(text):
        return text, None
    keyring = keyring or Keyring()
    try:
        f = sops.parse(text, sopsfile.format_for(str(path)), str(path))
        if not f.encrypted:
            return text, None
        sops.decrypt_file(f, keyring.identities_for, keyring.describe)
    except SecretsError as e:
        return text, f"showing {path} encrypted: {e}"
    return sops.plaintext(f), None


@dataclass
class MergeOutcome:
    clean: bool
    message: str
    warnings: list[str] = field(default_factory=list)


def merged_recipients(ours: sops.Decrypted, theirs: sops.Decrypted | None,
                      rule_recipients: list[str] | None) -> tuple[list[str], list[sops.AgeKey]]:
    """(recipients, wrapped keys to re-use) of a merged file. Never a union of the two sides' lists: with a
    creation rule, ours' recipients plus those of theirs' that the rule names and that come with a key
    wrapped for our data key (so nobody gets a newly wrapped key); without one, ours' recipients that hold
    a wrapped key. ``guard_recipients`` has refused sides that list someone the rule does not name."""
    keep = [k for k in ours.metadata.age if k.enc]
    if rule_recipients is None:
        return [k.recipient for k in keep], keep
    recipients = [r for r in ours.metadata.recipients if r in rule_recipients]
    if theirs is not None and theirs.data_key == ours.data_key:
        for k in theirs.metadata.age:
            if k.enc and k.recipient in rule_recipients and k.recipient not in recipients:
                recipients.append(k.recipient)
                keep.append(k)
    return recipients, keep


def merge_files(base_path: Path, ours_path: Path, theirs_path: Path, pathname: str,
                keyring: Keyring | None = None) -> MergeOutcome:
    """The merge driver: on success ``ours_path`` holds the merged, re-encrypted file.

    Recipients come from the creation rule that matches ``pathname`` in the work tree's .sops.yaml (during
    a merge, normally our side's version): a side that lists a recipient the rule does not name is refused
    (RecipientsError, exit 3; git counts it as a conflict and keeps ours as it was)."""
    fmt = sopsfile.format_for(pathname)
    texts = [p.read_text() if p.exists() else "" for p in (base_path, ours_path, theirs_path)]
    parsed = [sops.parse(t, fmt, f"{pathname} ({side})") if t.strip() else None
              for t, side in zip(texts, ("base", "ours", "theirs"), strict=True)]
    ours = parsed[1]
    if ours is None or not ours.encrypted:
        return _plain_merge(base_path, ours_path, theirs_path, pathname)
    config = config_for(Path(pathname))
    rule = config.rule_for(pathname) if config is not None else None
    rule_recipients = rule.recipients if rule is not None else None
    where = rule_label(config, rule) if rule is not None and config is not None else ""
    warnings = []
    for f in parsed[1:]:
        if f is None or not f.encrypted or (f is not ours and rule_recipients is None):
            continue
        assert f.metadata is not None
        sopsrecipients.guard_recipients(f.metadata, rule_recipients, file=f.name, rule=where, action="merge",
                              hint=f"on the branch that lists it, run `kubectl gitops secrets updatekeys {pathname}` "
                                   "(it shows the change and asks), then merge again; or add the recipient to the "
                                   "rule if it belongs there")
    keyring = keyring or Keyring()
    decrypted: list[sops.Decrypted | None] = []
    for f in parsed:
        if f is None or not f.encrypted:
            decrypted.append(None)
            continue
        decrypted.append(sops.decrypt_file(f, keyring.identities_for, keyring.describe))
    d_ours = decrypted[1]
    assert d_ours is not None
    plain = [sops.plaintext(d.file) if d else (t if f is None or not f.encrypted else "")
             for d, f, t in zip(decrypted, parsed, texts, strict=True)]
    with private_tempdir("kubectl-gitops-merge-") as tmp:
        names = []
        for side, text in zip(("base", "ours", "theirs"), plain, strict=True):
            p = tmp / side
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            names.append(str(p))
        done = _git(["merge-file", "-p", "-L", "ours", "-L", "base", "-L", "theirs", names[1], names[0], names[2]],
                    tmp, check=False)
        merged = done.stdout
    if done.returncode != 0:
        return MergeOutcome(False, f"{pathname}: conflicting changes to the same values; kept our version. "
                                   "Resolve with `kubectl gitops secrets edit` (compare with "
                                   f"`git show MERGE_HEAD:{pathname}` decrypted)")
    stash: sops.Stash = {}
    for d in decrypted:
        if d is not None and d.data_key == d_ours.data_key:
            stash.update(d.stash)
    stash.update(d_ours.stash)
    recipients, keep = merged_recipients(d_ours, decrypted[2], rule_recipients)
    if rule_recipients is not None:
        lacking = [r for r in rule_recipients if r not in recipients]
        if lacking:
            warnings.append(f"{pathname}: {where} also names {', '.join(lacking)}, which neither side gave the "
                            f"data key; run `kubectl gitops secrets updatekeys {pathname}` after the merge")
    f = sops.parse(merged, fmt, pathname)
    sops.seal(f, d_ours.metadata.rules, recipients, d_ours.data_key, stash, keep=keep,
              allowed=rule_recipients if rule_recipients is not None else ())
    tmp_out = ours_path.with_name(f".{ours_path.name}.kubectl-gitops-merged")
    try:  # all or nothing: git reads ours_path as the merge result
        tmp_out.write_text(sops.render(f))
        os.replace(tmp_out, ours_path)
    finally:
        tmp_out.unlink(missing_ok=True)
    return MergeOutcome(True, f"{pathname}: merged decrypted values and re-encrypted", warnings)


def _plain_merge(base_path: Path, ours_path: Path, theirs_path: Path, pathname: str) -> MergeOutcome:
    done = _git(["merge-file", "-L", "ours", "-L", "base", "-L", "theirs",
                 str(ours_path), str(base_path), str(theirs_path)], ours_path.parent, check=False)
    if done.returncode != 0:
        return MergeOutcome(False, f"{pathname}: merge conflict (not encrypted on our side)")
    return MergeOutcome(True, f"{pathname}: merged as text")
