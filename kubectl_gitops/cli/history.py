"""`kubectl gitops history` (placeholder until its issue lands)."""

from __future__ import annotations

import click

from ..errors import OperationFailed
from .base import handle_errors
from .options import cluster_options, common_options, output_option, source_options


@click.command("history", context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@cluster_options
@source_options
@output_option("table", "json", "yaml")
@handle_errors
def command() -> int:
    """Not implemented yet."""
    raise OperationFailed("'kubectl gitops history' is not implemented yet")
