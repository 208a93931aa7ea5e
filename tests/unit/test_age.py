"""The age format on cryptography: keys, Bech32, header MAC, STREAM payload, armor.

Interoperability with the Go implementation is proven in tests/integration/test_sops_interop.py (sops
wraps its data key with filippo.io/age); these tests pin the format details and the failure modes.
"""

from __future__ import annotations

import base64

import pytest

from kubectl_gitops.secrets import age, agekeys


def test_identity_text_round_trips_and_derives_its_recipient() -> None:
    ident = agekeys.Identity.generate()
    secret = ident.secret_string()
    assert secret.startswith("AGE-SECRET-KEY-1") and secret == secret.upper()
    again = agekeys.Identity.parse(secret)
    assert again.recipient == ident.recipient
    assert str(ident.recipient).startswith("age1") and len(str(ident.recipient)) == 62
    assert agekeys.Recipient.parse(str(ident.recipient)) == ident.recipient


def test_identity_repr_never_shows_the_secret_key() -> None:
    ident = agekeys.Identity.generate()
    assert ident.secret_string() not in repr(ident)
    assert ident.secret_string()[16:40] not in repr(ident)


@pytest.mark.parametrize("hrp, data", [
    ("age", bytes(32)),
    ("age", bytes(range(32))),
    ("AGE-SECRET-KEY-", bytes(range(100, 132))),
    ("a", b""),
])
def test_bech32_round_trips(hrp: str, data: bytes) -> None:
    text = agekeys.bech32_encode(hrp, data)
    assert agekeys.bech32_decode(text) == (hrp.lower(), data)
    assert agekeys.bech32_decode(text.upper()) == (hrp.lower(), data)


@pytest.mark.parametrize("text", [
    "a12uel5l",  # BIP 173 valid vector
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
])
def test_bech32_accepts_the_bip173_test_vectors(text: str) -> None:
    hrp, _ = agekeys.bech32_decode(text)
    assert hrp == text[: text.rfind("1")]


@pytest.mark.parametrize("text", [
    "a12uel5m",  # checksum changed
    "A12uEL5L",  # mixed case
    "pzry9x0s0muk",  # no separator
    "age1" + "q" * 10,
])
def test_bech32_rejects_corrupted_strings(text: str) -> None:
    with pytest.raises(agekeys.AgeError):
        agekeys.bech32_decode(text)


def test_recipient_with_a_typo_is_rejected_with_the_recipient_named() -> None:
    r = str(agekeys.Identity.generate().recipient)
    typo = r[:-1] + ("q" if r[-1] != "q" else "p")
    with pytest.raises(agekeys.AgeError, match="malformed age recipient"):
        agekeys.Recipient.parse(typo)


@pytest.mark.parametrize("text, message", [
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN", "SSH"),
    ("age1pq1qqqq", "post-quantum"),
])
def test_unsupported_recipient_types_say_so(text: str, message: str) -> None:
    with pytest.raises(agekeys.AgeError, match=message):
        agekeys.Recipient.parse(text)


@pytest.mark.parametrize("size", [0, 1, 32, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 3 * 64 * 1024 + 17])
def test_encrypt_decrypt_round_trip_across_chunk_boundaries(size: int) -> None:
    ident = agekeys.Identity.generate()
    data = bytes(i % 251 for i in range(size))
    assert age.decrypt(age.encrypt(data, [ident.recipient], armored=False), [ident]) == data
    assert age.decrypt(age.encrypt(data, [ident.recipient], armored=True), [ident]) == data


def test_every_recipient_can_decrypt_and_others_cannot() -> None:
    a, b, c = (agekeys.Identity.generate() for _ in range(3))
    blob = age.encrypt(b"data key bytes", [a.recipient, b.recipient])
    assert age.decrypt(blob, [a]) == b"data key bytes"
    assert age.decrypt(blob, [c, b]) == b"data key bytes"
    with pytest.raises(age.NoIdentityMatch):
        age.decrypt(blob, [c])


def test_binary_layout_has_the_v1_header_one_stanza_per_recipient_and_a_mac_line() -> None:
    a, b = agekeys.Identity.generate(), agekeys.Identity.generate()
    blob = age.encrypt(b"x" * 32, [a.recipient, b.recipient], armored=False)
    header, _, _ = blob.partition(b"\n---")
    lines = header.split(b"\n")
    assert lines[0] == b"age-encryption.org/v1"
    stanzas = [line for line in lines if line.startswith(b"-> ")]
    assert [s.split(b" ")[1] for s in stanzas] == [b"X25519", b"X25519"]
    share = stanzas[0].split(b" ")[2].decode()
    assert "=" not in share and len(base64.b64decode(share + "=")) == 32
    mac_line = blob[len(header) + 1:].split(b"\n")[0]
    assert mac_line.startswith(b"--- ") and len(mac_line) == 4 + 43


def test_armor_is_pem_like_with_64_column_lines() -> None:
    ident = agekeys.Identity.generate()
    text = age.encrypt(b"k" * 32, [ident.recipient]).decode()
    lines = text.splitlines()
    assert lines[0] == "-----BEGIN AGE ENCRYPTED FILE-----" and lines[-1] == "-----END AGE ENCRYPTED FILE-----"
    assert all(len(line) == 64 for line in lines[1:-2]) and 0 < len(lines[-2]) <= 64
    assert text.endswith("\n")


def test_a_changed_header_fails_the_header_mac() -> None:
    ident = agekeys.Identity.generate()
    blob = age.encrypt(b"k" * 32, [ident.recipient], armored=False)
    # an extra (unknown) stanza is skipped by the parser, and the MAC over the header catches it
    tampered = blob.replace(b"-> X25519", b"-> grease-x y\n\n-> X25519", 1)
    assert [s.type for s in age._parse_header(tampered)[0]] == ["grease-x", "X25519"]
    with pytest.raises(agekeys.AgeError, match="header MAC"):
        age.decrypt(tampered, [ident])


def test_a_stanza_for_another_key_type_is_not_for_us() -> None:
    ident = agekeys.Identity.generate()
    blob = bytearray(age.encrypt(b"k" * 32, [ident.recipient], armored=False))
    blob[len(b"age-encryption.org/v1\n-> ")] ^= 0x01  # the stanza type: X25519 -> Y25519
    with pytest.raises(age.NoIdentityMatch):
        age.decrypt(bytes(blob), [ident])


def test_a_changed_payload_fails_authentication() -> None:
    ident = agekeys.Identity.generate()
    blob = bytearray(age.encrypt(b"k" * 32, [ident.recipient], armored=False))
    blob[-1] ^= 0x01
    with pytest.raises(agekeys.AgeError, match="payload"):
        age.decrypt(bytes(blob), [ident])


def test_truncated_armor_is_rejected() -> None:
    ident = agekeys.Identity.generate()
    text = age.encrypt(b"k" * 32, [ident.recipient]).decode()
    with pytest.raises(agekeys.AgeError, match="armor"):
        age.decrypt(text.replace("-----END AGE ENCRYPTED FILE-----\n", ""), [ident])


def test_parse_identities_skips_comments_and_blank_lines_and_splits_words_when_asked() -> None:
    a, b = agekeys.Identity.generate(), agekeys.Identity.generate()
    text = f"# created: 2024-01-01T00:00:00Z\n# public key: {a.recipient}\n{a.secret_string()}\n\n{b.secret_string()}\n"
    assert [i.recipient for i in agekeys.parse_identities(text)] == [a.recipient, b.recipient]
    one_line = f"{a.secret_string()} {b.secret_string()}"
    assert len(agekeys.parse_identities(one_line, several_per_line=True)) == 2
    with pytest.raises(agekeys.AgeError):
        agekeys.parse_identities(one_line)


def test_a_bad_key_line_error_does_not_echo_the_line() -> None:
    secretish = "AGE-SECRET-KEY-1" + "Q" * 58
    with pytest.raises(agekeys.AgeError) as err:
        agekeys.parse_identities(secretish)
    assert "QQQQ" not in str(err.value)


def test_identity_file_text_matches_age_keygen_layout() -> None:
    ident = agekeys.Identity.generate()
    lines = agekeys.identity_file_text(ident, "2024-05-06T07:08:09Z").splitlines()
    assert lines == ["# created: 2024-05-06T07:08:09Z", f"# public key: {ident.recipient}", ident.secret_string()]
