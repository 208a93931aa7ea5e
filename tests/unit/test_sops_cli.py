"""`kubectl gitops secrets ...` as a user runs it: init, encrypt/decrypt, edit through $EDITOR, updatekeys,
rotate, check, and git-setup with a real `git merge` of two branches that edited one encrypted file.

Values that a command legitimately prints (decrypt, textconv) are ordinary words; everything else uses
canaries, which the suite-wide check in conftest.py looks for in every output and leftover file.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from secrets_helpers import canary

from kubectl_gitops import redact
from kubectl_gitops.cli.main import main
from kubectl_gitops.secrets import agekeys, sops, sopsfile
from kubectl_gitops.secrets.keys import Keyring

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ["init", "encrypt", "decrypt", "edit", "updatekeys", "rotate", "check", "git-setup"]


pytestmark = pytest.mark.usefixtures("isolated_secrets")


def run(*args: str) -> int:
    return main(["secrets", *args])


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", *args], cwd=repo, text=True, capture_output=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """A git repository after `secrets init`: key in the default location, .sops.yaml at the root."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    monkeypatch.chdir(root)
    assert run("init") == 0
    capsys.readouterr()
    return root


def secret_yaml(password: str, user: str = "admin", other: str = "x") -> str:
    return ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n"
            f"  user: {user}\n  password: {password}\n  other: {other}\n")


def write_encrypted(repo: Path, name: str, text: str) -> Path:
    path = repo / name
    path.write_text(text)
    assert run("encrypt", "-i", name) == 0
    return path


def plaintext(path: Path) -> str:
    kr = Keyring()
    f = sops.parse(path.read_text(), sopsfile.format_for(str(path)), str(path))
    return sops.plaintext(sops.decrypt_file(f, kr.identities_for, kr.describe).file)


def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """$EDITOR = a small Python script; it records the file's mode and folder, never its content."""
    script = tmp_path / "editor.py"
    record = tmp_path / "editor-record.txt"
    script.write_text("import os, stat, sys\n"
                      "p = sys.argv[-1]\n"
                      f"open({str(record)!r}, 'w').write(oct(stat.S_IMODE(os.stat(p).st_mode)) + ' ' + "
                      "oct(stat.S_IMODE(os.stat(os.path.dirname(p)).st_mode)) + ' ' + os.path.dirname(p))\n"
                      "text = open(p).read()\n" + body)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    return record


# --- help ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_help_has_examples(sub: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(sub, "--help") == 0
    out = capsys.readouterr().out
    assert "Examples:" in out and f"kubectl gitops secrets {sub}" in out


def test_group_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--help") == 0
    out = capsys.readouterr().out
    assert all(f"  {sub}" in out for sub in SUBCOMMANDS)


# --- init ---------------------------------------------------------------------------------------

def test_init_creates_a_private_key_and_a_sops_yaml_and_refuses_to_overwrite(
        repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keyfile = tmp_path / "xdg" / "sops" / "age" / "keys.txt"
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    ids = agekeys.parse_identities(keyfile.read_text())
    assert len(ids) == 1
    config = (repo / ".sops.yaml").read_text()
    assert f"age: {ids[0].recipient}" in config and "encrypted_regex: ^(data|stringData)$" in config
    before = keyfile.read_text()
    assert run("init") == 6
    assert "already exists" in capsys.readouterr().err and keyfile.read_text() == before
    assert run("init", "--force") == 0
    assert len(agekeys.parse_identities(keyfile.read_text())) == 2  # appended, the first key is kept


def test_init_writes_to_sops_age_key_file_or_the_given_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "env-keys.txt"))
    assert run("init", "--dir", "a") == 0
    assert (tmp_path / "env-keys.txt").exists() and (tmp_path / "a" / ".sops.yaml").exists()
    assert run("init", "--dir", "b", "--key-file", str(tmp_path / "k" / "given.txt")) == 0
    assert stat.S_IMODE((tmp_path / "k" / "given.txt").stat().st_mode) == 0o600


# --- encrypt / decrypt --------------------------------------------------------------------------

def test_encrypt_in_place_then_decrypt_to_stdout(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = secret_yaml("hunter2-plain")
    path = write_encrypted(repo, "db-secret.yaml", text)
    assert "hunter2-plain" not in path.read_text() and "sops:" in path.read_text()
    capsys.readouterr()
    assert run("decrypt", "db-secret.yaml") == 0
    assert capsys.readouterr().out == text
    assert "sops:" in path.read_text()  # decrypt without -i never touches the file


def test_encrypt_to_stdout_leaves_the_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "app-secret.json").write_text('{"kind": "Secret", "stringData": {"password": "pw-value"}}\n')
    assert run("encrypt", "app-secret.json") == 0
    out = capsys.readouterr().out
    assert '"kind": "Secret"' in out and '"password": "ENC[AES256_GCM,' in out and "pw-value" not in out
    assert (repo / "app-secret.json").read_text().startswith('{"kind": "Secret"')
    (repo / "app-secret.json").unlink()


def test_encrypt_without_a_matching_rule_says_what_to_do(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "deploy.yaml").write_text("a: b\n")
    assert run("encrypt", "deploy.yaml") == 3
    err = capsys.readouterr().err
    assert "no creation rule" in err and "deploy.yaml" in err and "--age" in err


def test_decrypt_with_a_wrong_key_and_a_tampered_file_fail_with_exit_3(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    secret = canary()
    path = write_encrypted(repo, "db-secret.yaml", secret_yaml(secret))
    path.write_text(path.read_text().replace("name: db", "name: db2"))
    capsys.readouterr()
    assert run("decrypt", "db-secret.yaml") == 3
    err = capsys.readouterr().err
    assert "MAC mismatch in db-secret.yaml" in err
    other = tmp_path / "other.txt"
    other.write_text(agekeys.Identity.generate().secret_string() + "\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(other))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    assert run("decrypt", "db-secret.yaml") == 3
    err = capsys.readouterr().err
    assert "no age key could decrypt the data key" in err and f"SOPS_AGE_KEY_FILE={other} (1 key)" in err


# --- edit ---------------------------------------------------------------------------------------

def test_edit_of_one_value_is_a_one_value_git_diff(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    secret = canary()
    write_encrypted(repo, "db-secret.yaml", secret_yaml(secret, other="old-value"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "secret")
    record = editor(tmp_path, monkeypatch, "open(p, 'w').write(text.replace('other: old-value', 'other: new-value'))\n")
    assert run("edit", "db-secret.yaml") == 0
    mode, dir_mode, folder = record.read_text().split(" ", 2)
    assert (mode, dir_mode) == ("0o600", "0o700") and not Path(folder).exists()
    diff = git(repo, "diff", "-U0", "--", "db-secret.yaml").stdout
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    minus = [line[1:].split(":")[0].strip() for line in changed if line.startswith("-")]
    plus = [line[1:].split(":")[0].strip() for line in changed if line.startswith("+")]
    assert minus == plus and minus in (["other", "lastmodified", "mac"], ["other", "mac"])
    assert "other: new-value" in plaintext(repo / "db-secret.yaml")
    out = capsys.readouterr()
    assert secret not in out.out + out.err


def test_edit_without_changes_writes_nothing(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = write_encrypted(repo, "db-secret.yaml", secret_yaml(canary()))
    before = path.read_bytes()
    editor(tmp_path, monkeypatch, "")
    assert run("edit", "db-secret.yaml") == 0
    assert path.read_bytes() == before and "not modified" in capsys.readouterr().err


@pytest.mark.parametrize("body, code, message", [
    ("raise SystemExit(2)\n", 4, "the editor exited with code 2"),
    ("open(p, 'w').write(text + 'broken: [\\n')\n", 3, "nothing was written"),
])
def test_a_failed_edit_changes_nothing_and_leaves_no_plaintext(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        body: str, code: int, message: str) -> None:
    path = write_encrypted(repo, "db-secret.yaml", secret_yaml(canary()))
    before = path.read_bytes()
    record = editor(tmp_path, monkeypatch, body)
    assert run("edit", "db-secret.yaml") == code
    assert message in capsys.readouterr().err
    assert path.read_bytes() == before
    assert not Path(record.read_text().split(" ", 2)[2]).exists()


# --- updatekeys / rotate ------------------------------------------------------------------------

def test_updatekeys_adds_the_recipients_of_the_rule_without_touching_values(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_encrypted(repo, "db-secret.yaml", secret_yaml(canary()))
    before = [line for line in path.read_text().splitlines() if "ENC[" in line]
    newcomer = agekeys.Identity.generate()
    config = repo / ".sops.yaml"
    config.write_text(config.read_text().rstrip("\n") + f",{newcomer.recipient}\n")
    assert run("updatekeys", "--yes", "db-secret.yaml") == 0
    after = path.read_text()
    assert [line for line in after.splitlines() if "ENC[" in line] == before
    assert f"recipient: {newcomer.recipient}" in after
    newkey = tmp_path / "newcomer.txt"
    newkey.write_text(newcomer.secret_string() + "\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(newkey))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    assert "kind: Secret" in plaintext(path)


def test_rotate_in_place_changes_every_ciphertext(repo: Path) -> None:
    path = write_encrypted(repo, "db-secret.yaml", secret_yaml(canary()))
    before = plaintext(path)
    old = {line for line in path.read_text().splitlines() if "ENC[" in line}
    assert run("rotate", "-i", "db-secret.yaml") == 0
    assert not old & set(path.read_text().splitlines())
    assert plaintext(path) == before


# --- check --------------------------------------------------------------------------------------

def test_check_exits_3_with_the_offending_files(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_encrypted(repo, "db-secret.yaml", secret_yaml(canary()))
    capsys.readouterr()
    assert run("check") == 0
    assert "ok: 1 files checked, 1 encrypted" in capsys.readouterr().err
    secret = canary()
    (repo / "leak.yaml").write_text(secret_yaml(secret))
    assert run("check", ".") == 3
    out = capsys.readouterr()
    assert "leak.yaml: Secret db: stringData other, password, user is in a file that is not encrypted" in out.out
    assert "1 offending file(s)" in out.err and secret not in out.out + out.err
    (repo / "leak.yaml").unlink()


# --- git ----------------------------------------------------------------------------------------

@pytest.fixture
def git_repo(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    write_encrypted(repo, "db-secret.yaml", secret_yaml(canary(), user="alice", other="one"))
    assert run("git-setup", "--command", f"{sys.executable} -m kubectl_gitops") == 0
    capsys.readouterr()
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def test_git_setup_configures_the_drivers_and_gitattributes(git_repo: Path) -> None:
    attributes = (git_repo / ".gitattributes").read_text()
    assert "/db-secret.yaml diff=sops merge=sops" in attributes
    assert git(git_repo, "config", "diff.sops.cachetextconv").stdout.strip() == "false"
    assert "secrets merge-driver %O %A %B %P" in git(git_repo, "config", "merge.sops.driver").stdout
    assert git(git_repo, "check-attr", "merge", "db-secret.yaml").stdout.strip().endswith("merge: sops")


def change(repo: Path, **values: str) -> None:
    d = sops.decrypt_file(sops.parse((repo / "db-secret.yaml").read_text(), "yaml", "db-secret.yaml"),
                          Keyring().identities_for, Keyring().describe)
    text = sops.plaintext(d.file)
    for key, value in values.items():
        text = "\n".join(f"  {key}: {value}" if line.startswith(f"  {key}: ") else line for line in text.split("\n"))
    (repo / "db-secret.yaml").write_text(sops.reencrypt(d, text))


def test_a_git_merge_of_branches_that_edited_different_values_is_clean(git_repo: Path) -> None:
    git(git_repo, "checkout", "-q", "-b", "feature")
    change(git_repo, user="bob")
    git(git_repo, "commit", "-q", "-am", "user")
    git(git_repo, "checkout", "-q", "main")
    change(git_repo, other="two")
    git(git_repo, "commit", "-q", "-am", "other")
    merge = git(git_repo, "merge", "--no-edit", "feature", check=False)
    assert merge.returncode == 0, merge.stdout + merge.stderr
    merged = plaintext(git_repo / "db-secret.yaml")
    assert "  user: bob\n" in merged and "  other: two\n" in merged
    assert git(git_repo, "status", "--porcelain").stdout == ""


def test_a_conflicting_merge_keeps_our_encrypted_version(git_repo: Path) -> None:
    git(git_repo, "checkout", "-q", "-b", "feature")
    change(git_repo, user="bob")
    git(git_repo, "commit", "-q", "-am", "user bob")
    git(git_repo, "checkout", "-q", "main")
    change(git_repo, user="carol")
    git(git_repo, "commit", "-q", "-am", "user carol")
    ours = (git_repo / "db-secret.yaml").read_text()
    merge = git(git_repo, "merge", "--no-edit", "feature", check=False)
    assert merge.returncode != 0 and "conflicting changes to the same values" in merge.stderr + merge.stdout
    assert (git_repo / "db-secret.yaml").read_text() == ours  # no conflict markers, no plaintext
    git(git_repo, "merge", "--abort")


def test_textconv_makes_git_diff_show_decrypted_changes(git_repo: Path) -> None:
    change(git_repo, other="visible-in-diff")
    diff = git(git_repo, "diff", "-U0", "--", "db-secret.yaml").stdout
    assert "-  other: one" in diff and "+  other: visible-in-diff" in diff
    assert "ENC[" not in diff


def test_textconv_without_a_key_shows_the_file_as_it_is(git_repo: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nokeys"))
    path = git_repo / "db-secret.yaml"
    assert run("textconv", str(path)) == 0
    out = capsys.readouterr()
    assert out.out == path.read_text() and "showing" in out.err and "encrypted" in out.err


def test_merge_driver_falls_back_to_a_text_merge_for_plain_files(tmp_path: Path) -> None:
    from kubectl_gitops.secrets.gitsetup import merge_files

    base, ours, theirs = (tmp_path / n for n in ("base", "ours", "theirs"))
    base.write_text("a: 1\nkeep: 0\nb: 1\n")
    ours.write_text("a: 2\nkeep: 0\nb: 1\n")
    theirs.write_text("a: 1\nkeep: 0\nb: 2\n")
    assert merge_files(base, ours, theirs, "x.yaml").clean
    assert ours.read_text() == "a: 2\nkeep: 0\nb: 2\n"


def test_decrypt_output_is_not_redacted_but_errors_are(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # decrypt prints the plaintext on purpose, even after the values were registered for redaction
    write_encrypted(repo, "db-secret.yaml", secret_yaml("registered-pw"))
    redact.register("registered-pw")
    capsys.readouterr()
    assert run("decrypt", "db-secret.yaml") == 0
    assert "password: registered-pw" in capsys.readouterr().out
    assert os.environ.get("EDITOR") is None
