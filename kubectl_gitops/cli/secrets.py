"""`kubectl gitops secrets`: sops-compatible encryption with age keys, checks and git integration.

Decrypted text goes only to stdout (``decrypt``, ``textconv`` for git), into a file the user asked
to overwrite (``decrypt -i``), or to the editor through a private temporary file that is removed
afterwards (``edit``). Everything else this group prints passes through ``redact``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import click

from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import common_options
from kubectl_gitops.errors import ExitCode, InvalidInputError, OperationFailed, RefusedError, SecretsError, UsageError

CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 110}

in_place_option = click.option("-i", "--in-place", is_flag=True, help="Overwrite FILE instead of writing to stdout.")
config_option = click.option("--config", "config_path", metavar="PATH", type=click.Path(dir_okay=False),
                             help="The .sops.yaml to use (default: the nearest one above FILE).")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError as err:
        raise InvalidInputError(f"{path}: no such file") from err
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"cannot read {path}: {e}") from e


def _emit(file: str, text: str, *, in_place: bool, done: str) -> int:
    """``-i``: replace the file and say ``done``; otherwise the (encrypted) text goes to stdout."""
    if in_place:
        _write_atomic(file, text)
        printer().info(done)
    else:
        sys.stdout.write(text)
    return 0


def _write_atomic(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` (same folder temp file, then rename; the mode is kept)."""
    target = Path(path)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _keyring():  # type: ignore[no-untyped-def]
    from kubectl_gitops.secrets.keys import Keyring

    return Keyring()


def _decrypt(path: str, text: str | None = None):  # type: ignore[no-untyped-def]
    from kubectl_gitops.secrets import sops, sopsfile

    text = _read(path) if text is None else text
    f = sops.parse(text, sopsfile.format_for(path), path)
    kr = _keyring()
    d = sops.decrypt_file(f, kr.identities_for, kr.describe)
    for w in d.warnings:
        printer().warn(w)
    return d


def _rule_for(path: str, config_path: str | None):  # type: ignore[no-untyped-def]
    from kubectl_gitops.secrets.sopsconfig import config_for

    config = config_for(path, config_path)
    if config is None:
        return None, None
    return config, config.rule_for(path)


def _rule_name(config, rule) -> str:  # type: ignore[no-untyped-def]
    from kubectl_gitops.secrets.check import rule_label

    return rule_label(config, rule) if rule is not None else ""


def _open_guarded(file: str, config_path: str | None, action: str):  # type: ignore[no-untyped-def]
    """Parse FILE, refuse it when it lists a recipient its creation rule does not name (before decrypting
    anything), warn about recipients the rule names that it lacks, then decrypt it.
    Returns (decrypted, the rule's recipients or None when no rule matches)."""
    from kubectl_gitops.secrets import sops, sopsfile, sopsrecipients

    text = _read(file)
    f = sops.parse(text, sopsfile.format_for(file), file)
    config, rule = _rule_for(file, config_path)
    allowed = list(rule.recipients) if rule is not None else None
    if f.metadata is not None:
        mismatch = sopsrecipients.guard_recipients(f.metadata, allowed, file=file, rule=_rule_name(config, rule),
                                                   action=action)
        if mismatch is not None and mismatch.missing:
            printer().warn(f"{mismatch}; the file keeps its recipients (`kubectl gitops secrets updatekeys "
                           f"{file}` adds them)")
    return _decrypt(file, text), allowed


def _signals_exit(f):  # type: ignore[no-untyped-def]
    """SIGTERM/SIGHUP inside a private temporary folder's block (``Terminated``): exit 128 + the signal."""
    import functools

    @functools.wraps(f)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        from kubectl_gitops.secrets.plaintmp import Terminated

        try:
            return f(*args, **kwargs)
        except Terminated as e:
            printer().info(f"stopped by {e.name}: the temporary plaintext was removed and no file was changed")
            return e.exit_code

    return wrapper


@click.group("secrets", context_settings=CTX)
def command() -> None:
    """Encrypt, decrypt, edit and check sops files with age keys, and seal Secrets.

    \b
    Files are sops-compatible (YAML and JSON, multi-document included): the sops binary reads what
    we write and we read what it writes. Keys are found like sops finds them: SOPS_AGE_KEY,
    SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, then ~/.config/sops/age/keys.txt.

    \b
    Examples:
      kubectl gitops secrets init                          # an age key and a .sops.yaml
      kubectl gitops secrets encrypt -i k8s/db-secret.yaml # encrypt data/stringData in place
      kubectl gitops secrets edit k8s/db-secret.yaml       # change a value in $EDITOR
      kubectl gitops secrets check .                       # CI: nothing secret in plaintext
      kubectl gitops secrets git-setup                     # readable git diffs, working merges
    """


# --- init -------------------------------------------------------------------------------------

SOPS_YAML = """\
# Which files are encrypted, for whom, and which of their values (sops format).
# kubectl-gitops and the sops binary both read this file. Add a teammate's public key to `age`
# (comma-separated), then run `kubectl gitops secrets updatekeys` on the encrypted files.
creation_rules:
  - path_regex: {path_regex}
    encrypted_regex: ^(data|stringData)$
    age: {recipient}
"""
DEFAULT_PATH_REGEX = r"(^|/)[^/]*secrets?[^/]*\.(ya?ml|json)$"


@command.command("init", context_settings=CTX, short_help='Create an age key and a .sops.yaml.')
@common_options
@click.option("--key-file", metavar="PATH", type=click.Path(dir_okay=False),
              help="Where to add the new age key (default: $SOPS_AGE_KEY_FILE, else the sops default "
                   "~/.config/sops/age/keys.txt).")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Folder that gets the .sops.yaml (usually the repository root).")
@click.option("--path-regex", default=DEFAULT_PATH_REGEX, show_default=True,
              help="Files the creation rule applies to (regex on the path relative to the .sops.yaml).")
@click.option("--force", is_flag=True, help="Overwrite an existing .sops.yaml.")
@handle_errors
def init_cmd(key_file: str | None, directory: str, path_regex: str, force: bool) -> int:
    """Create an age key and a .sops.yaml that encrypts the data and stringData of Secrets.

    \b
    The key is appended to the key file (created with mode 0600; existing keys are kept). The
    .sops.yaml has one creation rule: files whose name contains "secret" (see --path-regex),
    only the values under `data` and `stringData` encrypted, for the new key's public key.
    Back up the key file: without it nobody can decrypt the files.

    \b
    Examples:
      kubectl gitops secrets init
      kubectl gitops secrets init --key-file ~/.config/sops/age/team.txt --dir deploy/
      kubectl gitops secrets init --path-regex '^secrets/' --force
    """
    from kubectl_gitops.secrets.age import Identity, identity_file_text
    from kubectl_gitops.secrets.keys import standard_key_file

    config = Path(directory) / ".sops.yaml"
    if config.exists() and not force:
        raise RefusedError(f"{config} already exists; nothing was changed",
                           hint="pass --force to overwrite it, or add your key to its `age:` list by hand")
    import re

    try:
        re.compile(path_regex)
    except re.error as e:
        raise UsageError(f"--path-regex {path_regex!r} is not a valid regular expression: {e}") from e
    target = Path(key_file).expanduser() if key_file else standard_key_file()
    identity = Identity.generate()
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as fh:
        if fh.tell() > 0:
            fh.write("\n")
        fh.write(identity_file_text(identity, created))
    os.chmod(target, 0o600)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(SOPS_YAML.format(path_regex=_yaml_single_quoted(path_regex), recipient=identity.recipient))
    p = printer()
    p.info(f"added an age key to {target} (mode 0600); back it up, it cannot be recovered")
    p.info(f"wrote {config}: files matching {path_regex} get data/stringData encrypted")
    p.echo(str(identity.recipient))
    return 0


def _yaml_single_quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- encrypt / decrypt ------------------------------------------------------------------------

@command.command("encrypt", context_settings=CTX, short_help='Encrypt a YAML/JSON file (sops format).')
@common_options
@click.argument("file", type=click.Path(dir_okay=False))
@in_place_option
@config_option
@click.option("--age", "age_recipients", multiple=True, metavar="RECIPIENT",
              help="Encrypt for this age public key instead of the rule's (repeatable, or comma-separated).")
@handle_errors
def encrypt_cmd(file: str, in_place: bool, config_path: str | None, age_recipients: tuple[str, ...]) -> int:
    """Encrypt a YAML or JSON file with the rules of its .sops.yaml.

    \b
    The first creation rule whose path_regex matches FILE decides the recipients (age keys) and
    which values are encrypted (encrypted_regex, unencrypted_regex, encrypted_suffix,
    unencrypted_suffix, mac_only_encrypted). Keys, comments and layout stay readable.
    The result goes to stdout unless -i is given.

    \b
    Examples:
      kubectl gitops secrets encrypt -i k8s/db-secret.yaml
      kubectl gitops secrets encrypt secret.json > secret.enc.json
      kubectl gitops secrets encrypt --age age1... -i token-secret.yaml
    """
    from kubectl_gitops.secrets import sops, sopsfile

    text = _read(file)
    config, rule = _rule_for(file, config_path)
    recipients = [r.strip() for a in age_recipients for r in a.split(",") if r.strip()]
    if rule is None and not recipients:
        where = f"no creation rule in {config.path} matches {file}" if config else \
            f"no .sops.yaml found in the folders above {file}"
        raise InvalidInputError(f"cannot encrypt {file}: {where}",
                                hint="run `kubectl gitops secrets init`, add a matching creation rule, or pass --age")
    if rule is not None and rule.other_keys and not recipients:
        raise InvalidInputError(f"cannot encrypt {file}: {rule.describe()} of {config.path} uses "
                                f"{', '.join(rule.other_keys)} keys; kubectl-gitops supports age keys only",
                                hint="use the sops binary for this file, or pass --age")
    rules = rule.rules if rule is not None else sops.Rules()
    out = sops.encrypt_text(text, sopsfile.format_for(file), rules, recipients or rule.recipients, file)
    return _emit(file, out, in_place=in_place, done=f"encrypted {file}")


@command.command("decrypt", context_settings=CTX, short_help='Decrypt a sops file to stdout (or -i).')
@common_options
@click.argument("file", type=click.Path(dir_okay=False))
@in_place_option
@click.option("--ignore-mac", is_flag=True, help="Decrypt even when the MAC does not match (recovery only).")
@handle_errors
def decrypt_cmd(file: str, in_place: bool, ignore_mac: bool) -> int:
    """Decrypt a sops file to stdout (or in place with -i).

    \b
    The plaintext is written only where you ask: stdout, or FILE itself with -i (then do not
    commit it). The MAC is verified first: a file changed without the key is refused (exit 3),
    as is a file no available key can decrypt; the error lists the key sources tried.

    \b
    Examples:
      kubectl gitops secrets decrypt k8s/db-secret.yaml
      SOPS_AGE_KEY_FILE=~/keys.txt kubectl gitops secrets decrypt app.json | jq .password
      kubectl gitops secrets decrypt -i k8s/db-secret.yaml     # then re-encrypt before committing
    """
    from kubectl_gitops.secrets import sops, sopsfile

    f = sops.parse(_read(file), sopsfile.format_for(file), file)
    kr = _keyring()
    d = sops.decrypt_file(f, kr.identities_for, kr.describe, verify=not ignore_mac)
    if not d.mac_ok:
        printer().warn(f"{file}: MAC mismatch ignored (--ignore-mac)")
    text = sops.plaintext(d.file)
    if in_place:
        _write_atomic(file, text)
        printer().info(f"decrypted {file} in place; encrypt it again before committing")
    else:
        sys.stdout.write(text)  # plaintext on request: deliberately not redacted
        sys.stdout.flush()
    return 0


# --- edit -------------------------------------------------------------------------------------

def _editor() -> list[str]:
    editor = os.environ.get("EDITOR") or os.environ.get("VISUAL") or "vi"
    try:
        argv = shlex.split(editor)
    except ValueError as e:
        raise UsageError(f"cannot parse $EDITOR {editor!r}: {e}") from e
    if not argv:
        raise UsageError("$EDITOR is empty")
    return argv


def _run_editor(argv: list[str], path: Path) -> None:
    try:
        done = subprocess.run([*argv, str(path)], check=False)
    except FileNotFoundError as err:
        raise UsageError(f"editor {argv[0]!r} not found", hint="set $EDITOR (or $VISUAL)") from err
    if done.returncode != 0:
        raise OperationFailed(f"the editor exited with code {done.returncode}; nothing was changed")


@command.command("edit", context_settings=CTX, short_help='Edit a sops file in $EDITOR, minimal diff.')
@common_options
@click.argument("file", type=click.Path(dir_okay=False))
@config_option
@handle_errors
@_signals_exit
def edit_cmd(file: str, config_path: str | None) -> int:
    """Edit a sops file in $EDITOR and re-encrypt it, changing only what you changed.

    \b
    The plaintext goes to a private temporary file (mode 0600 in a private folder, removed
    afterwards even on error). On save, values are re-encrypted with the same data key, and every
    value you did not change keeps its exact ciphertext: a one-value edit is a one-value diff
    (plus the sops block's lastmodified and mac lines). The editor is $EDITOR, else $VISUAL,
    else vi. Invalid YAML/JSON re-opens the editor when run on a terminal.

    \b
    Recipients: a file that lists an age recipient its .sops.yaml creation rule does not name is
    refused (exit 3) before anything is decrypted; the list is not protected by the MAC, so anyone
    could have added it (`updatekeys` shows and fixes the difference). Nobody gets the data key
    that the rule does not name. SIGTERM or SIGHUP removes the temporary file too (exit 143/129).

    \b
    Examples:
      kubectl gitops secrets edit k8s/db-secret.yaml
      EDITOR="code --wait" kubectl gitops secrets edit app.json
    """
    from kubectl_gitops.secrets import sops
    from kubectl_gitops.secrets.plaintmp import private_tempdir

    d, allowed = _open_guarded(file, config_path, "edit")
    original = sops.plaintext(d.file)
    argv = _editor()
    with private_tempdir("kubectl-gitops-edit-") as tmpdir:
        tmp = tmpdir / Path(file).name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(original)
        while True:
            _run_editor(argv, tmp)
            edited = tmp.read_text()
            if edited == original:
                printer().info(f"{file}: not modified")
                return 0
            try:
                out = sops.reencrypt(d, edited, allowed)
                break
            except SecretsError as e:
                if not (sys.stdin.isatty() and sys.stderr.isatty()):
                    raise SecretsError(f"{e.message}; nothing was written", hint=e.hint) from e
                printer().error(e)
                click.prompt("Press Enter to return to the editor (Ctrl-C to abort)", default="",
                             show_default=False, err=True)
        _write_atomic(file, out)  # inside the block: a signal during the write leaves the file as it was
    printer().info(f"{file}: re-encrypted")
    return 0


# --- updatekeys / rotate ----------------------------------------------------------------------

@command.command("updatekeys", context_settings=CTX, short_help='Re-wrap data keys for .sops.yaml recipients.')
@common_options
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@config_option
@click.option("-y", "--yes", is_flag=True, help="Apply the recipient changes without asking (required when not "
                                               "on a terminal).")
@handle_errors
def updatekeys_cmd(files: tuple[str, ...], config_path: str | None, yes: bool) -> int:
    """Make the recipients of FILES the ones their .sops.yaml creation rule names.

    \b
    Shows, per file, who gets the data key and who is removed, then asks (on a terminal) or needs
    --yes; without a terminal and without --yes nothing is changed (exit 6). The data key is wrapped
    for exactly the rule's recipients: values are not re-encrypted, recipients that stay keep their
    wrapped key, removed ones lose access to future versions (run `rotate` too if a key leaked or
    may have been kept: old git history still opens with it). Needs a key that can decrypt FILES.

    \b
    Examples:
      kubectl gitops secrets updatekeys k8s/db-secret.yaml
      kubectl gitops secrets updatekeys --yes $(git ls-files '*secret*.yaml')
    """
    from kubectl_gitops.cli.prune import interactive
    from kubectl_gitops.secrets import sops, sopsfile, sopsrecipients

    p = printer()
    plan = []
    for file in files:
        config, rule = _rule_for(file, config_path)
        if rule is None:
            raise InvalidInputError(f"{file}: no creation rule in .sops.yaml matches it; nothing to update",
                                    hint="add a creation rule for it, or pass --config")
        f = sops.parse(_read(file), sopsfile.format_for(file), file)
        if f.metadata is None:
            raise InvalidInputError(f"{file} is not encrypted with sops; nothing to update",
                                    hint=f"encrypt it with `kubectl gitops secrets encrypt -i {file}`")
        if not rule.recipients:
            raise InvalidInputError(f"{file}: {_rule_name(config, rule)} names no age recipients",
                                    hint="add `age: <public key>` to the rule")
        mismatch = sopsrecipients.recipient_mismatch(f.metadata, rule.recipients, file=file,
                                                     rule=_rule_name(config, rule))
        if mismatch is None:
            p.info(f"{file}: recipients already match {_rule_name(config, rule)}")
            continue
        plan.append((file, rule, mismatch))
    if not plan:
        return 0
    lines = []
    for file, _rule, m in plan:
        lines += [f"{file}: + {r} (gets the data key)" for r in m.missing]
        lines += [f"{file}: - {r} (removed)" for r in m.extra]
    if not yes:
        if not interactive():
            raise RefusedError(f"updatekeys would change the recipients of {len(plan)} file(s) and there is no "
                               "terminal to confirm it; nothing was changed", details=lines,
                               hint="review the change, then pass --yes")
        p.info(f"updatekeys will change the recipients of {len(plan)} file(s):")
        for line in lines:
            p.info(f"  {line}")
        if not click.confirm("Apply these recipient changes?", default=False, err=True):
            raise RefusedError("not confirmed; nothing was changed")
    for file, rule, m in plan:
        d = _decrypt(file)
        meta = d.metadata
        keep = [k for k in meta.age if k.recipient in rule.recipients]
        meta.age = sops.wrap_data_key(d.data_key, list(rule.recipients), keep=keep, allowed=rule.recipients)
        encrypted = sops.parse(_read(file), d.file.fmt, file)
        encrypted.metadata = meta
        _write_atomic(file, sops.render(encrypted))
        p.info(f"{file}: updated keys" + (f"; added {', '.join(m.missing)}" if m.missing else "")
               + (f"; removed {', '.join(m.extra)}" if m.extra else ""))
        if m.extra:
            p.info(f"note: {file}: removed recipients held the data key until now; run `kubectl gitops secrets "
                   f"rotate -i {file}` if they may have kept it")
    return 0


@command.command("rotate", context_settings=CTX, short_help='Re-encrypt a file with a new data key.')
@common_options
@click.argument("file", type=click.Path(dir_okay=False))
@in_place_option
@config_option
@handle_errors
def rotate_cmd(file: str, in_place: bool, config_path: str | None) -> int:
    """Re-encrypt every value of FILE with a new data key (same recipients and rules).

    \b
    Use it after removing a recipient who may have kept the old data key. Every ciphertext
    changes. Output to stdout unless -i. The new data key is wrapped only for recipients the
    file's .sops.yaml creation rule names: a file listing anyone else is refused (exit 3; run
    `updatekeys` first), and so is a file no creation rule matches.

    \b
    Examples:
      kubectl gitops secrets rotate -i k8s/db-secret.yaml
    """
    from kubectl_gitops.secrets import sops

    config, rule = _rule_for(file, config_path)
    if rule is None:
        where = f"no creation rule in {config.path} matches it" if config else "no .sops.yaml governs it"
        raise InvalidInputError(f"refusing to rotate {file}: {where}, and the file's own recipient list is not "
                                "protected by its MAC", hint="add a creation rule naming its recipients to .sops.yaml")
    d, allowed = _open_guarded(file, config_path, "rotate")
    f = d.file
    sops.seal(f, d.metadata.rules, d.metadata.recipients, sops.new_data_key(), allowed=allowed)
    return _emit(file, sops.render(f), in_place=in_place, done=f"{file}: rotated the data key")


# --- check ------------------------------------------------------------------------------------

@command.command("check", context_settings=CTX, short_help='CI check: no plaintext secrets, MACs, keys.')
@common_options
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--require-mac", is_flag=True, help="Fail when a MAC cannot be verified (no key available).")
@config_option
@click.option("-o", "--output", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@handle_errors
def check_cmd(paths: tuple[str, ...], require_mac: bool, config_path: str | None, output_format: str) -> int:
    """Check that no secret is in plaintext: for CI and pre-commit, offline.

    \b
    For each YAML/JSON file under PATHS (default: .):
      - a file matched by a .sops.yaml creation rule is encrypted, selected values are ENC[...],
        its recipients are the rule's, and its MAC verifies (when a key is available; without one
        the MAC is reported "not verified" and passes unless --require-mac);
      - no Secret carries plaintext data/stringData (Vault placeholders like <path:...> pass).
    Exit 0 when clean, 3 with the list of offending files.

    \b
    Examples:
      kubectl gitops secrets check
      kubectl gitops secrets check k8s/ --require-mac
      # .pre-commit-config.yaml: entry: kubectl-gitops secrets check, language: system, pass_filenames: true
    """
    from kubectl_gitops.secrets.check import check

    report = check(list(paths) or ["."], keyring=_keyring(), require_mac=require_mac, config=config_path)
    p = printer()
    if output_format == "json":
        p.json({"ok": report.ok, "checked": report.checked, "encrypted": report.encrypted,
                "problems": [{"file": f.path, "problem": f.problem} for f in report.problems],
                "notes": [{"file": f.path, "note": f.problem} for f in report.notes],
                "offendingFiles": report.offending_files})
    else:
        for note in report.notes:
            p.info(f"note: {note}")
        for finding in report.problems:
            p.echo(str(finding))
        summary = f"{report.checked} files checked, {len(report.encrypted)} encrypted"
        if report.ok:
            p.info(f"ok: {summary}")
        else:
            p.info(f"{len(report.offending_files)} offending file(s); {summary}")
    return 0 if report.ok else int(ExitCode.INVALID_INPUT)


# --- git --------------------------------------------------------------------------------------

@command.command("git-setup", context_settings=CTX, short_help='Git textconv and merge driver for sops files.')
@common_options
@click.option("--command", "git_command", metavar="CMD",
              help="How git runs kubectl-gitops (default: kubectl-gitops when on PATH).")
@handle_errors
def git_setup_cmd(git_command: str | None) -> int:
    """Make git diff and merge sops files as text (textconv and merge driver).

    \b
    Writes to the repository's .git/config:
      diff.sops.textconv      `kubectl-gitops secrets textconv`: git diff/log -p show the decrypted
                              text to whoever holds a key (like sops' textconv recipe; never cached)
      merge.sops.driver       decrypts base/ours/theirs, merges the plaintext with git merge-file,
                              re-encrypts with the data key: branches that edited different values
                              merge cleanly; conflicts keep our version and nothing leaks
    and adds `diff=sops merge=sops` to .gitattributes for every file a creation rule matches
    (re-run after adding secret files).

    \b
    Examples:
      kubectl gitops secrets git-setup
      git diff HEAD~1 -- k8s/db-secret.yaml      # readable, for key holders
    """
    from kubectl_gitops.secrets.gitsetup import setup

    result = setup(Path.cwd(), git_command)
    p = printer()
    for key, value in result.config.items():
        p.info(f"git config {key} '{value}'")
    p.info(f"{result.attributes_path}: {len(result.files)} file(s) use the sops diff and merge drivers")
    for f in result.files:
        p.echo(f)
    return 0


@command.command("textconv", context_settings=CTX, hidden=True)
@click.argument("file", type=click.Path(dir_okay=False))
@handle_errors
def textconv_cmd(file: str) -> int:
    """git textconv: print FILE decrypted (as is when not encrypted or no key fits)."""
    from kubectl_gitops.secrets.gitsetup import textconv

    text, warning = textconv(Path(file))
    if warning:
        printer().warn(warning)
    sys.stdout.write(text)
    return 0


@command.command("merge-driver", context_settings=CTX, hidden=True)
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("ours", type=click.Path(dir_okay=False))
@click.argument("theirs", type=click.Path(dir_okay=False))
@click.argument("pathname")
@handle_errors
@_signals_exit
def merge_driver_cmd(base: str, ours: str, theirs: str, pathname: str) -> int:
    """git merge driver (%O %A %B %P): merge sops files on their decrypted values."""
    from kubectl_gitops.secrets.gitsetup import merge_files

    outcome = merge_files(Path(base), Path(ours), Path(theirs), pathname)
    for warning in outcome.warnings:
        printer().warn(warning)
    printer().info(outcome.message)
    return 0 if outcome.clean else 1


try:  # `secrets seal` lives in its own module (built separately)
    from kubectl_gitops.cli.secrets_seal import command as _seal

    command.add_command(_seal, "seal")
except ImportError:  # pragma: no cover - until that module exists
    pass
