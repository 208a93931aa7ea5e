"""Fixtures shared by the unit tests of the secrets layer (defined in tests/secrets_helpers.py)."""

from secrets_helpers import ident, isolated_secrets  # noqa: F401 - registered here as fixtures
