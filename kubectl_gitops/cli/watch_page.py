"""The watch loop's status page (``/`` on ``--metrics-addr``): one small read-only HTML page, refreshing itself.

Every app the loop watches with its commit, sync status, health, last sync, drift and last failure, and its waves as
a picture: the ``waves --graph`` dot rendered to SVG by graphviz's ``dot`` when it is on PATH (once per commit),
else the ``waves`` table as text. No JavaScript, no form, no link that changes anything; every value is
HTML-escaped and the whole page goes through ``redact`` like every other output. The page shows what the loop
already holds in memory (the record as last read, the plan of the last sync or drift check): a refresh sends no
request to the cluster.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import time
from typing import Any

from kubectl_gitops.engine.app_status import AppStatus, shown_phase
from kubectl_gitops.redact import redact

REFRESH_SECONDS = 10
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24;background:#fafbfc}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;background:#fff} th,td{border:1px solid #d0d7de;padding:.35rem .6rem;text-align:left}
th{background:#f1f3f5} td.commit{font-family:monospace}
.Synced{color:#1a7f37;font-weight:600} .OutOfSync{color:#9a6700;font-weight:600} .Failed{color:#cf222e;font-weight:600}
.Suspended{color:#0969da;font-weight:600} .Progressing{color:#8250df;font-weight:600}
pre{background:#fff;border:1px solid #d0d7de;padding:.6rem;overflow:auto} .meta{color:#57606a}
"""


class _AppView:
    """One app's part of the page; the SVG of a commit's waves is made once and kept."""

    def __init__(self, watcher: Any):
        self.watcher = watcher
        self._svg: tuple[str | None, str] = (None, "")

    def waves(self) -> str:
        st = self.watcher.state
        if st.plan is None:
            return '<p class="meta">no plan yet (the first sync or drift check draws it)</p>'
        from kubectl_gitops.cli.waves_view import render_dot, render_table

        if shutil.which("dot"):
            if self._svg[0] != st.plan_commit:
                try:
                    out = subprocess.run(["dot", "-Tsvg"], input=render_dot(st.plan), capture_output=True, text=True,
                                         timeout=10, check=False)
                    svg = out.stdout[out.stdout.find("<svg"):] if out.returncode == 0 and "<svg" in out.stdout else ""
                except (OSError, subprocess.TimeoutExpired):
                    svg = ""
                self._svg = (st.plan_commit, svg)
            if self._svg[1]:
                return f'<div class="waves waves-svg">{self._svg[1]}</div>'
        return f'<pre class="waves waves-text">{html.escape(render_table(st.plan))}</pre>'

    def name(self) -> str:
        st = self.watcher.state
        return st.app.name if st.app is not None else "(starting)"

    def row(self) -> str:
        st = self.watcher.state
        e = html.escape
        app = self.name()
        record = st.record
        status: AppStatus = (record.status if record is not None else None) or AppStatus()
        phase = shown_phase(record.status if record is not None else None,
                            suspended=bool(record is not None and record.suspended), progressing=False)
        if st.leading and st.failed_commit is not None and st.failed_commit == st.commit and phase != "Failed":
            phase = "Failed"
        failure = status.message if status.phase == "Failed" else (st.last_error or "-")
        drift = f"{status.drift.objects} object(s)" + (": " + ", ".join(status.drift.keys) if status.drift.keys else "")
        role = "leading" if st.leading else f"standing by ({st.standby_holder or 'waiting'})"
        return (f'<tr id="app-{e(app)}"><td>{e(app)}</td><td class="commit">{e((st.commit or "-")[:12])}</td>'
                f'<td class="{e(phase)}">{e(phase)}</td><td>{e(status.health)}</td>'
                f"<td>{e(status.last_sync_time or '-')}</td><td>{e(drift)}</td><td>{e(failure)}</td>"
                f"<td>{e(role)}</td></tr>")


class Page:
    """Renders the page from the ``Watcher`` of each app this process watches (one, or several)."""

    def __init__(self, watchers: Any):
        self.views = [_AppView(w) for w in (watchers if isinstance(watchers, (list, tuple)) else [watchers])]

    def __call__(self) -> str:
        e = html.escape
        names = [v.name() for v in self.views]
        title = names[0] if len(names) == 1 else f"{len(names)} apps"
        syncs = sum(v.watcher.state.syncs for v in self.views)
        rows = "".join(v.row() for v in self.views)
        waves = "".join(f"<h2>Waves of {e(v.name())} at {e((v.watcher.state.plan_commit or '-')[:12])}</h2>\n"
                        f"{v.waves()}\n" for v in self.views)
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>kubectl-gitops: {e(title)}</title><style>{STYLE}</style></head>
<body><h1>kubectl-gitops sync --watch</h1>
<p class="meta">this process watches {len(names)} app(s); {syncs} sync(s) run; page made {e(time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime()))}, refreshed every {REFRESH_SECONDS}s; read-only</p>
<table id="apps"><thead><tr><th>app</th><th>commit</th><th>sync status</th><th>health</th><th>last sync</th>
<th>drift</th><th>last failure</th><th>this process</th></tr></thead><tbody>{rows}</tbody></table>
{waves}</body></html>
"""
        return redact(page)


__all__ = ["Page"]
