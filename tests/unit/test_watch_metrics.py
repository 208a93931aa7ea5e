"""The watch loop's metrics (engine.metrics) and HTTP endpoint (ops.watch_http), the back-off schedule and the
wave-boundary signal mode (engine.interrupt), without a cluster: the endpoint is served for real on 127.0.0.1 and
the exposition is parsed line by line as Prometheus reads it."""

from __future__ import annotations

import itertools
import random
import re
import signal
import urllib.error
import urllib.request

import pytest

from kubectl_gitops.engine import interrupt
from kubectl_gitops.engine.metrics import BUCKETS, FAMILIES, Metrics
from kubectl_gitops.errors import UsageError
from kubectl_gitops.ops.watch import backoff, jittered
from kubectl_gitops.ops.watch_http import CONTENT_TYPE, Endpoint, parse_addr

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
                    r'(-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$')


def parse(text: str) -> dict[str, float]:
    """Every sample of a text exposition (``name{labels}`` -> value); fails on a line Prometheus would reject."""
    out: dict[str, float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if line.startswith("# HELP ") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, f"not a valid sample line: {line!r}"
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert base in types or m.group(1) in types, f"sample without TYPE: {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def test_the_exposition_has_every_family_and_parses() -> None:
    m = Metrics()
    m.inc("kubectl_gitops_syncs_total", app="web", result="succeeded")
    m.inc("kubectl_gitops_syncs_total", app="web", result="succeeded")
    m.inc("kubectl_gitops_syncs_total", app="web", result="failed")
    m.set("kubectl_gitops_objects", 12, app="web")
    m.observe(0.7, app="web")
    m.observe(42.0, app="web")
    m.inc("kubectl_gitops_poll_errors_total", app='we"ird\napp')
    text = m.render()
    for name, (kind, _) in FAMILIES.items():
        assert f"# TYPE {name} {kind}" in text
    samples = parse(text)
    assert samples['kubectl_gitops_syncs_total{app="web",result="succeeded"}'] == 2
    assert samples['kubectl_gitops_syncs_total{app="web",result="failed"}'] == 1
    assert samples['kubectl_gitops_objects{app="web"}'] == 12
    assert samples['kubectl_gitops_sync_duration_seconds_count{app="web"}'] == 2
    assert samples['kubectl_gitops_sync_duration_seconds_sum{app="web"}'] == pytest.approx(42.7)
    assert samples['kubectl_gitops_sync_duration_seconds_bucket{app="web",le="1"}'] == 1
    assert samples['kubectl_gitops_sync_duration_seconds_bucket{app="web",le="+Inf"}'] == 2
    buckets = [samples[f'kubectl_gitops_sync_duration_seconds_bucket{{app="web",le="{b:g}"}}'] for b in BUCKETS]
    assert buckets == sorted(buckets)  # cumulative
    assert 'app="we\\"ird\\napp"' in text  # label values escaped


def test_the_endpoint_serves_metrics_health_and_readiness_on_loopback() -> None:
    m = Metrics()
    m.set("kubectl_gitops_lease_held", 1, app="web")
    state = {"healthy": True, "ready": False}
    ep = Endpoint("127.0.0.1:0", m, healthy=lambda: state["healthy"], ready=lambda: state["ready"])
    try:
        base = f"http://127.0.0.1:{ep.port}"
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
            assert r.headers["Content-Type"] == CONTENT_TYPE
            assert parse(r.read().decode())['kubectl_gitops_lease_held{app="web"}'] == 1
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as r:
            assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{base}/readyz", timeout=5)
        assert e.value.code == 503
        state["ready"], state["healthy"] = True, False
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as r:
            assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
        assert e.value.code == 503
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{base}/anything", timeout=5)
        assert e.value.code == 404
        req = urllib.request.Request(f"{base}/metrics", method="POST", data=b"x")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 501  # read-only: no write method is served
    finally:
        ep.close()


@pytest.mark.parametrize(("text", "addr"), [("9090", ("127.0.0.1", 9090)), (":9090", ("127.0.0.1", 9090)),
                                             ("0.0.0.0:8080", ("0.0.0.0", 8080)), ("[::1]:80", ("::1", 80))])
def test_a_bare_port_binds_loopback(text: str, addr: tuple[str, int]) -> None:
    assert parse_addr(text) == addr


@pytest.mark.parametrize("text", ["http", "localhost:", "99999", "host:-1"])
def test_a_bad_address_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_addr(text)


def test_backoff_doubles_up_to_the_cap_never_below_the_base() -> None:
    rng = random.Random(1)
    waits = [backoff(n, 10.0, 300.0, rng) for n in range(1, 10)]
    assert waits[0] >= 10.0 and waits[1] >= 20.0 and waits[2] >= 40.0
    assert all(w <= 330.0 for w in waits) and waits[-1] >= 300.0
    assert all(b >= a * 0.9 for a, b in itertools.pairwise(waits))
    assert backoff(10_000, 1.0, 60.0, rng) <= 66.0  # no overflow for a long failing streak


def test_pauses_are_jittered_within_ten_percent() -> None:
    rng = random.Random(2)
    values = [jittered(60.0, 0.1, rng) for _ in range(200)]
    assert all(54.0 <= v <= 66.0 for v in values) and len({round(v, 3) for v in values}) > 100


def test_in_wave_mode_only_boundary_checks_stop_the_run() -> None:
    with interrupt.handling(waves=True):
        interrupt.request(signal.SIGTERM)
        interrupt.check("before applying x")  # mid-wave: carries on
        with pytest.raises(interrupt.Interrupted) as e:
            interrupt.check("before Sync wave 2", boundary=True)
        assert e.value.exit_code == 143
        assert interrupt.wait(5.0) is True  # the loop's pause ends at once
    interrupt.reset()
    with interrupt.handling():
        interrupt.request(signal.SIGTERM)
        with pytest.raises(interrupt.Interrupted):
            interrupt.check("before applying x")  # push sync: stops before the next write
    interrupt.reset()
    assert interrupt.wait(0.01) is False
