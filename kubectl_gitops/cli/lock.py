"""``--lock-timeout`` and the Lease settings shared by ``sync`` and ``prune`` (kubectl_gitops/lease.py).

``KUBECTL_GITOPS_LEASE_SECONDS`` (a number of seconds or a duration, default 30s) sets the Lease's duration:
how long after its holder's last renewal a Lease counts as abandoned. Tests set it short; a shorter Lease
is taken over sooner after a crash but needs a clock agreement and renewals within a third of it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from kubectl_gitops.errors import UsageError
from kubectl_gitops.settings import parse_duration

if TYPE_CHECKING:
    from kubectl_gitops.engine.lease import LeaseOptions

LEASE_SECONDS_ENV = "KUBECTL_GITOPS_LEASE_SECONDS"

lock_option = click.option(
    "--lock-timeout", default="0s", show_default=True, metavar="DURATION",
    help="How long to wait when another sync or prune of the app holds its Lease (0: refuse at once, exit 6).")


def lease_options(lock_timeout: str) -> LeaseOptions:
    from kubectl_gitops.engine.lease import LeaseOptions
    from kubectl_gitops.engine.lease_holder import DEFAULT_DURATION

    try:
        wait = parse_duration(lock_timeout, flag="--lock-timeout")
    except UsageError as e:
        raise click.BadParameter(str(e), param_hint="--lock-timeout") from e
    text = os.environ.get(LEASE_SECONDS_ENV, "").strip()
    duration = DEFAULT_DURATION
    if text:
        duration = parse_duration(text if not text.isdigit() else f"{text}s", flag=LEASE_SECONDS_ENV)
        if duration < 3:
            raise UsageError(f"{LEASE_SECONDS_ENV}={text}: a Lease must last at least 3s",
                             hint="unset it (default 30s) or give a longer duration")
    return LeaseOptions(duration=duration, wait=wait, poll=min(2.0, max(0.5, duration / 6)))
