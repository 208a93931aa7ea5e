"""The sops format in Python: encryption rules, MAC, tampering, keys, .sops.yaml, `secrets check`, and the
render hook. Keys are generated per test; secret values are canaries that must never be printed.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectl_gitops import redact
from kubectl_gitops.errors import ExitCode, SecretsError
from kubectl_gitops.secrets import agekeys, decrypt_if_encrypted, is_sops_text, sops
from kubectl_gitops.secrets.check import check
from kubectl_gitops.secrets.keys import Keyring, default_key_file, standard_key_file
from kubectl_gitops.secrets.sopsconfig import config_for, find_config, parse_config

K8S = sops.Rules(encrypted_regex="^(data|stringData)$")


def canary() -> str:
    return f"CANARY-s3cr3t-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No real key of the machine is used, and registered values do not mask other tests' output."""
    for var in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    saved = redact.snapshot()
    yield
    redact.restore(saved)


def keyring() -> Keyring:
    return Keyring(env=dict(os.environ))


def secret_yaml(password: str, user: str = "admin") -> str:
    return (
        "apiVersion: v1\n"
        "kind: Secret\n"
        "metadata:\n"
        "  name: db\n"
        "  labels:\n"
        "    app: db\n"
        "type: Opaque\n"
        "stringData:\n"
        "  # who may log in\n"
        f"  user: {user}\n"
        f"  password: {password}  # rotate yearly\n"
        "  port: 5432\n"
        "  enabled: true\n"
        "  empty: ''\n"
        "  nothing:\n"
    )


def encrypt(text: str, ident: agekeys.Identity, rules: sops.Rules = K8S, fmt: str = "yaml") -> str:
    return sops.encrypt_text(text, fmt, rules, [str(ident.recipient)], f"secret.{fmt}")


def decrypt(text: str, fmt: str = "yaml") -> sops.Decrypted:
    kr = keyring()
    return sops.decrypt_file(sops.parse(text, fmt, f"secret.{fmt}"), kr.identities_for, kr.describe)


# --- rules --------------------------------------------------------------------------------------

@pytest.mark.parametrize("rules, path, encrypted", [
    (sops.Rules(), ("a",), True),
    (sops.Rules(), ("a_unencrypted",), False),
    (sops.Rules(), ("a_unencrypted", "b"), False),
    (sops.Rules(unencrypted_suffix="_plain"), ("x", "y_plain"), False),
    (sops.Rules(encrypted_suffix="_secret"), ("a",), False),
    (sops.Rules(encrypted_suffix="_secret"), ("db_secret", "x"), True),
    (K8S, ("stringData", "password"), True),
    (K8S, ("metadata", "name"), False),
    (K8S, ("metadata", "data"), True),             # every key on the path is tested
    (K8S, ("database",), False),
    (sops.Rules(encrypted_regex="data"), ("database",), True),  # unanchored, like Go's MatchString
    (sops.Rules(unencrypted_regex="^(apiVersion|kind|metadata)$"), ("metadata", "name"), False),
    (sops.Rules(unencrypted_regex="^(apiVersion|kind|metadata)$"), ("spec", "x"), True),
])
def test_should_encrypt_tests_every_key_on_the_path(rules: sops.Rules, path: tuple[str, ...], encrypted: bool) -> None:
    assert rules.effective().should_encrypt(path) is encrypted


def test_two_selectors_in_one_rule_are_refused() -> None:
    with pytest.raises(SecretsError, match="more than one"):
        sops.Rules(encrypted_regex="x", unencrypted_suffix="_u")


# --- round trips --------------------------------------------------------------------------------

def test_encrypted_secret_hides_values_keeps_keys_and_decrypts_to_the_same_text(ident: agekeys.Identity) -> None:
    secret = canary()
    plain = secret_yaml(secret)
    enc = encrypt(plain, ident)
    assert secret not in enc and "who may log in" not in enc and "rotate yearly" not in enc
    assert "  password: ENC[AES256_GCM,data:" in enc and "type:str]" in enc
    assert "  port: ENC[AES256_GCM," in enc and "type:int]" in enc
    assert "  enabled: ENC[AES256_GCM," in enc and "type:bool]" in enc
    assert "  empty: ''\n" in enc and "  nothing:\n" in enc       # empty and null stay as written
    assert "  name: db\n" in enc and "    app: db\n" in enc        # outside data/stringData: readable
    d = decrypt(enc)
    assert d.mac_ok
    assert sops.plaintext(d.file) == plain
    assert redact.redact(f"x {secret} y") == "x *** y"               # registered the moment it was decrypted


def test_sops_block_is_appended_to_every_document_with_sorted_keys(ident: agekeys.Identity) -> None:
    plain = secret_yaml(canary()) + "---\n" + secret_yaml(canary(), user="other")
    enc = encrypt(plain, ident)
    docs = enc.split("\n---\n")
    assert len(docs) == 2
    blocks = [d[d.index("sops:\n"):] for d in docs]
    assert blocks[0].rstrip("\n") == blocks[1].rstrip("\n")
    keys = [line.strip().split(":")[0] for line in blocks[0].splitlines()[1:] if line.startswith("  ") and
            not line.startswith("   ") and not line.startswith("  - ")]
    assert keys == sorted(keys) == ["age", "encrypted_regex", "lastmodified", "mac", "version"]
    d = decrypt(enc)
    assert sops.plaintext(d.file) == plain


def test_header_comments_and_empty_documents_survive_encryption(ident: agekeys.Identity) -> None:
    plain = "# owner: team-a\n---\n" + secret_yaml(canary()) + "---\n"
    enc = encrypt(plain, ident, sops.Rules())
    assert enc.startswith("#ENC[AES256_GCM,") and "team-a" not in enc and enc.endswith("---\n")
    assert sops.plaintext(decrypt(enc).file) == plain


def test_json_round_trip_keeps_types_and_order(ident: agekeys.Identity) -> None:
    secret = canary()
    doc = {"name": "app", "password": secret, "port": 8080, "ratio": 0.25, "on": True, "nothing": None,
           "nested": {"list": ["a", 2, False]}, "plain_unencrypted": "visible"}
    enc = encrypt(json.dumps(doc, indent=2), ident, sops.Rules(), fmt="json")
    parsed = json.loads(enc)
    assert secret not in enc and parsed["plain_unencrypted"] == "visible" and parsed["nothing"] is None
    assert parsed["port"].endswith("type:int]") and parsed["ratio"].endswith("type:float]")
    assert list(parsed) == [*doc, "sops"]
    d = decrypt(enc, "json")
    assert json.loads(sops.plaintext(d.file)) == doc


def test_unsupported_documents_are_refused_like_sops(ident: agekeys.Identity) -> None:
    with pytest.raises(SecretsError, match="top-level object"):
        encrypt("[1, 2]", ident, fmt="json")
    with pytest.raises(SecretsError, match="not mappings"):
        encrypt("- a\n- b\n", ident)


@pytest.mark.parametrize("text, message", [
    ("data:\n  1: one\n", "key '1' under data is a int"),
    ("true: x\n", "key 'true' under the top level is a bool"),
])
def test_non_string_keys_are_refused_like_sops(ident: agekeys.Identity, text: str, message: str) -> None:
    with pytest.raises(SecretsError, match=message):
        encrypt(text, ident, sops.Rules())
    assert "on" in json.loads(encrypt('{"on": 1}', ident, sops.Rules(), fmt="json"))  # JSON keys are strings
    encrypt("on: x\n'1': y\n", ident, sops.Rules())  # `on` is a string in YAML 1.2; quoted keys are strings


def test_encrypting_an_encrypted_file_is_refused(ident: agekeys.Identity) -> None:
    enc = encrypt(secret_yaml(canary()), ident)
    with pytest.raises(SecretsError, match="already encrypted"):
        encrypt(enc, ident)


# --- integrity ----------------------------------------------------------------------------------

def test_a_changed_unencrypted_value_is_a_mac_mismatch(ident: agekeys.Identity) -> None:
    enc = encrypt(secret_yaml(canary()), ident)
    with pytest.raises(sops.MacMismatchError, match=r"MAC mismatch in secret\.yaml") as err:
        decrypt(enc.replace("  name: db\n", "  name: evil\n"))
    assert err.value.exit_code == ExitCode.INVALID_INPUT


def test_with_mac_only_encrypted_unencrypted_values_may_change(ident: agekeys.Identity) -> None:
    rules = sops.Rules(encrypted_regex="^(data|stringData)$", mac_only_encrypted=True)
    enc = encrypt(secret_yaml(canary()), ident, rules)
    assert "mac_only_encrypted: true" in enc
    d = decrypt(enc.replace("  name: db\n", "  name: renamed\n"))
    assert d.mac_ok


def test_a_changed_ciphertext_cannot_be_decrypted(ident: agekeys.Identity) -> None:
    enc = encrypt(secret_yaml(canary()), ident)
    start = enc.index("  password: ENC[AES256_GCM,data:") + len("  password: ENC[AES256_GCM,data:")
    flipped = enc[:start] + ("A" if enc[start] != "A" else "B") + enc[start + 1:]
    with pytest.raises(SecretsError, match=r"stringData\.password: cannot decrypt value"):
        decrypt(flipped)


def test_a_value_moved_to_another_key_fails_its_additional_data(ident: agekeys.Identity) -> None:
    enc = encrypt(secret_yaml(canary()), ident)
    lines = enc.splitlines(keepends=True)
    user = next(i for i, line in enumerate(lines) if line.startswith("  user: "))
    password = next(i for i, line in enumerate(lines) if line.startswith("  password: "))
    u, p = lines[user].split(": ", 1)[1], lines[password].split(": ", 1)[1]
    lines[user], lines[password] = f"  user: {p.split(' #')[0].strip()}\n", f"  password: {u}"
    with pytest.raises(SecretsError, match=r"stringData\.user: cannot decrypt value"):
        decrypt("".join(lines))


def test_a_wrong_key_names_the_file_recipients_and_key_sources_but_no_value(
        ident: agekeys.Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = canary()
    enc = encrypt(secret_yaml(secret), ident)
    other = tmp_path / "other.txt"
    other.write_text(agekeys.Identity.generate().secret_string() + "\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(other))
    with pytest.raises(sops.NoKeyError) as err:
        decrypt(enc)
    text = "\n".join([str(err.value), *err.value.details, err.value.hint or ""])
    assert "cannot decrypt secret.yaml: no age key could decrypt the data key" in text
    assert str(ident.recipient) in text
    assert f"SOPS_AGE_KEY_FILE={other} (1 key)" in text and "SOPS_AGE_KEY (not set)" in text
    assert "SOPS_AGE_KEY_CMD (not set)" in text and str(default_key_file()) in text
    assert secret not in text and err.value.exit_code == ExitCode.INVALID_INPUT


# --- edits keep ciphertext ----------------------------------------------------------------------

def test_reencrypt_keeps_the_ciphertext_of_unchanged_values_and_comments(ident: agekeys.Identity) -> None:
    enc = encrypt(secret_yaml(canary()), ident)
    d = decrypt(enc)
    edited = sops.plaintext(d.file).replace("  user: admin\n", "  user: operator\n")
    again = sops.reencrypt(d, edited)
    before, after = enc.splitlines(), again.splitlines()
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if a != b]
    names = [b.split(":")[0].strip() for b, _ in changed]
    assert names in (["user", "lastmodified", "mac"], ["user", "mac"])  # lastmodified: unless in the same second
    assert decrypt(again).mac_ok


def test_rotation_changes_every_ciphertext(ident: agekeys.Identity) -> None:
    enc = encrypt(secret_yaml(canary()), ident)
    d = decrypt(enc)
    f = d.file
    sops.seal(f, d.metadata.rules, d.metadata.recipients, sops.new_data_key())
    rotated = sops.render(f)
    old = {line for line in enc.splitlines() if "ENC[" in line and "mac:" not in line}
    assert old and not old & set(rotated.splitlines())
    assert sops.plaintext(decrypt(rotated).file) == sops.plaintext(decrypt(enc).file)


# --- key discovery ------------------------------------------------------------------------------

def test_keys_from_sops_age_key_may_be_several_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = agekeys.Identity.generate(), agekeys.Identity.generate()
    monkeypatch.setenv("SOPS_AGE_KEY", f"{a.secret_string()} {b.secret_string()}")
    enc = sops.encrypt_text(secret_yaml(canary()), "yaml", K8S, [str(b.recipient)], "s.yaml")
    assert decrypt(enc).mac_ok
    assert "SOPS_AGE_KEY (2 keys)" in keyring().describe()


def test_key_command_gets_the_recipient_and_its_output_is_a_keys_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    i = agekeys.Identity.generate()
    keyfile = tmp_path / "vault-key.txt"
    keyfile.write_text(i.secret_string() + "\n")
    script = tmp_path / "getkey.py"
    script.write_text("import os, sys\n"
                      f"if os.environ.get('SOPS_AGE_RECIPIENT') == {str(i.recipient)!r}:\n"
                      f"    sys.stdout.write(open({str(keyfile)!r}).read())\n")
    monkeypatch.setenv("SOPS_AGE_KEY_CMD", f"{sys.executable} {script}")
    enc = sops.encrypt_text(secret_yaml(canary()), "yaml", K8S, [str(i.recipient)], "s.yaml")
    kr = keyring()
    assert sops.decrypt_file(sops.parse(enc, "yaml", "s.yaml"), kr.identities_for, kr.describe).mac_ok
    assert "SOPS_AGE_KEY_CMD (1 key)" in kr.describe()


def test_a_failing_key_command_is_reported_as_a_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_CMD", f"{sys.executable} -c 'raise SystemExit(3)'")
    kr = keyring()
    assert kr.identities_for("age1x") == []
    assert "SOPS_AGE_KEY_CMD (command failed with exit code 3)" in kr.describe()


def test_the_default_keys_file_lives_under_xdg_config_home(tmp_path: Path) -> None:
    i = agekeys.Identity.generate()
    path = default_key_file()
    assert path == tmp_path / "xdg" / "sops" / "age" / "keys.txt"
    assert standard_key_file() == path
    path.parent.mkdir(parents=True)
    path.write_text(agekeys.identity_file_text(i, "2024-01-01T00:00:00Z"))
    assert [x.recipient for x in keyring().all_identities()] == [i.recipient]


def test_an_unreadable_key_line_is_reported_without_its_content(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("AGE-SECRET-KEY-1NOTAKEYATALL\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(bad))
    text = keyring().describe()
    assert f"SOPS_AGE_KEY_FILE={bad} (unreadable" in text and "NOTAKEY" not in text


# --- .sops.yaml ---------------------------------------------------------------------------------

def test_config_is_found_upward_and_rules_match_paths_relative_to_it(tmp_path: Path) -> None:
    a, b = (str(agekeys.Identity.generate().recipient) for _ in range(2))
    (tmp_path / "repo" / "apps" / "db").mkdir(parents=True)
    (tmp_path / "repo" / ".sops.yaml").write_text(
        "creation_rules:\n"
        "  - path_regex: ^apps/db/.*secret.*\\.yaml$\n"
        "    encrypted_regex: ^(data|stringData)$\n"
        f"    age: {a}, {b}\n"
        "  - path_regex: \\.json$\n"
        "    key_groups:\n"
        f"      - age: [{a}]\n"
        "  - age:\n"
        f"      - {b}\n"
        "    unencrypted_suffix: _clear\n")
    target = tmp_path / "repo" / "apps" / "db" / "db-secret.yaml"
    assert find_config(target) == tmp_path / "repo" / ".sops.yaml"
    config = config_for(target)
    assert config is not None
    rule = config.rule_for(target)
    assert rule is not None and rule.index == 0 and rule.recipients == [a, b]
    assert rule.rules.encrypted_regex == "^(data|stringData)$"
    json_rule = config.rule_for(tmp_path / "repo" / "x.json")
    assert json_rule is not None and json_rule.index == 1 and json_rule.recipients == [a]
    other = config.rule_for(tmp_path / "repo" / "apps" / "db" / "deploy.yaml")
    assert other is not None and other.index == 2 and other.rules.unencrypted_suffix == "_clear"


@pytest.mark.parametrize("text, message", [
    ("creation_rules:\n  - key_groups:\n      - age: [a]\n      - age: [b]\n    shamir_threshold: 2\n", "shamir"),
    ("creation_rules:\n  - path_regex: '('\n", "invalid path_regex"),
    ("creation_rules:\n  - encrypted_regex: a\n    unencrypted_regex: b\n", "more than one"),
    ("creation_rules:\n  - unencrypted_comment_regex: x\n", "not supported"),
])
def test_config_problems_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(SecretsError, match=message):
        parse_config(text, Path(".sops.yaml"))


def test_rules_with_other_key_types_are_flagged() -> None:
    config = parse_config("creation_rules:\n  - pgp: ABCDEF\n", Path(".sops.yaml"))
    assert config.rules[0].other_keys == ["pgp"] and config.rules[0].recipients == []


# --- the render hook ----------------------------------------------------------------------------

def test_decrypt_if_encrypted_returns_other_text_unchanged() -> None:
    for text in ("apiVersion: v1\nkind: ConfigMap\ndata:\n  mac: x\n", "{: not yaml", "kind: Secret\nsops: 1\n"):
        assert decrypt_if_encrypted("a.yaml", text) is text
    assert not is_sops_text("apiVersion: v1\nkind: Secret\n")


def test_decrypt_if_encrypted_decrypts_in_memory(ident: agekeys.Identity) -> None:
    secret = canary()
    enc = encrypt(secret_yaml(secret), ident)
    plain = decrypt_if_encrypted("apps/db-secret.yaml", enc)
    assert plain == secret_yaml(secret)
    assert redact.redact(secret) == "***"


def test_decrypt_if_encrypted_names_the_file_and_key_sources(ident: agekeys.Identity,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    enc = encrypt(secret_yaml(canary()), ident)
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    with pytest.raises(SecretsError) as err:
        decrypt_if_encrypted("apps/db-secret.yaml", enc)
    assert "apps/db-secret.yaml" in str(err.value)
    assert any("key sources tried: SOPS_AGE_KEY (not set), SOPS_AGE_KEY_FILE (not set)" in d for d in err.value.details)


def test_decrypt_if_encrypted_is_cheap_for_ordinary_manifests() -> None:
    import timeit

    text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n" * 200
    assert timeit.timeit(lambda: decrypt_if_encrypted("web.yaml", text), number=1000) < 0.5


# --- secrets check ------------------------------------------------------------------------------

@pytest.fixture
def repo(tmp_path: Path, ident: agekeys.Identity) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".sops.yaml").write_text(
        "creation_rules:\n"
        "  - path_regex: secret\n"
        "    encrypted_regex: ^(data|stringData)$\n"
        f"    age: {ident.recipient}\n")
    (root / "deploy.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n")
    (root / "db-secret.yaml").write_text(encrypt(secret_yaml(canary()), ident))
    (root / "chart").mkdir()
    (root / "chart" / "tpl.yaml").write_text("{{- if .Values.x }}\nkind: Secret\n{{- end }}\n")
    (root / "vault.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: v\nstringData:\n"
        "  password: <path:kv/data/db#password>\n  token: <token>\n")
    return root


def test_check_passes_a_clean_repository(repo: Path) -> None:
    report = check([repo], keyring=keyring())
    assert report.ok, report.problems
    assert report.encrypted == [str(repo / "db-secret.yaml")] and report.checked == 3


def test_check_flags_plaintext_secrets_and_unencrypted_rule_matches(repo: Path) -> None:
    secret = canary()
    (repo / "leak.yaml").write_text(secret_yaml(secret).replace("name: db", "name: leak"))
    (repo / "new-secret.yaml").write_text("apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n")
    report = check([repo], keyring=keyring())
    assert report.offending_files == [str(repo / "leak.yaml"), str(repo / "new-secret.yaml")]
    messages = [f.problem for f in report.problems]
    assert "Secret leak: stringData enabled, password, port, user is in a file that is not encrypted " \
           "(plaintext in Git)" in messages
    assert any("matches creation_rules[0]" in m and "is not encrypted" in m for m in messages)
    assert secret not in "\n".join(str(f) for f in report.problems)
    (repo / "leak.yaml").unlink()  # the plaintext canary must not stay behind


def test_check_without_a_key_verifies_structure_and_notes_the_mac(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    report = check([repo], keyring=keyring())
    assert report.ok and [n.problem for n in report.notes] == ["MAC not verified: no age key can decrypt it here"]
    strict = check([repo], keyring=keyring(), require_mac=True)
    assert strict.offending_files == [str(repo / "db-secret.yaml")]


def test_check_catches_tampering_and_hand_written_values(repo: Path) -> None:
    path = repo / "db-secret.yaml"
    path.write_text(path.read_text().replace("  name: db\n", "  name: other\n"))
    report = check([repo], keyring=keyring())
    assert [f.problem[:12] for f in report.problems] == ["MAC mismatch"]
    path.write_text(path.read_text().replace("  name: other\n", "  name: db\n").replace(
        "  empty: ''\n", "  empty: typed-in-by-hand\n"))
    report = check([repo], keyring=keyring())
    assert any(f.problem == "values that should be encrypted are not: stringData.empty" for f in report.problems)


def test_check_flags_recipients_that_differ_from_the_config(repo: Path) -> None:
    newcomer = str(agekeys.Identity.generate().recipient)
    config = repo / ".sops.yaml"
    config.write_text(config.read_text().rstrip("\n") + f",{newcomer}\n")
    report = check([repo], keyring=keyring())
    assert [f.problem for f in report.problems] == [
        f"recipients differ from creation_rules[0] of {repo / '.sops.yaml'}: "
        f"named by the rule but without the data key: {newcomer} (run `kubectl gitops secrets updatekeys` on it)"]

