"""The watch loop's metrics, rendered in the Prometheus text exposition format (version 0.0.4).

Hand-written rather than ``prometheus_client``: the loop needs six metric families with one or two labels, the
text format is small and stable, and the HTTP server must serve ``/healthz``, ``/readyz`` and the status page
beside ``/metrics`` anyway — a dependency (and its start-up cost in every CLI run) would buy little. Thread-safe
(the loop writes, the HTTP thread reads). ``tests/unit/test_watch_metrics.py`` parses the output.

    kubectl_gitops_syncs_total{app,result}              counter   succeeded | failed | interrupted
    kubectl_gitops_sync_duration_seconds{app}           histogram of syncs that wrote
    kubectl_gitops_drift_detected_total{app}            counter   drift checks that found differences
    kubectl_gitops_self_heals_total{app}                counter
    kubectl_gitops_last_success_timestamp_seconds{app}  gauge     Unix time of the last successful sync
    kubectl_gitops_objects{app}                         gauge     desired objects of the app
    kubectl_gitops_poll_errors_total{app}               counter   failed reads of the source
    kubectl_gitops_polls_total{app}                     counter
    kubectl_gitops_lease_held{app}                      gauge     1 while this process holds the app
    kubectl_gitops_suspended{app}                       gauge     1 while the app is suspended
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable

BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

FAMILIES: dict[str, tuple[str, str]] = {  # name -> (type, help)
    "kubectl_gitops_syncs_total": ("counter", "Syncs run by the watch loop, by result."),
    "kubectl_gitops_sync_duration_seconds": ("histogram", "Duration of syncs run by the watch loop."),
    "kubectl_gitops_drift_detected_total": ("counter", "Drift checks that found objects different from Git."),
    "kubectl_gitops_self_heals_total": ("counter", "Syncs that reverted drift (--self-heal)."),
    "kubectl_gitops_last_success_timestamp_seconds": ("gauge", "Unix time of the last successful sync."),
    "kubectl_gitops_objects": ("gauge", "Desired objects of the app at the last sync or drift check."),
    "kubectl_gitops_poll_errors_total": ("counter", "Polls of the source that failed."),
    "kubectl_gitops_polls_total": ("counter", "Polls of the source."),
    "kubectl_gitops_lease_held": ("gauge", "1 while this process holds the app's Lease."),
    "kubectl_gitops_suspended": ("gauge", "1 while the app is suspended (kubectl gitops suspend)."),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _num(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if v != int(v) else str(int(v))


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._hist: dict[tuple[tuple[str, str], ...], list[float]] = {}  # labels -> bucket counts + [sum, count]

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] = value

    def observe(self, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            h = self._hist.setdefault(key, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    h[i] += 1
            h[-2] += seconds
            h[-1] += 1

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0.0)

    def render(self) -> str:
        """The text exposition format: every family with HELP and TYPE, samples sorted."""
        with self._lock:
            values = dict(self._values)
            hist = {k: list(v) for k, v in self._hist.items()}
        out: list[str] = []
        for name, (kind, text) in FAMILIES.items():
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")
            if kind == "histogram":
                for labels, h in sorted(hist.items()):
                    for i, bound in enumerate(BUCKETS):
                        out.append(f"{name}_bucket{_labels([*labels, ('le', _num(bound))])} {_num(h[i])}")
                    out.append(f"{name}_bucket{_labels([*labels, ('le', '+Inf')])} {_num(h[-1])}")
                    out.append(f"{name}_sum{_labels(labels)} {_num(h[-2])}")
                    out.append(f"{name}_count{_labels(labels)} {_num(h[-1])}")
                continue
            for (n, labels), v in sorted(values.items()):
                if n == name:
                    out.append(f"{name}{_labels(labels)} {_num(v)}")
        return "\n".join(out) + "\n"


__all__ = ["BUCKETS", "FAMILIES", "Metrics"]
