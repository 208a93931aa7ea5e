"""Errors the core translates into ours keep their cause (``raise ... from err``): one message for the user,
the whole chain with -v; ``from None`` only where the cause would quote a secret."""

from __future__ import annotations

import binascii
from pathlib import Path

import pytest

from kubectl_gitops.cli.main import main
from kubectl_gitops.cluster import kubeconfig
from kubectl_gitops.errors import InvalidInputError, SecretsError
from kubectl_gitops.secrets import modifiers, sopsconfig

KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1", certificate-authority-data: "abcde"}}]
users: [{name: u, user: {token: t0ken}}]
"""


@pytest.fixture
def bad_kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return path


def test_translated_error_carries_its_cause(bad_kubeconfig: Path) -> None:
    with pytest.raises(InvalidInputError, match="certificate-authority-data is not base64") as info:
        kubeconfig.resolve(str(bad_kubeconfig))
    assert isinstance(info.value.__cause__, binascii.Error)


def test_file_errors_carry_the_os_error(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match="cannot read") as info:
        sopsconfig.load_config(tmp_path / "missing.yaml")
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_causes_quoting_secrets_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("users: [{name: u, user: {token: s3cr3t-token}}]\n  bad: [\n")
    with pytest.raises(InvalidInputError, match="not valid YAML") as info:
        kubeconfig.resolve(str(path))
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(modifiers.ModifierError) as m:
        modifiers.MODIFIERS["yamlParse"]([], "a: [s3cr3t")
    assert m.value.__cause__ is None and m.value.__suppress_context__


@pytest.mark.parametrize("verbose", [False, True])
def test_cli_shows_one_message_and_the_chain_only_with_v(
    verbose: bool, bad_kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["diff", *(["-v"] if verbose else []), "--kubeconfig", str(bad_kubeconfig)])
    err = capsys.readouterr().err
    assert code == 3
    assert "error: cannot use kubeconfig" in err
    assert "t0ken" not in err
    if verbose:
        assert "binascii.Error" in err
        assert "The above exception was the direct cause of the following exception" in err
        assert "Traceback" in err
    else:
        assert "Traceback" not in err
        assert "binascii" not in err
        assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
