"""kubectl's spellings, tried as a kubectl user types them: -f/-k/-l, Go durations, -o name|wide, --dry-run=...,
--color, --field-manager. Offline commands (waves, sync --dry-run=client) run for real; the rest are checked at
the point where they would reach a cluster: a usage error must come first (exit 2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from source_helpers import ROOT

from kubectl_gitops.cli.main import main
from kubectl_gitops.cli.output import Printer, object_name
from kubectl_gitops.errors import ExitCode, UsageError
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.settings import OutputOptions, parse_duration
from kubectl_gitops.source.labels import parse_selector


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("KUBECTL_GITOPS_PATH", raising=False)


# --- Go durations ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("30", 30.0), ("30s", 30.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h2m3.5s", 3723.5), ("2h45m", 9900.0),
    ("1.5h", 5400.0), ("0", 0.0), ("0s", 0.0), ("250us", 0.00025),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["1d", "m", "", "1m30", "5 m", "-1s", "1s2"])
def test_bad_durations_name_the_flag(text: str) -> None:
    with pytest.raises(UsageError, match=r"--wave-timeout.*Go duration"):
        parse_duration(text, flag="--wave-timeout")


def test_a_go_duration_on_the_command_line_is_accepted_and_a_bad_one_is_exit_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sync", "examples/", "--dry-run=client", "--wave-timeout", "1m30s",
                       "--request-timeout", "500ms", "--lock-timeout", "2m30s", "--allow-dirty")
    assert code == 0, err
    code, _, err = run(capsys, "sync", "examples/", "--dry-run=client", "--wave-timeout", "1d")
    assert code == ExitCode.USAGE
    assert "--wave-timeout" in err and "1m30s" in err


# --- label selectors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "labels", "match"), [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "web"}, True),
    ("app=web", {"app": "db"}, False),
    ("app!=web", {}, True),  # as in Kubernetes: != matches objects without the key
    ("app!=web", {"app": "web"}, False),
    ("env in (prod, staging)", {"env": "staging"}, True),
    ("env notin (prod)", {"env": "prod"}, False),
    ("env notin (prod)", {}, True),
    ("tier", {"tier": ""}, True),
    ("!tier", {"tier": "x"}, False),
    ("!tier", {}, True),
    ("app=web,tier!=cache", {"app": "web", "tier": "db"}, True),
    ("app.kubernetes.io/name=web", {"app.kubernetes.io/name": "web"}, True),
    ("a=", {"a": ""}, True),
])
def test_selector_matches_like_kubernetes(text: str, labels: dict[str, str], match: bool) -> None:
    assert parse_selector(text).matches({"metadata": {"labels": labels}}) is match


@pytest.mark.parametrize("text", ["", "a=b,", "a in ()", "a b", "=x", "a=b=c", "a in (x y)", "a in x", "-a=b",
                                  "a=-b"])
def test_bad_selectors_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="invalid label selector"):
        parse_selector(text)


def table_names(out: str) -> list[str]:
    rows = [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()[1:] if line.strip()]
    return [r[3] for r in rows]


def test_waves_selector_keeps_only_matching_objects(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "waves", "examples/", "-l", "app.kubernetes.io/name=web")
    assert code == 0, err
    assert table_names(out) == ["demo/web-config", "demo/web", "demo/web"]  # not the Namespace, not the hooks
    code, out, _ = run(capsys, "waves", "examples/", "--selector", "app.kubernetes.io/name in (db-migrate,smoke-test)",
                       "-o", "name")
    assert code == 0
    assert out.splitlines() == ["job.batch/db-migrate", "job.batch/smoke-test"]
    code, out, _ = run(capsys, "waves", "examples/", "-l", "!app.kubernetes.io/name", "-o", "name")
    assert out.splitlines() == ["namespace/demo"]


def test_a_bad_selector_is_exit_2_before_anything_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "waves", "examples/", "-l", "app in web")
    assert code == ExitCode.USAGE
    assert "invalid label selector 'app in web'" in err and "parentheses" in err


# --- -f / -k and the folder -----------------------------------------------------------------------------


def test_filename_and_path_and_positional_are_the_same_folder(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = set()
    for args in (["examples/"], ["-f", "examples/"], ["--filename", "examples"], ["--path", "examples/"],
                 ["examples", "-f", "examples/"]):
        code, out, err = run(capsys, "waves", *args, "-o", "name")
        assert code == 0, (args, err)
        outputs.add(out)
    assert len(outputs) == 1 and "deployment.apps/web" in outputs.pop()


def test_two_different_folders_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "waves", "examples/", "-f", "tests/fixtures/kustomize/base")
    assert code == ExitCode.USAGE
    assert "name different folders" in err


def test_filename_stdin_is_refused_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "waves", "-f", "-")
    assert code == ExitCode.USAGE
    assert "stdin is not supported" in err


def test_kustomize_flag_renders_a_kustomization(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "waves", "-k", "tests/fixtures/kustomize/base", "-o", "name")
    assert code == 0, err
    assert "deployment.apps/api" in out.splitlines()


def test_kustomize_flag_on_a_plain_folder_is_invalid_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "waves", "-k", "examples/")
    assert code == ExitCode.INVALID_INPUT
    assert "-k examples: the folder has no kustomization.yaml" in err
    assert out == ""


def test_path_variable_yields_to_the_command_line(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECTL_GITOPS_PATH", "tests/fixtures/kustomize/base")
    code, out, err = run(capsys, "waves", "-f", "examples/", "-o", "name")
    assert code == 0, err
    assert "deployment.apps/web" in out


# --- -o name | wide | yaml --------------------------------------------------------------------------------


def test_object_names_are_kubectls() -> None:
    assert object_name(ResourceKey("apps", "Deployment", "demo", "web")) == "deployment.apps/web"
    assert object_name(ResourceKey("", "ConfigMap", "demo", "cfg")) == "configmap/cfg"
    assert object_name(ResourceKey("", "Namespace", "", "demo")) == "namespace/demo"


def test_waves_wide_shows_where_each_object_comes_from(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "waves", "examples/", "-o", "wide")
    assert code == 0
    assert "examples/hooks/db-migrate.yaml:2" in out


@pytest.mark.parametrize("command", ["sync", "diff", "prune", "waves"])
def test_every_object_command_offers_name_and_wide(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    choices = re.search(r"-o, --output \[([a-z|]+)\]", out)
    assert choices is not None, out
    assert {"name", "wide", "yaml", "json"} <= set(choices.group(1).split("|"))


# --- --dry-run=none|client|server ---------------------------------------------------------------------------


def test_sync_client_dry_run_is_offline(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")  # nothing may be contacted, nothing read
    code, out, err = run(capsys, "sync", "examples/", "--dry-run=client", "--allow-dirty")
    assert code == 0, err
    assert out.startswith("client dry run: nothing was sent to the cluster")
    assert "Deployment" in out
    code, out, err = run(capsys, "sync", "examples/", "--dry-run=client", "--allow-dirty", "-o", "yaml")
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc["dryRunMode"] == "client" and doc["dryRun"] is True
    assert [s["kind"] for s in doc["plan"]][:2] == ["Namespace", "Job"]
    code, out, _ = run(capsys, "sync", "examples/", "--dry-run=client", "--allow-dirty", "-o", "name")
    assert "deployment.apps/web" in out.splitlines()


def test_a_bare_dry_run_before_the_folder_still_reads_the_folder() -> None:
    from kubectl_gitops.cli.main import load

    cmd = load("sync")
    ctx = cmd.make_context("sync", ["--dry-run", "examples/"], resilient_parsing=True)
    assert ctx.params["dry_run"] == "server"
    ctx = cmd.make_context("sync", ["--dry-run=client", "examples/"], resilient_parsing=True)
    assert ctx.params["dry_run"] == "client"
    ctx = cmd.make_context("sync", ["examples/"], resilient_parsing=True)
    assert ctx.params["dry_run"] == "none"
    ctx = load("prune").make_context("prune", ["--dry-run"], resilient_parsing=True)
    assert ctx.params["dry_run"] == "server"


def test_an_unknown_dry_run_value_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sync", "examples/", "--dry-run=maybe")
    assert code == ExitCode.USAGE
    assert "'maybe' is not one of 'none', 'client', 'server'" in err


# --- --color and --field-manager ------------------------------------------------------------------------------


class Pipe:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def test_color_always_colours_a_pipe_and_never_does_not() -> None:
    pipe = Pipe()
    assert Printer(OutputOptions(color=True, color_always=True), out=pipe).style("x", "red") == "\x1b[31mx\x1b[0m"
    assert Printer(OutputOptions(color=True), out=pipe).style("x", "red") == "x"  # auto: not a terminal
    assert Printer(OutputOptions(color=False), out=pipe).style("x", "red") == "x"


def test_color_flag_sets_the_options(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from kubectl_gitops.cli.main import load

    monkeypatch.setenv("NO_COLOR", "1")
    cmd = load("waves")
    for args, expected in ((["--color=always"], (True, True)), (["--color", "never"], (False, False)),
                           ([], (False, False)), (["--color=always", "--no-color"], (False, False))):
        ctx = cmd.make_context("waves", [*args, "examples/"])
        out = ctx.obj.output
        assert (out.color, out.color_always) == expected, args
    code, _, _ = run(capsys, "waves", "examples/", "--color=sometimes")
    assert code == ExitCode.USAGE


def test_field_manager_is_stored_and_checked(capsys: pytest.CaptureFixture[str]) -> None:
    from kubectl_gitops.cli.main import load

    ctx = load("sync").make_context("sync", ["--field-manager", "ci-bot", "examples/"])
    assert ctx.obj.cluster.field_manager == "ci-bot"
    code, _, err = run(capsys, "diff", "examples/", "--field-manager", "")
    assert code == ExitCode.USAGE and "field manager" in err


def test_waves_help_lists_the_kubectl_spellings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "waves", "--help")
    assert code == 0
    for flag in ("-f, --filename", "-k, --kustomize", "-l, --selector", "--color", "--field-manager"):
        assert flag in out, flag


def test_examples_folder_exists() -> None:
    assert (Path(ROOT) / "examples" / "web.yaml").is_file()


# --- --resource GROUP:KIND:[NAMESPACE/]NAME ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "key", "match"), [
    ("apps:Deployment:web", ResourceKey("apps", "Deployment", "demo", "web"), True),
    ("apps:deployment:demo/web", ResourceKey("apps", "Deployment", "demo", "web"), True),
    ("apps:Deployment:other/web", ResourceKey("apps", "Deployment", "demo", "web"), False),
    (":ConfigMap:web-*", ResourceKey("", "ConfigMap", "demo", "web-config"), True),
    (":ConfigMap:*/web-config", ResourceKey("", "ConfigMap", "demo", "web-config"), True),
    ("apps:Deployment:web", ResourceKey("", "Deployment", "demo", "web"), False),  # the group counts
    (":Namespace:demo", ResourceKey("", "Namespace", "", "demo"), True),
])
def test_resource_specs_match_like_argo(text: str, key: ResourceKey, match: bool) -> None:
    from kubectl_gitops.source.resources import parse_resource

    assert parse_resource(text).matches(key) is match


@pytest.mark.parametrize("text", ["Deployment/web", "apps:Deployment", "apps::web", "a:b:c:d", "apps:Deployment:"])
def test_bad_resource_specs(text: str) -> None:
    from kubectl_gitops.source.resources import parse_resource

    with pytest.raises(UsageError, match="invalid --resource"):
        parse_resource(text)


def test_resource_completion_offers_the_rendered_objects() -> None:
    from kubectl_gitops.cli.completion import complete

    values = [i.value for i in complete(["sync", "-f", "examples/", "--resource"], "apps:")]
    assert values == ["apps:Deployment:demo/web"]
    values = [i.value for i in complete(["sync", "-f", "examples/", "--resource"], "")]
    assert ":Namespace:demo" in values and "batch:Job:demo/db-migrate" in values


# --- every --help shows examples; completion ----------------------------------------------------------------


def _commands() -> list[tuple[str, object]]:
    import click

    from kubectl_gitops.cli.main import COMMANDS, load

    found: list[tuple[str, object]] = []

    def walk(cmd: click.Command, path: str) -> None:
        if cmd.hidden:
            return
        found.append((path, cmd))
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd, info_name=path)
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None:
                    walk(sub, f"{path} {name}")

    for name in COMMANDS:
        walk(load(name), name)
    return found


def test_every_command_help_shows_examples() -> None:
    import click

    missing = []
    for path, cmd in _commands():
        assert isinstance(cmd, click.Command)
        text = cmd.get_help(click.Context(cmd, info_name=f"kubectl gitops {path}"))
        if "Examples:" not in text:
            missing.append(path)
    assert not missing, f"--help without examples: {missing}"


def test_the_new_commands_complete() -> None:
    from kubectl_gitops.cli.completion import complete

    names = [i.value for i in complete([], "")]
    for cmd in ("rollback", "manifests", "delete"):
        assert cmd in names
    flags = [i.value for i in complete(["sync"], "--")]
    for flag in ("--resource", "--with-hooks", "--diff-changes", "--selector", "--filename", "--kustomize",
                 "--field-manager", "--color", "--dry-run"):
        assert flag in flags, flag
    assert "--show-secrets" in [i.value for i in complete(["manifests"], "--")]
    assert "--ignore-not-found" in [i.value for i in complete(["delete"], "--")]


def test_rollback_takes_syncs_options_but_not_its_content_or_pull_mode(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rollback", "--help")
    assert code == 0
    assert "REVISION|COMMIT" in out and "--prune" in out and "--diff-changes" in out and "--resource" in out
    for flag in ("--ref", "--allow-dirty", "--watch", "--once", "--self-heal"):
        assert f"{flag} " not in out, flag
    code, _, err = run(capsys, "rollback", "3", "--watch")
    assert code == ExitCode.USAGE and "No such option '--watch'" in err
