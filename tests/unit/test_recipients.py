"""Recipients come from .sops.yaml (issue 11, item 7).

A sops file's recipient list (``sops.age``) is not covered by its MAC: anyone who can open a pull request
can add ``{recipient: age1attacker, enc: ""}``. These tests play that attacker against every command
that re-wraps or re-uses the data key (edit, rotate, the merge driver, updatekeys) and against the checks
that must notice it (``secrets check``, the warning for diff/sync), with real age keys and real git.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from secrets_helpers import canary

from kubectl_gitops.cli.main import main
from kubectl_gitops.errors import SecretsError
from kubectl_gitops.secrets import age, agekeys, sops
from kubectl_gitops.secrets.check import check, recipient_warnings, recipients_warning
from kubectl_gitops.secrets.gitsetup import merge_files
from kubectl_gitops.secrets.keys import Keyring
from kubectl_gitops.secrets.sopsrecipients import RecipientsError, guard_recipients, recipient_mismatch, wrap_data_key

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("isolated_secrets")


class Repo:
    """A git repository with a .sops.yaml naming ``owner`` (whose key is in SOPS_AGE_KEY_FILE)."""

    def __init__(self, root: Path, owner: agekeys.Identity, keyfile: Path):
        self.root, self.owner, self.keyfile = root, owner, keyfile

    def config(self, *recipients: str) -> None:
        (self.root / ".sops.yaml").write_text(
            "creation_rules:\n  - path_regex: secret\n    encrypted_regex: ^(data|stringData)$\n"
            f"    age: {','.join(recipients)}\n")

    def encrypt(self, name: str, text: str, recipients: list[str] | None = None) -> Path:
        path = self.root / name
        rules = sops.Rules(encrypted_regex="^(data|stringData)$")
        path.write_text(sops.encrypt_text(text, "yaml", rules, recipients or [str(self.owner.recipient)], name))
        return path

    def decrypt(self, name: str, keyfile: Path | None = None) -> sops.Decrypted:
        kr = Keyring(env={**os.environ, "SOPS_AGE_KEY_FILE": str(keyfile or self.keyfile)})
        path = self.root / name
        return sops.decrypt_file(sops.parse(path.read_text(), "yaml", name), kr.identities_for, kr.describe)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["git", *args], cwd=self.root, text=True, capture_output=True, timeout=60)
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    root = tmp_path / "repo"
    root.mkdir()
    owner = agekeys.Identity.generate()
    keyfile = tmp_path / "home" / "owner-keys.txt"
    keyfile.parent.mkdir(parents=True)
    keyfile.write_text(owner.secret_string() + "\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(keyfile))
    monkeypatch.chdir(root)
    r = Repo(root, owner, keyfile)
    r.git("init", "-q", "-b", "main")
    r.config(str(owner.recipient))
    return r


def secret_yaml(password: str, other: str = "x") -> str:
    return ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n"
            f"  password: {password}\n  user: admin\n  other: {other}\n")


def add_recipient(path: Path, recipient: str, enc: str = "") -> None:
    """What an attacker does in a pull request: one more entry in sops.age (the MAC does not cover it)."""
    f = sops.parse(path.read_text(), "yaml", path.name)
    assert f.metadata is not None
    f.metadata.age.append(sops.AgeKey(recipient, enc))
    path.write_text(sops.render(f))


def recipients(path: Path) -> list[str]:
    f = sops.parse(path.read_text(), "yaml", path.name)
    assert f.metadata is not None
    return f.metadata.recipients


def run(*args: str) -> int:
    return main(["secrets", *args])


def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """$EDITOR = a Python script; ``started`` exists once it ran."""
    script = tmp_path / "editor.py"
    started = tmp_path / "editor-started"
    script.write_text(f"import sys\nopen({str(started)!r}, 'w').close()\np = sys.argv[-1]\ntext = open(p).read()\n"
                      + body)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    return started


CHANGE_OTHER = "open(p, 'w').write(text.replace('other: x', 'other: y'))\n"


# --- the pure parts -----------------------------------------------------------------------------

def test_recipient_mismatch_names_extra_and_missing_recipients(repo: Repo) -> None:
    path = repo.encrypt("db-secret.yaml", secret_yaml(canary()))
    attacker, newcomer = (str(agekeys.Identity.generate().recipient) for _ in range(2))
    add_recipient(path, attacker)
    meta = sops.parse(path.read_text(), "yaml", "db-secret.yaml").metadata
    assert meta is not None
    m = recipient_mismatch(meta, [str(repo.owner.recipient), newcomer], file="db-secret.yaml", rule="rule 0")
    assert m is not None and m.extra == (attacker,) and m.missing == (newcomer,)
    assert str(m) == (f"db-secret.yaml: recipients differ from rule 0: not named by the rule: {attacker}; "
                      f"named by the rule but without the data key: {newcomer}")
    assert recipient_mismatch(meta, [str(repo.owner.recipient), attacker], file="x") is not None  # no enc
    clean = sops.parse(repo.encrypt("b-secret.yaml", secret_yaml(canary())).read_text(), "yaml", "b").metadata
    assert clean is not None and recipient_mismatch(clean, [str(repo.owner.recipient)], file="b") is None


def test_wrap_data_key_refuses_a_recipient_outside_the_allowed_list() -> None:
    a, b = agekeys.Identity.generate(), agekeys.Identity.generate()
    key = sops.new_data_key()
    with pytest.raises(RecipientsError) as err:
        wrap_data_key(key, [str(a.recipient), str(b.recipient)], allowed=[str(a.recipient)])
    assert str(b.recipient) in str(err.value) and err.value.exit_code == 3
    wrapped = wrap_data_key(key, [str(a.recipient)], allowed=[str(a.recipient)])
    assert age.decrypt(wrapped[0].enc.encode(), [a]) == key


def test_guard_recipients_refuses_extras_and_unwrapped_entries_without_a_rule(repo: Repo) -> None:
    path = repo.encrypt("db-secret.yaml", secret_yaml(canary()))
    attacker = str(agekeys.Identity.generate().recipient)
    add_recipient(path, attacker)
    meta = sops.parse(path.read_text(), "yaml", "db-secret.yaml").metadata
    assert meta is not None
    with pytest.raises(RecipientsError, match=f"refusing to edit db-secret.yaml: .*{attacker}"):
        guard_recipients(meta, [str(repo.owner.recipient)], file="db-secret.yaml", rule="r")
    with pytest.raises(RecipientsError, match=r"without a wrapped data key.*no \.sops\.yaml creation rule"):
        guard_recipients(meta, None, file="db-secret.yaml")
    assert guard_recipients(meta, [str(repo.owner.recipient), attacker], file="db-secret.yaml") is not None


# --- edit ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("enc", ["", "garbage"], ids=["empty-enc", "made-up-enc"])
def test_edit_refuses_a_file_with_a_recipient_the_rule_does_not_name(
        repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        enc: str) -> None:
    path = repo.encrypt("db-secret.yaml", secret_yaml(secret := canary()))
    attacker = str(agekeys.Identity.generate().recipient)
    add_recipient(path, attacker, enc)
    before = path.read_bytes()
    started = editor(tmp_path, monkeypatch, CHANGE_OTHER)
    assert run("edit", "db-secret.yaml") == 3
    err = capsys.readouterr().err
    assert "refusing to edit db-secret.yaml" in err and attacker in err and "updatekeys" in err
    assert secret not in err
    assert path.read_bytes() == before and not started.exists()  # refused before decrypting or editing


def test_edit_warns_about_missing_recipients_and_gives_them_nothing(
        repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo.encrypt("db-secret.yaml", secret_yaml(canary()))
    newcomer = agekeys.Identity.generate()
    repo.config(str(repo.owner.recipient), str(newcomer.recipient))
    editor(tmp_path, monkeypatch, CHANGE_OTHER)
    assert run("edit", "db-secret.yaml") == 0
    err = capsys.readouterr().err
    assert "warning:" in err and str(newcomer.recipient) in err and "updatekeys" in err
    assert recipients(path) == [str(repo.owner.recipient)]
    assert "other: y" in sops.plaintext(repo.decrypt("db-secret.yaml").file)


def test_edit_without_a_rule_keeps_wrapped_recipients_and_refuses_unwrapped_ones(
        repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (repo.root / ".sops.yaml").unlink()
    friend = agekeys.Identity.generate()
    path = repo.encrypt("db-secret.yaml", secret_yaml(canary()), [str(repo.owner.recipient), str(friend.recipient)])
    editor(tmp_path, monkeypatch, CHANGE_OTHER)
    assert run("edit", "db-secret.yaml") == 0
    assert recipients(path) == [str(repo.owner.recipient), str(friend.recipient)]
    attacker = str(agekeys.Identity.generate().recipient)
    add_recipient(path, attacker)
    before = path.read_bytes()
    assert run("edit", "db-secret.yaml") == 3
    assert attacker in capsys.readouterr().err and path.read_bytes() == before


# --- rotate -------------------------------------------------------------------------------------

def test_rotate_refuses_an_extra_recipient_and_a_file_without_a_rule(
        repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo.encrypt("db-secret.yaml", secret_yaml(canary()))
    attacker = str(agekeys.Identity.generate().recipient)
    add_recipient(path, attacker)
    before = path.read_bytes()
    assert run("rotate", "-i", "db-secret.yaml") == 3
    assert "refusing to rotate db-secret.yaml" in capsys.readouterr().err and path.read_bytes() == before
    (repo.root / ".sops.yaml").unlink()
    clean = repo.encrypt("b-secret.yaml", secret_yaml(canary()))
    before = clean.read_bytes()
    assert run("rotate", "-i", "b-secret.yaml") == 3
    assert "no .sops.yaml governs it" in capsys.readouterr().err and clean.read_bytes() == before


def test_rotate_of_a_clean_file_wraps_a_new_key_for_the_same_recipients(repo: Repo) -> None:
    path = repo.encrypt("db-secret.yaml", secret_yaml(canary()))
    old_key = repo.decrypt("db-secret.yaml").data_key
    assert run("rotate", "-i", "db-secret.yaml") == 0
    d = repo.decrypt("db-secret.yaml")
    assert d.data_key != old_key and recipients(path) == [str(repo.owner.recipient)]


# --- updatekeys ---------------------------------------------------------------------------------

def test_updatekeys_without_a_terminal_or_yes_shows_the_change_and_refuses(
        repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo.encrypt("db-secret.yaml", secret_yaml(canary()))
    attacker, newcomer = (str(agekeys.Identity.generate().recipient) for _ in range(2))
    add_recipient(path, attacker)
    repo.config(str(repo.owner.recipient), newcomer)
    before = path.read_bytes()
    assert run("updatekeys", "db-secret.yaml") == 6
    err = capsys.readouterr().err
    assert f"db-secret.yaml: + {newcomer} (gets the data key)" in err
    assert f"db-secret.yaml: - {attacker} (removed)" in err and "--yes" in err
    assert path.read_bytes() == before


def test_updatekeys_yes_wraps_for_exactly_the_rule(repo: Repo, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = repo.encrypt("db-secret.yaml", secret_yaml(secret := canary()))
    attacker = str(agekeys.Identity.generate().recipient)
    newcomer = agekeys.Identity.generate()
    add_recipient(path, attacker)
    owner_enc = sops.parse(path.read_text(), "yaml", "x").metadata.age[0].enc  # type: ignore[union-attr]
    repo.config(str(repo.owner.recipient), str(newcomer.recipient))
    assert run("updatekeys", "--yes", "db-secret.yaml") == 0
    err = capsys.readouterr().err
    assert f"added {newcomer.recipient}" in err and f"removed {attacker}" in err and "rotate" in err
    meta = sops.parse(path.read_text(), "yaml", "x").metadata
    assert meta is not None and meta.recipients == [str(repo.owner.recipient), str(newcomer.recipient)]
    assert meta.age[0].enc == owner_enc  # the owner's wrapped key is kept as it was
    newkey = tmp_path / "newcomer-keys.txt"
    newkey.write_text(newcomer.secret_string() + "\n")
    assert f"password: {secret}" in sops.plaintext(repo.decrypt("db-secret.yaml", newkey).file)
    assert run("updatekeys", "db-secret.yaml") == 0  # nothing left to change: no confirmation needed
    assert "already match" in capsys.readouterr().err


# --- check and the diff/sync warning ------------------------------------------------------------

def test_check_fails_a_file_with_an_attacker_recipient(repo: Repo) -> None:
    path = repo.encrypt("db-secret.yaml", secret_yaml(canary()))
    attacker = str(agekeys.Identity.generate().recipient)
    add_recipient(path, attacker)
    report = check([repo.root], keyring=Keyring())
    assert [(f.path, f.problem) for f in report.problems] == [(
        str(path), f"recipients differ from creation_rules[0] of .sops.yaml: not named by the rule: {attacker}"
                   f" (run `kubectl gitops secrets updatekeys` on it)")]


def test_recipients_warning_for_diff_and_sync(repo: Repo, tmp_path: Path) -> None:
    (repo.root / "deploy").mkdir()
    path = repo.encrypt("deploy/db-secret.yaml", secret_yaml(canary()))
    meta = sops.parse(path.read_text(), "yaml", "x").metadata
    assert meta is not None
    assert recipients_warning(repo.root, "deploy/db-secret.yaml", meta) is None
    attacker = str(agekeys.Identity.generate().recipient)
    add_recipient(path, attacker)
    meta = sops.parse(path.read_text(), "yaml", "x").metadata
    assert meta is not None
    warning = recipients_warning(repo.root, "deploy/db-secret.yaml", meta)
    assert warning is not None and warning.startswith("deploy/db-secret.yaml: recipients differ from "
                                                      "creation_rules[0] of .sops.yaml: not named by the rule: ")
    assert attacker in warning
    # a .sops.yaml that is a link out of the checkout, or one above it, does not count
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".sops.yaml").write_text((repo.root / ".sops.yaml").read_text())
    (repo.root / ".sops.yaml").unlink()
    assert recipients_warning(repo.root, "deploy/db-secret.yaml", meta) is None
    (repo.root / ".sops.yaml").symlink_to(outside / ".sops.yaml")
    assert recipients_warning(repo.root, "deploy/db-secret.yaml", meta) is None
    assert recipients_warning(outside / "x" / "..", "../repo/deploy/db-secret.yaml", meta) is None


def test_recipient_warnings_reads_the_decrypted_files_of_a_checkout(repo: Repo) -> None:
    (repo.root / "deploy").mkdir()
    bad = repo.encrypt("deploy/a-secret.yaml", secret_yaml(canary()))
    repo.encrypt("deploy/b-secret.yaml", secret_yaml(canary()))
    attacker = str(agekeys.Identity.generate().recipient)
    add_recipient(bad, attacker)
    warnings = recipient_warnings(repo.root, ["deploy/b-secret.yaml", "deploy/a-secret.yaml", "../escape.yaml"])
    assert len(warnings) == 1 and warnings[0].startswith("deploy/a-secret.yaml: ") and attacker in warnings[0]


# --- the merge driver ---------------------------------------------------------------------------

def sides(repo: Repo, tmp_path: Path) -> tuple[Path, Path, Path]:
    """base, ours, theirs of db-secret.yaml as git hands them to the driver; same data key everywhere.
    (Ordinary values: ``git merge-file`` legitimately prints the merged plaintext to the driver.)"""
    path = repo.encrypt("db-secret.yaml", secret_yaml("correct-horse"))
    base, ours, theirs = (tmp_path / n for n in ("base", "ours", "theirs"))
    base.write_text(path.read_text())
    d = repo.decrypt("db-secret.yaml")
    ours.write_text(sops.reencrypt(d, sops.plaintext(d.file).replace("other: x", "other: ours"),
                                   [str(repo.owner.recipient)]))
    d = repo.decrypt("db-secret.yaml")
    theirs.write_text(sops.reencrypt(d, sops.plaintext(d.file).replace("password:", "password: t"),
                                     [str(repo.owner.recipient)]))
    return base, ours, theirs


def test_merge_driver_refuses_a_side_with_a_recipient_the_rule_does_not_name(repo: Repo, tmp_path: Path) -> None:
    base, ours, theirs = sides(repo, tmp_path)
    attacker = str(agekeys.Identity.generate().recipient)
    add_recipient(theirs, attacker)
    before = ours.read_bytes()
    with pytest.raises(RecipientsError) as err:
        merge_files(base, ours, theirs, "db-secret.yaml")
    assert "refusing to merge db-secret.yaml (theirs)" in str(err.value) and attacker in str(err.value)
    assert ours.read_bytes() == before


def test_merge_driver_takes_the_rule_never_the_union(repo: Repo, tmp_path: Path) -> None:
    base, ours, theirs = sides(repo, tmp_path)
    newcomer, later = agekeys.Identity.generate(), agekeys.Identity.generate()
    # theirs ran updatekeys for the newcomer (same data key); the rule also names someone nobody added yet
    f = sops.parse(theirs.read_text(), "yaml", "t")
    d = repo.decrypt("db-secret.yaml")
    assert f.metadata is not None
    f.metadata.age = wrap_data_key(d.data_key, [str(repo.owner.recipient), str(newcomer.recipient)],
                                        keep=f.metadata.age)
    newcomer_enc = f.metadata.age[1].enc
    theirs.write_text(sops.render(f))
    repo.config(str(repo.owner.recipient), str(newcomer.recipient), str(later.recipient))
    outcome = merge_files(base, ours, theirs, "db-secret.yaml")
    assert outcome.clean
    assert any(str(later.recipient) in w and "updatekeys" in w for w in outcome.warnings)
    merged = sops.parse(ours.read_text(), "yaml", "m").metadata
    assert merged is not None and merged.recipients == [str(repo.owner.recipient), str(newcomer.recipient)]
    assert merged.age[1].enc == newcomer_enc  # re-used, not wrapped anew
    # with the newcomer dropped from the rule, theirs is refused instead of united
    repo.config(str(repo.owner.recipient))
    base, ours, theirs2 = sides(repo, tmp_path)
    theirs2.write_text(sops.render(f))
    with pytest.raises(RecipientsError):
        merge_files(base, ours, theirs2, "db-secret.yaml")


def test_a_real_git_merge_of_an_attacker_branch_conflicts_and_keeps_our_file(
        repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    path = repo.encrypt("db-secret.yaml", secret_yaml(canary()))
    assert run("git-setup", "--command", f"{sys.executable} -m kubectl_gitops") == 0
    capsys.readouterr()
    repo.git("add", ".")
    repo.git("commit", "-q", "-m", "initial")
    repo.git("checkout", "-q", "-b", "pr")
    attacker = str(agekeys.Identity.generate().recipient)
    add_recipient(path, attacker)
    repo.git("commit", "-q", "-am", "innocent-looking change")
    repo.git("checkout", "-q", "main")
    d = repo.decrypt("db-secret.yaml")
    path.write_text(sops.reencrypt(d, sops.plaintext(d.file).replace("other: x", "other: main"),
                                   [str(repo.owner.recipient)]))
    repo.git("commit", "-q", "-am", "main change")
    ours = path.read_bytes()
    merge = repo.git("merge", "--no-edit", "pr", check=False)
    assert merge.returncode != 0
    assert attacker in merge.stdout + merge.stderr and "refusing to merge" in merge.stdout + merge.stderr
    assert path.read_bytes() == ours and attacker not in recipients(path)
    repo.git("merge", "--abort")


def test_reencrypt_without_allowed_gives_nobody_a_new_key(repo: Repo) -> None:
    path = repo.encrypt("db-secret.yaml", secret_yaml(canary()))
    add_recipient(path, str(agekeys.Identity.generate().recipient))
    d = repo.decrypt("db-secret.yaml")
    with pytest.raises(SecretsError, match=r"no \.sops\.yaml creation rule names it"):
        sops.reencrypt(d, sops.plaintext(d.file))
