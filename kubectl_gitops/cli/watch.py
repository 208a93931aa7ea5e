"""`kubectl gitops sync --watch`: the flags of pull mode, and the loop's output (human lines or JSON lines)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kubectl_gitops.cli.output import Printer
from kubectl_gitops.events import Event
from kubectl_gitops.settings import parse_duration

F = TypeVar("F", bound=Callable[..., Any])
META = "kubectl_gitops.watch"


def _store(name: str, duration: bool = False) -> Callable[..., Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if duration and value is not None:
            try:
                value = parse_duration(value, flag=f"--{name.replace('_', '-')}")
            except Exception as e:
                raise click.BadParameter(str(e)) from e
        ctx.meta.setdefault(META, {})[name] = value
        return value

    return callback


def watch_options(f: F) -> F:
    """The pull-mode flags of `sync`; their values are kept in the click context (``watch_settings``)."""
    opts = [
        click.option("--watch", is_flag=True, expose_value=False, callback=_store("watch"),
                     help="Pull mode: keep syncing — poll the source every --interval and sync when the commit "
                          "moves (see docs/pull-mode.md)."),
        click.option("--once", is_flag=True, expose_value=False, callback=_store("once"),
                     help="One iteration of --watch (poll, sync if needed, drift check), then exit: for a CronJob."),
        click.option("--interval", default="1m", show_default=True, expose_value=False,
                     callback=_store("interval", True), help="--watch: how often to poll the source (jittered "
                                                             "±10%%; Go durations: 30s, 1m30s)."),
        click.option("--drift-interval", default="5m", show_default=True, expose_value=False,
                     callback=_store("drift_interval", True),
                     help="--watch: how often to compare the cluster with Git (the cheap path of diff); 0: never."),
        click.option("--self-heal", is_flag=True, expose_value=False, callback=_store("self_heal"),
                     help="--watch: sync when drift is found (without it drift is only reported: status, Event)."),
        click.option("--max-backoff", default="10m", show_default=True, expose_value=False,
                     callback=_store("max_backoff", True),
                     help="--watch: the longest pause after failures (the back-off doubles from --interval)."),
        click.option("--metrics-addr", default=None, expose_value=False, callback=_store("metrics_addr"),
                     metavar="[HOST:]PORT",
                     help="--watch: serve a status page (/), /metrics (Prometheus), /healthz and /readyz; a bare "
                          "PORT binds 127.0.0.1. Default: off."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def watch_settings() -> dict[str, Any]:
    return dict(click.get_current_context().meta.get(META) or {})


class WatchLog:
    """The loop's output: one JSON object per event (``-o json``) or human lines on stderr."""

    QUIET = ("apply", "health", "wave.start", "wave.done", "source", "lease", "sync.start", "sync.done",
             "inventory", "record", "watch.commit", "watch.drift-check", "k8s.event")

    def __init__(self, p: Printer, *, json_lines: bool, name_apps: bool = False):
        self.p = p
        self.json_lines = json_lines
        self.name_apps = name_apps  # several apps in one process: human lines start with [app]

    def __call__(self, ev: Event) -> None:
        if self.json_lines:
            self.p.json_line(ev.to_json())
            return
        app = ev.data.get("app") if self.name_apps and isinstance(ev.data, dict) else None
        if app and not ev.message.startswith(f"[{app}]"):
            ev = Event(ev.type, f"[{app}] {ev.message}", ev.data)
        if ev.type == "warning":
            self.p.warn(ev.message)
        elif ev.type in self.QUIET:
            self.p.debug(f"{ev.type}: {ev.message}")
        elif ev.type.startswith("watch.") or ev.type in ("lease.wait", "prune.start"):
            self.p.info(f"{ev.type.removeprefix('watch.')}: {ev.message}")
        else:
            self.p.debug(f"{ev.type}: {ev.message}")


def run_watch(settings: Any, req: Any, p: Printer, values: dict[str, Any], paths: tuple[str, ...] = ()) -> int:
    """Run the loop with its endpoint; exit 0 when it stops (``--once`` done, or SIGTERM after the current wave).
    Several ``paths``: one app each, all in this process (``ops/watch_group.py``)."""
    import time

    from kubectl_gitops.ops.watch import Watcher, WatchOptions

    opts = WatchOptions(interval=values.get("interval") or 60.0, drift_interval=values.get("drift_interval") or 0.0,
                        self_heal=bool(values.get("self_heal")), once=bool(values.get("once")),
                        max_backoff=values.get("max_backoff") or 600.0)
    log = WatchLog(p, json_lines=settings.output.format == "json", name_apps=len(paths) > 1)
    cluster = None
    if len(paths) > 1:
        from kubectl_gitops.ops.watch_group import app_settings, shared_cluster

        cluster = shared_cluster(settings)
        watchers = [Watcher(s, req, opts, on_event=log, cluster=cluster) for s in app_settings(settings, paths)]
        metrics = watchers[0].metrics
        for w in watchers[1:]:
            w.metrics = metrics  # one /metrics: every series is labelled by app
    else:
        watchers = [Watcher(settings, req, opts, on_event=log)]
    endpoint = None
    if values.get("metrics_addr"):
        from kubectl_gitops.ops.watch_http import Endpoint

        def healthy() -> bool:
            limit = 3 * opts.interval + 2 * opts.max_backoff + (req.config.timeout or 3600)
            return all(time.monotonic() - w.state.last_loop < limit for w in watchers)

        from kubectl_gitops.cli.watch_page import Page

        endpoint = Endpoint(values["metrics_addr"], watchers[0].metrics, healthy=healthy,
                            ready=lambda: all(w.state.ready for w in watchers), page=Page(watchers))
        log(Event("watch.metrics", f"serving / (status page), /metrics, /healthz, /readyz on "
                                   f"http://{endpoint.host}:{endpoint.port}",
                  {"address": f"{endpoint.host}:{endpoint.port}"}))
    try:
        if len(watchers) == 1:
            watchers[0].run()
        else:
            from kubectl_gitops.ops.watch_group import WatchGroup

            log(Event("watch.group", f"watching {len(watchers)} apps in one process, {settings.tree.app_concurrency} "
                                     "at once", {"apps": len(watchers), "concurrency": settings.tree.app_concurrency}))
            WatchGroup(watchers, concurrency=settings.tree.app_concurrency, on_event=log).run(once=opts.once)
    finally:
        if endpoint is not None:
            endpoint.close()
        if cluster is not None:
            cluster.close()
    failed = False
    for w in watchers:
        state = w.state
        log(Event("watch.stop", f"stopped after {state.syncs} sync(s)" + (" (signal)" if _signalled() else ""),
                  {"app": state.app.name if state.app else None, "syncs": state.syncs, "synced": state.synced,
                   "leading": state.leading}))
        failed = failed or bool(state.poll_failures or (state.failed_commit is not None
                                                       and state.failed_commit == state.commit))
    if opts.once and failed:
        return 4  # --once in a CronJob: a failed sync (or source, or cluster) fails the Job
    return 0


def _signalled() -> bool:
    from kubectl_gitops.engine import interrupt

    return interrupt.requested() is not None


@contextlib.contextmanager
def wave_signals() -> Any:
    """SIGTERM/SIGINT: finish the current wave, release the Lease, exit 0; SIGHUP or a second signal: at once."""
    from kubectl_gitops.engine import interrupt

    def notice(text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(2, f"{text}\n".encode())

    with interrupt.handling(notice, waves=True):
        yield


__all__ = ["WatchLog", "run_watch", "watch_options", "watch_settings", "wave_signals"]
