"""`kubectl gitops secrets`: sops-compatible encryption with age keys, checks and git integration.

Decrypted text goes only to stdout (``decrypt``, ``textconv`` for git), into a file the user asked
to overwrite (``decrypt -i``), or to the editor through a private temporary file that is removed
afterwards (``edit``). Everything else this group prints passes through ``redact``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import common_options
from kubectl_gitops.cli.secrets_check import command as check_command
from kubectl_gitops.errors import RefusedError, SecretsError
from kubectl_gitops.ops import secrets as ops

CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 110}

in_place_option = click.option("-i", "--in-place", is_flag=True, help="Overwrite FILE instead of writing to stdout.")
config_option = click.option("--config", "config_path", metavar="PATH", type=click.Path(dir_okay=False),
                             help="The .sops.yaml to use (default: the nearest one above FILE).")


def _emit(file: str, text: str, *, in_place: bool, done: str) -> int:
    """``-i``: replace the file and say ``done``; otherwise the (encrypted) text goes to stdout."""
    if in_place:
        ops.write_atomic(file, text)
        printer().info(done)
    else:
        sys.stdout.write(text)
    return 0


def _warn(message: str) -> None:
    printer().warn(message)


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

@command.command("init", context_settings=CTX, short_help='Create an age key and a .sops.yaml.')
@common_options
@click.option("--key-file", metavar="PATH", type=click.Path(dir_okay=False),
              help="Where to add the new age key (default: $SOPS_AGE_KEY_FILE, else the sops default "
                   "~/.config/sops/age/keys.txt).")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Folder that gets the .sops.yaml (usually the repository root).")
@click.option("--path-regex", default=ops.DEFAULT_PATH_REGEX, show_default=True,
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
    result = ops.init_files(key_file, directory, path_regex, force)
    p = printer()
    p.info(f"added an age key to {result.key_file} (mode 0600); back it up, it cannot be recovered")
    p.info(f"wrote {result.config}: files matching {path_regex} get data/stringData encrypted")
    p.echo(result.recipient)
    return 0


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
    out = ops.encrypt(file, config_path, age_recipients)
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
    text, mac_ok = ops.decrypt_text(file, ignore_mac)
    if not mac_ok:
        printer().warn(f"{file}: MAC mismatch ignored (--ignore-mac)")
    if in_place:
        ops.write_atomic(file, text)
        printer().info(f"decrypted {file} in place; encrypt it again before committing")
    else:
        sys.stdout.write(text)  # plaintext on request: deliberately not redacted
        sys.stdout.flush()
    return 0


# --- edit -------------------------------------------------------------------------------------

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

    d, allowed = ops.open_guarded(file, config_path, "edit", _warn)
    original = sops.plaintext(d.file)
    argv = ops.editor()
    with private_tempdir("kubectl-gitops-edit-") as tmpdir:
        tmp = tmpdir / Path(file).name
        ops.write_private(tmp, original)
        while True:
            ops.run_editor(argv, tmp)
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
        ops.write_atomic(file, out)  # inside the block: a signal during the write leaves the file as it was
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

    p = printer()
    plan = ops.plan_updatekeys(files, config_path, p.info)
    if not plan:
        return 0
    lines = ops.change_lines(plan)
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
    for u in plan:
        file, m = u.file, u.mismatch
        ops.apply_updatekeys(u, _warn)
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
    out = ops.rotate(file, config_path, _warn)
    return _emit(file, out, in_place=in_place, done=f"{file}: rotated the data key")


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


command.add_command(check_command, "check")

try:  # `secrets seal` lives in its own module (built separately)
    from kubectl_gitops.cli.secrets_seal import command as _seal

    command.add_command(_seal, "seal")
except ImportError:  # pragma: no cover - until that module exists
    pass
