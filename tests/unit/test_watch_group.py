"""``WatchGroup`` (ops/watch_group.py): several apps in one ``sync --watch`` process.

The scheduler is driven with stand-in watchers (the real ``Watcher`` is exercised end to end in
tests/e2e/test_watch.py): what is asserted is which app ran how often and in which order, never how fast.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubectl_gitops.engine import interrupt
from kubectl_gitops.engine.metrics import Metrics
from kubectl_gitops.errors import UsageError
from kubectl_gitops.ops.watch import WatchOptions, WatchState
from kubectl_gitops.ops.watch_group import WatchGroup, app_settings
from kubectl_gitops.settings import Settings


class Stub:
    """What WatchGroup uses of a Watcher: iterate(), close(), state, opts, metrics, _name()."""

    def __init__(self, name: str, step: Callable[[Stub], float]):
        self.name = name
        self.step = step
        self.calls = 0
        self.closed = False
        self.state = WatchState()
        self.opts = WatchOptions(interval=0.001, max_backoff=0.002)
        self.metrics = Metrics()

    def iterate(self) -> float:
        self.calls += 1
        return self.step(self)

    def close(self) -> None:
        self.closed = True

    def _name(self) -> str:
        return self.name


@pytest.fixture(autouse=True)
def _clean_interrupt() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


def run_group(stubs: list[Stub], *, once: bool = False, **kw: Any) -> list[Any]:
    events: list[Any] = []
    group = WatchGroup(stubs, on_event=events.append, **kw)  # type: ignore[arg-type]
    done = threading.Event()

    def target() -> None:
        group.run(once=once)
        done.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(60)
    assert done.is_set(), "the group did not stop (a bound, not a speed test)"
    return events


def stop_after(n: int, delay: float = 0.0) -> Callable[[Stub], float]:
    def step(s: Stub) -> float:
        if s.calls >= n:
            interrupt.request()
        return delay

    return step


def test_each_app_runs_when_its_pause_is_over_and_every_app_is_closed() -> None:
    busy = Stub("busy", stop_after(5, delay=0.0))
    idle = Stub("idle", lambda s: 3600.0)  # due again in an hour
    run_group([busy, idle], concurrency=1)
    assert busy.calls == 5 and idle.calls == 1
    assert busy.closed and idle.closed  # every Lease released on the way out


def test_a_failing_app_is_reported_and_backed_off_and_never_blocks_another() -> None:
    def boom(s: Stub) -> float:
        raise RuntimeError("broken app")

    broken = Stub("broken", boom)
    fine = Stub("fine", stop_after(4, delay=0.001))
    events = run_group([broken, fine], concurrency=1)
    assert fine.calls == 4
    assert broken.calls >= 1 and broken.closed and fine.closed
    errors = [e for e in events if e.type == "watch.error"]
    assert errors and errors[0].data["app"] == "broken" and "broken app" in errors[0].message
    assert broken.state.last_error == "RuntimeError: broken app"
    assert broken.metrics.get("kubectl_gitops_poll_errors_total", app="broken") >= 1


def test_a_long_sync_of_one_app_does_not_stall_the_polls_of_another() -> None:
    others_polled = threading.Event()

    def long_sync(s: Stub) -> float:
        finished = others_polled.wait(30)  # the "sync" lasts until the other app polled three times
        s.state.last_error = "" if finished else "stalled"
        interrupt.request()
        return 0.0

    def poll(s: Stub) -> float:
        if s.calls >= 3:
            others_polled.set()
        return 0.001

    slow, quick = Stub("slow", long_sync), Stub("quick", poll)
    run_group([slow, quick], concurrency=2)
    assert slow.state.last_error == "", "the other app's polls waited for the long sync"
    assert quick.calls >= 3


def test_once_runs_one_iteration_of_every_app() -> None:
    stubs = [Stub(f"app{i}", lambda s: 0.0) for i in range(5)]
    run_group(stubs, once=True, concurrency=2)
    assert [s.calls for s in stubs] == [1] * 5 and all(s.closed for s in stubs)


def test_a_signal_starts_no_new_iteration_but_lets_the_running_one_finish() -> None:
    started = threading.Event()

    def running(s: Stub) -> float:
        started.set()
        interrupt.request()  # SIGTERM arrives mid-iteration
        return 0.0

    first = Stub("first", running)
    later = Stub("later", lambda s: 0.0)
    run_group([first, later], concurrency=1)
    assert started.is_set() and first.calls == 1 and later.calls == 0
    assert first.closed and later.closed


def repo(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    (root / "deploy").mkdir(parents=True)
    (root / "deploy" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env)
    return root / "deploy"


def test_each_path_is_its_own_app_read_as_a_sync_of_that_folder(tmp_path: Path) -> None:
    from kubectl_gitops.ops.app import app_name
    from kubectl_gitops.source.repo import open_source

    a, b = repo(tmp_path, "one"), repo(tmp_path, "two")
    settings = app_settings(Settings(), [str(a), str(b)])
    assert [s.source.repo for s in settings] == [str(a), str(b)]
    names = []
    for s in settings:
        with open_source(s.source, committed_only=True) as checkout:
            names.append(app_name(s, checkout))
    assert names[0].startswith("one-") and names[0].endswith("-deploy") and names[1].startswith("two-")


def test_app_with_several_paths_a_path_twice_and_a_missing_folder_are_refused(tmp_path: Path) -> None:
    from dataclasses import replace

    a = repo(tmp_path, "one")
    s = Settings()
    with pytest.raises(UsageError, match="--app names one app"):
        app_settings(replace(s, app=replace(s.app, name="web")), [str(a), str(tmp_path)])
    with pytest.raises(UsageError, match="given twice"):
        app_settings(s, [str(a), str(a) + "/"])
    with pytest.raises(UsageError, match="is not a folder"):
        app_settings(s, [str(a), str(tmp_path / "missing")])
    remote = replace(s, source=replace(s.source, repo="https://git.example/ops.git"))
    assert [x.source.path for x in app_settings(remote, ["apps/web", "apps/db"])] == ["apps/web", "apps/db"]


def test_several_paths_without_watch_are_a_usage_error(tmp_path: Path) -> None:
    from kubectl_gitops.cli.sync import command

    a, b = repo(tmp_path, "one"), repo(tmp_path, "two")
    result = CliRunner().invoke(command, [str(a), str(b)], standalone_mode=False)
    assert result.return_value == 2, result.output
    assert "several PATHs are for --watch or --once" in result.output
