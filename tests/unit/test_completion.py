"""Shell completion: kubectl's plugin protocol (kubectl_complete-gitops) and the click scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_gitops.cli import completion
from kubectl_gitops.cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "bin"


def run_bin(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BIN / name), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def values(output: str) -> tuple[list[str], str]:
    lines = output.splitlines()
    return [line.split("\t")[0] for line in lines[:-1]], lines[-1]


@pytest.mark.parametrize("args", [["__complete", "sy"], ["sy"]])
def test_kubectl_complete_lists_sync_for_sy(args: list[str]) -> None:
    """kubectl runs `kubectl_complete-gitops sy`; the cobra convention adds `__complete` first: both work."""
    proc = run_bin("kubectl_complete-gitops", *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "sync\tApply the repository in Argo CD phases and waves, waiting for health.\n:4\n"


# words after `kubectl gitops` (the last one under the cursor) -> (candidates, directive line)
CASES = {
    "every command for an empty word": ([""], (list(COMMANDS), ":4")),
    "a command's flag": (["sync", "--dry"], (["--dry-run"], ":4")),
    "the group's flags": (["--v"], (["--version"], ":4")),
    "choices of -o": (["version", "-o", ""], (["table", "json", "yaml"], ":4")),
    "a path argument falls back to the shell's file completion": (["waves", "ex"], ([], ":0")),
    "an unknown command completes nothing": (["frobnicate", ""], ([], ":4")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_kubectl_complete_answers_in_cobra_format(case: str) -> None:
    words, expected = CASES[case]
    proc = run_bin("kubectl_complete-gitops", *words)
    assert values(proc.stdout) == expected


def test_kubectl_complete_for_a_command_executable_prepends_the_command() -> None:
    """With kubectl-gitops-sync on PATH, kubectl asks kubectl_complete-gitops-sync for `kubectl gitops sync --dr`."""
    proc = run_bin("kubectl_complete-gitops-sync", "--dry")
    assert values(proc.stdout) == (["--dry-run"], ":4")


def test_context_flag_completes_the_kubeconfig_contexts(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncontexts:\n- name: prod\n  context: {cluster: p}\n"
                          "- name: staging\n  context: {cluster: s}\n")
    proc = run_bin("kubectl_complete-gitops", "diff", "--context", "", env={"KUBECONFIG": str(kubeconfig)})
    assert values(proc.stdout) == (["prod", "staging"], ":4")
    proc = run_bin("kubectl_complete-gitops", "diff", "--kubeconfig", str(kubeconfig), "--context", "st",
                   env={"KUBECONFIG": "/nonexistent"})
    assert values(proc.stdout) == (["staging"], ":4")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_command_prints_a_script_for_kubectl_gitops(shell: str) -> None:
    proc = run_bin("kubectl-gitops", "completion", shell)
    assert proc.returncode == 0, proc.stderr
    assert "_KUBECTL_GITOPS_COMPLETE" in proc.stdout
    registration = {"bash": "complete -o nosort -F _kubectl_gitops_completion kubectl-gitops",
                    "zsh": "compdef _kubectl_gitops_completion kubectl-gitops",
                    "fish": "complete --no-files --command kubectl-gitops"}[shell]
    assert registration in proc.stdout


def test_completion_rejects_an_unknown_shell() -> None:
    proc = run_bin("kubectl-gitops", "completion", "powershell")
    assert proc.returncode == 2
    assert "powershell" in proc.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash to source the script")
def test_bash_script_completes_through_the_executable(tmp_path: Path) -> None:
    script = tmp_path / "completion.bash"
    script.write_text(run_bin("kubectl-gitops", "completion", "bash").stdout)
    # What bash does on `kubectl-gitops sy<TAB>`: call the function with the words, read COMPREPLY.
    shell = (f'source {script}; COMP_WORDS=(kubectl-gitops sy); COMP_CWORD=1; '
             f'_kubectl_gitops_completion kubectl-gitops; printf "%s\\n" "${{COMPREPLY[@]}}"')
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60, env=env)
    assert proc.stdout.split() == ["sync"], proc.stderr


def test_click_protocol_answers_zsh_with_help_texts() -> None:
    proc = run_bin("kubectl-gitops", env={"_KUBECTL_GITOPS_COMPLETE": "zsh_complete",
                                          "COMP_WORDS": "kubectl-gitops ver", "COMP_CWORD": "1"})
    assert proc.stdout.splitlines() == ["plain", "version", "Print version and build information."]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl (1.26+) on PATH")
def test_kubectl_itself_completes_the_plugin(tmp_path: Path) -> None:
    """The real protocol end to end: `kubectl __complete gitops sy` finds kubectl_complete-gitops on PATH."""
    only = tmp_path / "bin"
    only.mkdir()
    for name in ("kubectl-gitops", "kubectl_complete-gitops"):
        (only / name).symlink_to(BIN / name)
    env = {**os.environ, "PATH": f"{only}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["kubectl", "__complete", "gitops", "sy"], capture_output=True, text=True, timeout=60,
                          env=env)
    assert "sync\tApply the repository" in proc.stdout, proc.stderr
    assert proc.stdout.splitlines()[-1] == ":4"


def test_completion_never_prints_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    def boom(args: list[str], incomplete: str) -> list[object]:
        raise RuntimeError("broken")

    monkeypatch.setattr(completion, "complete", boom)
    assert completion.kubectl_complete_main(["sy"], prog="kubectl_complete-gitops") == 0
    assert capsys.readouterr().out == ":1\n"
