"""`kubectl gitops completion` (placeholder until the krew issue lands)."""

from __future__ import annotations

import click

from ..errors import OperationFailed
from .base import handle_errors


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@handle_errors
def command(shell: str) -> int:
    """Print a completion script for SHELL."""
    raise OperationFailed("completion is not implemented yet")
