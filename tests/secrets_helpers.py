"""Helpers for tests of the secrets commands: an isolated environment for keys, editors, git and temporary files."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectl_gitops import redact
from kubectl_gitops.secrets import agekeys


def canary() -> str:
    """A secret value the suite-wide canary scan (tests/conftest.py) fails on if it is ever printed."""
    return f"CANARY-s3cr3t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def isolated_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No key, editor or git identity from the developer's environment; a private temporary folder (where edit and
    the merge driver put their plaintext files) that must be empty afterwards; the redaction registry restored."""
    for var in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "EDITOR", "VISUAL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.com")
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    saved = redact.snapshot()
    yield
    redact.restore(saved)
    assert list(private_tmp.iterdir()) == [], "a private temporary file was left behind"


@pytest.fixture
def ident(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> agekeys.Identity:
    """A throwaway age key in SOPS_AGE_KEY_FILE."""
    i = agekeys.Identity.generate()
    path = tmp_path / "keys.txt"
    path.write_text(agekeys.identity_file_text(i, "2024-01-01T00:00:00Z"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(path))
    return i
