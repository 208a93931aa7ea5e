"""Interoperability with the real sops binary (v3.13.2, built by hack/tools.sh from the Go module proxy).

Both directions, for YAML, JSON, multi-document files, every value type, and each encryption rule:
files we write decrypt with `sops decrypt`, files `sops encrypt` writes decrypt with ours, with the
same values and types. Tampering and wrong keys fail on both sides the same way (sops: exit 51 for a MAC
mismatch, 128 when no key fits). Re-encrypting a sops-written file after an edit keeps sops' ciphertext
of the unchanged values.

`sops decrypt` prints plaintext, so these tests use ordinary values, not canaries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubectl_gitops import redact
from kubectl_gitops.errors import SecretsError
from kubectl_gitops.secrets import agekeys, sops, sopsdocs, sopsfile, sopsrecipients, yaml12
from kubectl_gitops.secrets.keys import Keyring

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sops_bin() -> str:
    proc = subprocess.run([str(ROOT / "hack" / "tools.sh"), "path", "sops"], text=True, capture_output=True,
                          timeout=1800)
    if proc.returncode != 0:
        pytest.fail(f"hack/tools.sh could not provide the sops binary:\n{proc.stderr[-2000:]}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(autouse=True)
def _isolated_redaction() -> Iterator[None]:
    saved = redact.snapshot()
    yield
    redact.restore(saved)


@dataclass
class Env:
    dir: Path
    ident: agekeys.Identity
    keyfile: Path
    sops: str

    @property
    def vars(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", ""), "HOME": str(self.dir / "home"),
                "XDG_CONFIG_HOME": str(self.dir / "xdg"), "SOPS_AGE_KEY_FILE": str(self.keyfile)}

    def config(self, rule: str) -> None:
        (self.dir / ".sops.yaml").write_text(f"creation_rules:\n  - age: {self.ident.recipient}\n{rule}")

    def run(self, *args: str, keyfile: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = self.vars
        if keyfile is not None:
            env["SOPS_AGE_KEY_FILE"] = str(keyfile)
        return subprocess.run([self.sops, *args], cwd=self.dir, env=env, text=True, capture_output=True, timeout=60)

    def keyring(self, keyfile: Path | None = None) -> Keyring:
        env = self.vars
        if keyfile is not None:
            env["SOPS_AGE_KEY_FILE"] = str(keyfile)
        return Keyring(env=env)

    def ours_decrypt(self, text: str, name: str, keyfile: Path | None = None) -> sops.Decrypted:
        kr = self.keyring(keyfile)
        return sops.decrypt_file(sops.parse(text, sopsfile.format_for(name), name), kr.identities_for, kr.describe)


@pytest.fixture
def env(tmp_path: Path, sops_bin: str) -> Env:
    ident = agekeys.Identity.generate()
    keyfile = tmp_path / "test-age-key.txt"
    keyfile.write_text(agekeys.identity_file_text(ident, "2024-01-01T00:00:00Z"))
    work = tmp_path / "work"
    work.mkdir()
    return Env(work, ident, keyfile, sops_bin)


def typed(text: str, fmt: str) -> Any:
    """Documents as nested data of sops values (type and bytes), comments and layout ignored."""
    def conv(node: Any) -> Any:
        if isinstance(node, dict):
            return [(str(k), conv(v)) for k, v in node.items()]
        if isinstance(node, list):
            return [conv(v) for v in node]
        v = sopsdocs.leaf_value(fmt, node)
        return None if v is None else (v.kind, v.plaintext())

    f = sops.parse(text, fmt, "x")
    return [conv(d) for d in f.docs]


ALL_TYPES = """\
# a comment at the top
string: hello world
quoted: "true"
single: 'yes'
yes_is_a_string: yes
int: 42
octal: 0777
hex: 0x1F
negative: -7
float: 3.25
exp: 1.5e+20
bool: true
time: 2024-01-02T03:04:05Z
date: 2024-01-02
nothing: null
empty: ""
multiline: |
  line one
  line two
nested:
  # inside nested
  key: value  # at the end of a line
  deeper:
    list:
      - a
      - 2
      - false
public_unencrypted: visible
"""

K8S_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
  annotations:
    owner: team-a
type: Opaque
stringData:
  # the database login
  username: app
  password: correct-horse-battery
data:
  token: c2VjcmV0dG9rZW4=
"""

MULTI_DOC = K8S_SECRET + "---\n" + K8S_SECRET.replace("name: db", "name: cache").replace(
    "correct-horse-battery", "staple-again")

JSON_DOC = json.dumps({"name": "app", "password": "p4ss-word", "port": 8080, "ratio": 0.75, "debug": False,
                       "tags": ["x", 1, True], "nested": {"key_unencrypted": "clear", "key": "v"}}, indent=4)


COMMENTS = ("a comment at the top", "inside nested", "at the end of a line", "the database login", "license header")


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    text: str
    rule: str = ""


CASES = [
    Case("yaml-all-types-default-rule", "all.yaml", ALL_TYPES),
    Case("yaml-encrypted-regex", "db-secret.yaml", K8S_SECRET, "    encrypted_regex: ^(data|stringData)$\n"),
    Case("yaml-multi-document", "multi.yaml", MULTI_DOC, "    encrypted_regex: ^(data|stringData)$\n"),
    Case("yaml-multi-document-header-comment", "hdr.yaml", "# license header\n---\n" + MULTI_DOC),
    Case("json", "app.json", JSON_DOC),
    Case("yaml-unencrypted-suffix", "suffix.yaml", ALL_TYPES.replace("_unencrypted", "_clear"),
         "    unencrypted_suffix: _clear\n"),
    Case("yaml-encrypted-suffix", "esuffix.yaml", "a_secret: x1\nb: x2\nc:\n  d_secret:\n    e: x3\n",
         "    encrypted_suffix: _secret\n"),
    Case("yaml-unencrypted-regex", "uregex.yaml", K8S_SECRET,
         "    unencrypted_regex: ^(apiVersion|kind|metadata|type)$\n"),
    Case("yaml-mac-only-encrypted", "maconly.yaml", K8S_SECRET,
         "    encrypted_regex: ^(data|stringData)$\n    mac_only_encrypted: true\n"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_files_we_write_decrypt_with_sops(env: Env, case: Case) -> None:
    env.config(case.rule)
    from kubectl_gitops.secrets.sopsconfig import config_for

    config = config_for(env.dir / case.file)
    assert config is not None
    rule = config.rule_for(env.dir / case.file)
    assert rule is not None
    fmt = sopsfile.format_for(case.file)
    enc = sops.encrypt_text(case.text, fmt, rule.rules, rule.recipients, case.file)
    (env.dir / case.file).write_text(enc)
    proc = env.run("decrypt", case.file)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no warning either (encrypted comments decrypt with the path sops expects)
    assert typed(proc.stdout, fmt) == typed(case.text, fmt)
    if fmt == "yaml":
        for comment in COMMENTS:
            assert (comment in proc.stdout) == (comment in case.text)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_files_sops_writes_decrypt_with_ours(env: Env, case: Case) -> None:
    env.config(case.rule)
    (env.dir / case.file).write_text(case.text)
    proc = env.run("encrypt", case.file)
    assert proc.returncode == 0, proc.stderr
    (env.dir / case.file).unlink()
    d = env.ours_decrypt(proc.stdout, case.file)
    assert d.mac_ok and d.warnings == []
    fmt = sopsfile.format_for(case.file)
    plain = sops.plaintext(d.file)
    assert typed(plain, fmt) == typed(case.text, fmt)
    if fmt == "yaml":
        for comment in COMMENTS:
            assert (comment in plain) == (comment in case.text)


def test_a_sops_file_we_reencrypt_after_an_edit_keeps_sops_ciphertext_and_still_decrypts(env: Env) -> None:
    env.config("    encrypted_regex: ^(data|stringData)$\n")
    (env.dir / "db-secret.yaml").write_text(K8S_SECRET)
    written = env.run("encrypt", "db-secret.yaml").stdout
    d = env.ours_decrypt(written, "db-secret.yaml")
    edited = sops.plaintext(d.file).replace("username: app", "username: app2")
    again = sops.reencrypt(d, edited)
    ours_values = {line.split(":")[0]: line for line in again.splitlines() if "ENC[" in line}
    sops_values = {line.split(":")[0]: line for line in written.splitlines() if "ENC[" in line}
    assert ours_values["    password"] == sops_values["    password"]     # sops indents by 4: kept
    assert ours_values["    token"] == sops_values["    token"]
    assert ours_values["    username"] != sops_values["    username"]
    (env.dir / "db-secret.yaml").write_text(again)
    proc = env.run("decrypt", "db-secret.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "username: app2" in proc.stdout


def test_a_changed_unencrypted_value_is_a_mac_mismatch_for_both(env: Env) -> None:
    env.config("    encrypted_regex: ^(data|stringData)$\n")
    (env.dir / "db-secret.yaml").write_text(K8S_SECRET)
    by_sops = env.run("encrypt", "db-secret.yaml").stdout
    from kubectl_gitops.secrets.sopsconfig import config_for

    rule = config_for(env.dir / "db-secret.yaml").rule_for(env.dir / "db-secret.yaml")  # type: ignore[union-attr]
    by_us = sops.encrypt_text(K8S_SECRET, "yaml", rule.rules, rule.recipients, "db-secret.yaml")  # type: ignore[union-attr]
    for text in (by_sops, by_us):
        tampered = text.replace("owner: team-a", "owner: mallory")
        assert tampered != text
        (env.dir / "db-secret.yaml").write_text(tampered)
        proc = env.run("decrypt", "db-secret.yaml")
        assert proc.returncode == 51 and "MAC mismatch" in proc.stderr
        with pytest.raises(sops.MacMismatchError):
            env.ours_decrypt(tampered, "db-secret.yaml")


def test_a_changed_ciphertext_fails_for_both(env: Env) -> None:
    env.config("")
    (env.dir / "all.yaml").write_text("password: correct-horse\nother: value\n")
    by_sops = env.run("encrypt", "all.yaml").stdout
    marker = "password: ENC[AES256_GCM,data:"
    i = by_sops.index(marker) + len(marker)
    tampered = by_sops[:i] + ("A" if by_sops[i] != "A" else "B") + by_sops[i + 1:]
    (env.dir / "all.yaml").write_text(tampered)
    proc = env.run("decrypt", "all.yaml")
    assert proc.returncode != 0 and "password" not in proc.stdout
    with pytest.raises(SecretsError, match="password: cannot decrypt value"):
        env.ours_decrypt(tampered, "all.yaml")


def test_a_wrong_key_fails_for_both(env: Env, tmp_path: Path) -> None:
    env.config("")
    (env.dir / "all.yaml").write_text("password: correct-horse\n")
    by_sops = env.run("encrypt", "all.yaml").stdout
    (env.dir / "all.yaml").write_text(by_sops)
    other = tmp_path / "other-test-key.txt"
    other.write_text(agekeys.Identity.generate().secret_string() + "\n")
    proc = env.run("decrypt", "all.yaml", keyfile=other)
    assert proc.returncode == 128
    with pytest.raises(sops.NoKeyError) as err:
        env.ours_decrypt(by_sops, "all.yaml", keyfile=other)
    assert str(env.ident.recipient) in "\n".join(err.value.details)


def test_a_recipient_we_add_can_decrypt_with_sops(env: Env, tmp_path: Path) -> None:
    env.config("")
    (env.dir / "all.yaml").write_text("password: correct-horse\n")
    by_sops = env.run("encrypt", "all.yaml").stdout
    newcomer = agekeys.Identity.generate()
    newkey = tmp_path / "newcomer-test-key.txt"
    newkey.write_text(newcomer.secret_string() + "\n")
    d = env.ours_decrypt(by_sops, "all.yaml")
    encrypted = sops.parse(by_sops, "yaml", "all.yaml")
    encrypted.metadata = d.metadata
    d.metadata.age = sopsrecipients.wrap_data_key(d.data_key, [str(env.ident.recipient), str(newcomer.recipient)],
                                        keep=d.metadata.age)
    (env.dir / "all.yaml").write_text(sops.render(encrypted))
    proc = env.run("decrypt", "all.yaml", keyfile=newkey)
    assert proc.returncode == 0, proc.stderr
    assert yaml12.load_all(proc.stdout)[0][0]["password"] == "correct-horse"


def test_an_age_data_key_we_wrap_is_read_by_filippo_age_inside_sops(env: Env) -> None:
    # the smallest file: one value, default rule; sops must unwrap our age stanza and verify our MAC
    env.config("")
    enc = sops.encrypt_text("k: v-value\n", "yaml", sops.Rules(), [str(env.ident.recipient)], "k.yaml")
    (env.dir / "k.yaml").write_text(enc)
    proc = env.run("decrypt", "--extract", '["k"]', "k.yaml")
    assert (proc.returncode, proc.stdout) == (0, "v-value")


def test_sops_files_with_comments_inside_lists_decrypt_with_ours(env: Env) -> None:
    # sops 3.13 writes such comments as list items and then counts them in the MAC when decrypting, so it
    # rejects its own file (MAC mismatch); we accept the MAC it computed when encrypting, which covers
    # every value as well.
    env.config("")
    text = "list:\n  - a  # after a\n  - b\nother: c\n"
    (env.dir / "list.yaml").write_text(text)
    written = env.run("encrypt", "list.yaml").stdout
    d = env.ours_decrypt(written, "list.yaml")
    assert d.mac_ok
    assert typed(sops.plaintext(d.file), "yaml") == typed(text, "yaml")
    tampered = written.replace("other: ENC[AES256_GCM,data:", "other: ENC[AES256_GCM,data:A", 1)
    with pytest.raises(SecretsError):
        env.ours_decrypt(tampered, "list.yaml")


def test_a_file_updatekeys_rewrote_for_the_rule_decrypts_with_sops_for_the_new_recipient(
        env: Env, tmp_path: Path) -> None:
    # a sops-written file with an extra recipient entry (as a pull request could add); `secrets updatekeys --yes`
    # makes the list the rule's: the extra one is gone, the newcomer's wrapped key opens the file with sops
    env.config("")
    (env.dir / "all.yaml").write_text("password: correct-horse\n")
    by_sops = env.run("encrypt", "all.yaml").stdout
    extra, newcomer = agekeys.Identity.generate(), agekeys.Identity.generate()
    f = sops.parse(by_sops, "yaml", "all.yaml")
    assert f.metadata is not None
    f.metadata.age.append(sops.AgeKey(str(extra.recipient), ""))
    (env.dir / "all.yaml").write_text(sops.render(f))
    (env.dir / ".sops.yaml").write_text(f"creation_rules:\n  - age: {env.ident.recipient},{newcomer.recipient}\n")
    proc = subprocess.run([sys.executable, str(ROOT / "bin" / "kubectl-gitops"), "secrets", "updatekeys", "--yes",
                           "all.yaml"],
                          cwd=env.dir, env=env.vars, text=True, capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert f"removed {extra.recipient}" in proc.stderr
    after = sops.parse((env.dir / "all.yaml").read_text(), "yaml", "all.yaml").metadata
    assert after is not None and after.recipients == [str(env.ident.recipient), str(newcomer.recipient)]
    newkey = tmp_path / "newcomer-test-key.txt"
    newkey.write_text(newcomer.secret_string() + "\n")
    proc = env.run("decrypt", "all.yaml", keyfile=newkey)
    assert proc.returncode == 0, proc.stderr
    assert yaml12.load_all(proc.stdout)[0][0]["password"] == "correct-horse"
