"""``WatchGroup``: several apps in one ``sync --watch`` process — one ``Watcher`` per app, run when each is due.

Each app keeps everything a single-app watch has — its own Lease (so two such processes, or two agent replicas,
split the apps between them: each app is reconciled by exactly one holder at a time), its own poll, back-off,
drift checks and status. What the group shares: one process (one interpreter, the git cache), one connection to
the cluster (``Cluster``; each Watcher's own syncs still open theirs, as a push sync does), one ``Metrics``
(every series is labelled by ``app``) and one status endpoint.

The scheduler is hand-written (a heap of due times and a ``ThreadPoolExecutor``): an iteration of an app runs in
the pool when its pause (``Watcher.iterate``'s return value) has passed, at most ``--app-concurrency`` at once. A
long sync of one app holds one worker, never the others' polls (unless every worker is busy with a long sync);
an app whose iteration raises is logged, backed off like any other failure and never stops the others.
``--once``: one iteration of every app, then stop. SIGTERM/SIGINT: no new iteration starts, running ones finish
their current wave (``engine.interrupt``), every Lease is released, and ``run`` returns.
"""

from __future__ import annotations

import heapq
import os
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine import interrupt
from kubectl_gitops.errors import UsageError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.ops.watch import Watcher, backoff
from kubectl_gitops.settings import Settings


def app_settings(settings: Settings, paths: Sequence[str]) -> list[Settings]:
    """The settings of each app of ``sync --watch PATH PATH...``: with ``--repo``, each PATH is a folder inside
    it; without, each PATH is a local folder read as ``--repo PATH`` (its repository is found upward, so the apps
    may live in different repositories). Each app's name is derived as a sync of that folder derives it (the
    repository's remote or folder, and the path): ``--app`` names one app and is refused here."""
    if settings.app.name:
        raise UsageError(f"--app names one app, but {len(paths)} PATHs were given: each app's name is derived from "
                         "its repository and path (see `kubectl gitops status`), or run one process per --app")
    seen: dict[str, str] = {}
    out = []
    for path in paths:
        if settings.source.repo:
            key, source = os.path.normpath(path), replace(settings.source, path=path)
        else:
            if not os.path.isdir(path):
                raise UsageError(f"PATH {path!r} is not a folder",
                                 hint="with several PATHs each is a local folder inside a git repository (or pass "
                                      "--repo URL and folders inside it)")
            key, source = os.path.realpath(path), replace(settings.source, repo=os.path.abspath(path), path=".")
        if key in seen:
            raise UsageError(f"PATH {path!r} is given twice ({seen[key]!r}): one app per folder")
        seen[key] = path
        out.append(replace(settings, source=source))
    return out


def shared_cluster(settings: Settings, concurrency: int = 2) -> Cluster:
    """One connection to the cluster for every app's poll, Lease and status (each sync opens its own, as push)."""
    return Cluster.connect(settings.cluster, pool_size=4 * max(1, concurrency))


class WatchGroup:
    """Runs the ``watchers`` (one per app) on a pool of ``concurrency`` threads until ``--once`` is done or a
    signal asks to stop."""

    def __init__(self, watchers: Sequence[Watcher], *, concurrency: int = 2, on_event: EventSink = discard,
                 monotonic: Callable[[], float] = time.monotonic, rng: random.Random | None = None):
        self.watchers = list(watchers)
        self.concurrency = max(1, concurrency)
        self.on_event = on_event
        self.monotonic = monotonic
        self.rng = rng or random.Random()
        self.crashes = [0] * len(self.watchers)  # unexpected errors in a row, per app (backed off)

    def step(self, i: int) -> float:
        """One iteration of app ``i``; returns its pause. An unexpected error is reported and backed off, never
        raised: one failing app never blocks the others."""
        w = self.watchers[i]
        try:
            delay = w.iterate()
        except interrupt.Interrupted:
            raise
        except Exception as e:
            self.crashes[i] += 1
            message = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
            w.state.last_error = message
            w.metrics.inc("kubectl_gitops_poll_errors_total", app=w._name())
            delay = backoff(self.crashes[i], w.opts.interval, w.opts.max_backoff, self.rng)
            self.on_event(Event("watch.error", f"app {w._name()}: {message}; trying again in {delay:.0f}s",
                                {"app": w._name(), "retryIn": round(delay, 1)}))
            return delay
        self.crashes[i] = 0
        return delay

    def run(self, *, once: bool = False) -> None:
        """Schedule every app (all due at once at the start) until done; every Lease is released on return."""
        due: list[tuple[float, int]] = [(self.monotonic(), i) for i in range(len(self.watchers))]
        heapq.heapify(due)
        running: dict[Future[float], int] = {}
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="watch")
        try:
            while True:
                stopping = interrupt.requested() is not None
                now = self.monotonic()
                while not stopping and due and due[0][0] <= now and len(running) < self.concurrency:
                    _, i = heapq.heappop(due)
                    running[pool.submit(self.step, i)] = i
                if not running and (stopping or not due):  # --once: every app ran once
                    break
                pause = max(0.0, due[0][0] - now) if due and not stopping else 3600.0
                if running:
                    done, _ = wait(list(running), timeout=min(pause, 1.0), return_when=FIRST_COMPLETED)
                    for fut in done:
                        i = running.pop(fut)
                        try:
                            delay = fut.result()
                        except interrupt.Interrupted:
                            continue  # stopped at a wave boundary (recorded as interrupted)
                        if not once:
                            heapq.heappush(due, (self.monotonic() + delay, i))
                elif interrupt.wait(min(pause, 3600.0)):
                    continue
        finally:
            pool.shutdown(wait=True)
            for w in self.watchers:
                w.close()


__all__ = ["WatchGroup", "app_settings", "shared_cluster"]
