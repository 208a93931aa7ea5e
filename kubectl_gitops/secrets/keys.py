"""Finding age identities the way sops does, and saying where we looked when none fits.

Sources, all of them read and combined (like sops 3.13):

1. ``SOPS_AGE_KEY``: one or more ``AGE-SECRET-KEY-1…`` separated by whitespace or newlines;
2. ``SOPS_AGE_KEY_FILE``: a keys.txt file;
3. ``SOPS_AGE_KEY_CMD``: a command (split like a shell would, not run by one) whose output is a keys
   file; it gets ``SOPS_AGE_RECIPIENT`` set to the public key sops is trying, and is run once per
   recipient;
4. the default keys file ``<user config dir>/sops/age/keys.txt``: ``$XDG_CONFIG_HOME`` or
   ``~/.config`` on Linux, ``~/Library/Application Support`` on macOS (``$XDG_CONFIG_HOME`` first),
   ``%AppData%`` on Windows.

Lines starting with ``#`` and blank lines are skipped. SSH keys, plugins and post-quantum keys are
not supported. Secret keys are registered with ``redact`` as soon as they are read.

Environment: the ``SOPS_AGE_*`` variables and ``XDG_CONFIG_HOME`` are read here (``env`` defaults to the
process environment), an exception to "only settings reads the environment": they are sops' rules, which this
module mirrors, not our options (see kubectl_gitops.settings).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kubectl_gitops.redact import register
from kubectl_gitops.secrets.agekeys import AgeError, Identity, parse_identities

KEY_ENV = "SOPS_AGE_KEY"
KEY_FILE_ENV = "SOPS_AGE_KEY_FILE"
KEY_CMD_ENV = "SOPS_AGE_KEY_CMD"
RECIPIENT_ENV = "SOPS_AGE_RECIPIENT"
KEY_CMD_TIMEOUT = 60.0


def user_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """Go's ``os.UserConfigDir`` (with sops' XDG_CONFIG_HOME override on macOS)."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "win32":
        return Path(env.get("AppData") or env.get("APPDATA") or home / "AppData" / "Roaming")
    xdg = env.get("XDG_CONFIG_HOME")
    if xdg:
        return Path(xdg)
    if sys.platform == "darwin":
        return home / "Library" / "Application Support"
    return home / ".config"


def default_key_file(env: Mapping[str, str] | None = None) -> Path:
    """Where sops looks for age keys without configuration: ``<config dir>/sops/age/keys.txt``."""
    return user_config_dir(env) / "sops" / "age" / "keys.txt"


def standard_key_file(env: Mapping[str, str] | None = None) -> Path:
    """Where a new key goes: ``$SOPS_AGE_KEY_FILE`` if set, else the default keys file."""
    env = os.environ if env is None else env
    return Path(env[KEY_FILE_ENV]) if env.get(KEY_FILE_ENV) else default_key_file(env)


@dataclass
class Keyring:
    """Identities from every source, loaded lazily; ``describe()`` lists the sources for errors."""

    # the environment holds SOPS_AGE_KEY (and any token the user exported): never in repr
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)
    _static: list[Identity] | None = None
    _by_cmd: dict[str, list[Identity]] = field(default_factory=dict)
    _notes: dict[str, str] = field(default_factory=dict)

    def _load_static(self) -> list[Identity]:
        if self._static is not None:
            return self._static
        ids: list[Identity] = []
        if KEY_ENV in self.env:
            ids += self._parse(KEY_ENV, self.env[KEY_ENV], several_per_line=True)
        else:
            self._notes[KEY_ENV] = "not set"
        if KEY_FILE_ENV in self.env:
            path = Path(self.env[KEY_FILE_ENV]).expanduser()
            ids += self._read_file(f"{KEY_FILE_ENV}={path}", path)
        else:
            self._notes[KEY_FILE_ENV] = "not set"
        if KEY_CMD_ENV not in self.env:
            self._notes[KEY_CMD_ENV] = "not set"
        default = default_key_file(self.env)
        ids += self._read_file(str(default), default, missing_ok=True)
        self._static = ids
        return ids

    def _parse(self, source: str, text: str, *, several_per_line: bool = False) -> list[Identity]:
        try:
            ids = parse_identities(text, several_per_line=several_per_line)
        except AgeError as e:
            self._notes[source] = f"unreadable ({e})"
            return []
        for i in ids:
            register(i.secret_string())
        self._notes[source] = f"{len(ids)} key{'s' if len(ids) != 1 else ''}"
        return ids

    def _read_file(self, source: str, path: Path, *, missing_ok: bool = False) -> list[Identity]:
        try:
            text = path.read_text()
        except FileNotFoundError:
            self._notes[source] = "not found"
            return []
        except OSError as e:
            self._notes[source] = f"cannot read ({e.strerror})"
            return []
        return self._parse(source, text)

    def _run_cmd(self, recipient: str) -> list[Identity]:
        if recipient in self._by_cmd:
            return self._by_cmd[recipient]
        cmd = self.env[KEY_CMD_ENV]
        source = KEY_CMD_ENV
        ids: list[Identity] = []
        try:
            argv = shlex.split(cmd)
            if not argv:
                raise ValueError("empty command")
            done = subprocess.run(argv, capture_output=True, text=True, timeout=KEY_CMD_TIMEOUT, check=False,
                                  env={**self.env, RECIPIENT_ENV: recipient}, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                self._notes[source] = f"command failed with exit code {done.returncode}"
            else:
                ids = self._parse(source, done.stdout)
        except (OSError, ValueError) as e:
            self._notes[source] = f"cannot run ({e})"
        except subprocess.TimeoutExpired:
            self._notes[source] = f"timed out after {KEY_CMD_TIMEOUT:.0f}s"
        self._by_cmd[recipient] = ids
        return ids

    def identities_for(self, recipient: str) -> list[Identity]:
        ids = list(self._load_static())
        if KEY_CMD_ENV in self.env:
            ids += self._run_cmd(recipient)
        return ids

    def all_identities(self) -> list[Identity]:
        return list(self._load_static())

    def describe(self) -> str:
        """``SOPS_AGE_KEY (not set), SOPS_AGE_KEY_FILE=/k.txt (1 key), …``: what was tried."""
        self._load_static()
        order = [KEY_ENV, KEY_FILE_ENV, KEY_CMD_ENV]
        parts = []
        for name in order:
            for source, note in self._notes.items():
                if source == name or source.startswith(name + "="):
                    parts.append(f"{source} ({note})")
        default = str(default_key_file(self.env))
        parts.append(f"{default} ({self._notes.get(default, 'not read')})")
        return ", ".join(parts)
