"""The monitor's reports: ``monitor.json`` (the document) and a self-contained ``monitor.html``.

The HTML page is rendered from the JSON document alone (``python -m monitor render monitor.json``
rebuilds it): inline CSS, an inline SVG timeline drawn here, no scripts, no external resources.

The timeline has one row per query (the per-pod names, the Service name, the SRV record) and one per
target (the DNS Service, each DNS replica); each second is coloured by the worst kind answered in it;
incidents are numbered bands across all rows, API changes of the reference Service are ticks on top.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fixtures.reporting.render import CSS, PAGE, e

SCHEMA = "hsdns-monitor/1"
COLOURS = {"ok": "#8fd19e", "converging": "#f2cc60", "unavailable": "#fb8f44", "missing": "#8250df",
           "wrong": "#cf222e"}
EXTRA_CSS = """
.kind { display: inline-block; padding: 1px 7px; border-radius: 9px; font-size: 12px; font-weight: 600; color: #fff; }
.kind.ok { background: #1a7f37; } .kind.converging { background: #9a6700; } .kind.unavailable { background: #bc4c00; }
.kind.missing { background: #8250df; } .kind.wrong { background: #cf222e; }
.legend span { margin-right: 14px; white-space: nowrap; } .legend i { display: inline-block; width: 12px; height: 12px;
  vertical-align: -1px; margin-right: 4px; border-radius: 2px; }
svg text { font: 11px system-ui, sans-serif; fill: #1f2328; } svg .axis { stroke: #8c959f; stroke-width: 1; }
svg .api { stroke: #0969da; stroke-width: 1; stroke-dasharray: 2 2; } svg .band { fill: #cf222e; fill-opacity: .12;
  stroke: #cf222e; stroke-opacity: .5; } svg .rowbg { fill: #f6f8fa; }
.summary-line { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-weight: 700; margin: 10px 0; }
"""
WIDTH = 1160
LABEL_W = 300
ROW_H = 15
ROW_GAP = 3
TOP = 34


def write_reports(doc: Mapping[str, Any], json_path: Path | None, html_path: Path | None) -> None:
    for path, text in ((json_path, json.dumps(doc, indent=1, sort_keys=False, default=str) + "\n"),
                       (html_path, render_html(doc) if html_path else "")):
        if path is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


def short_name(name: str, doc: Mapping[str, Any]) -> str:
    """``web-0.my-headless-service.<ns>.svc.<zone>. A`` -> ``web-0.my-headless-service A``."""
    wl = doc.get("workload", {})
    suffix = f".{wl.get('namespace', '')}.svc.{wl.get('zone', '')}."
    return name.replace(suffix, "") if wl else name


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S.%f")[:-3] + "Z"


def _nice_step(span: float, ticks: int = 10) -> float:
    raw = max(span / ticks, 1e-3)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def timeline_svg(doc: Mapping[str, Any]) -> str:
    """The inline SVG of the timeline (rows per query and per target, incident bands, API change ticks)."""
    tl = doc.get("timeline", {"rows": {}})
    rows_q = sorted(r for r in tl["rows"] if r.startswith("q "))
    rows_t = sorted(r for r in tl["rows"] if r.startswith("t "))
    rows = rows_q + ([""] if rows_q and rows_t else []) + rows_t
    duration = max(float(doc.get("elapsed_s") or 0.0), 1.0)
    plot_w = WIDTH - LABEL_W - 20
    scale = plot_w / duration

    def x(t: float) -> float:
        return LABEL_W + max(0.0, min(duration, t)) * scale

    height = TOP + len(rows) * (ROW_H + ROW_GAP) + 30
    out = [f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" style="max-width:100%;height:auto" role="img" '
           'aria-label="answers over time">']
    bottom = TOP + len(rows) * (ROW_H + ROW_GAP)
    for i, row in enumerate(rows):
        y = TOP + i * (ROW_H + ROW_GAP)
        if not row:
            continue
        out.append(f'<rect class="rowbg" x="{LABEL_W}" y="{y}" width="{plot_w:.1f}" height="{ROW_H}"/>')
        label = ("target " if row.startswith("t ") else "") + short_name(row[2:], doc)
        out.append(f'<text x="{LABEL_W - 6}" y="{y + ROW_H - 4}" text-anchor="end">{e(label[-48:])}</text>')
        for a, b, kind in tl["rows"][row]:
            w = max(x(b) - x(a), 1.0)
            out.append(f'<rect x="{x(a):.1f}" y="{y}" width="{w:.1f}" height="{ROW_H}" fill="{COLOURS[kind]}">'
                       f'<title>{e(label)}: {e(kind)} {a:g}-{b:g} s</title></rect>')
    for inc in doc.get("incidents", []):
        x0, x1 = x(inc["start_s"]), x(inc["end_s"])
        out.append(f'<rect class="band" id="band-{inc["id"]}" x="{x0:.1f}" y="{TOP - 4}" width="{max(x1 - x0, 2):.1f}" '
                   f'height="{bottom - TOP + 4}"><title>incident #{inc["id"]}: {e(inc["kind"])} '
                   f'{inc["start_s"]:g}-{inc["end_s"]:g} s, {e(", ".join(inc["names"]))}</title></rect>')
        out.append(f'<text x="{x0:.1f}" y="{TOP - 8}" fill="#cf222e">#{inc["id"]}</text>')
    for ch in doc.get("api_changes", [])[:400]:
        xc = x(ch["t_s"])
        out.append(f'<line class="api" x1="{xc:.1f}" y1="{TOP - 20}" x2="{xc:.1f}" y2="{bottom}">'
                   f'<title>{e(ch.get("what", "API change"))} at {ch["t_s"]:g} s</title></line>')
    step = _nice_step(duration)
    t = 0.0
    out.append(f'<line class="axis" x1="{LABEL_W}" y1="{bottom + 2}" x2="{LABEL_W + plot_w:.1f}" y2="{bottom + 2}"/>')
    while t <= duration + 1e-9:
        xt = x(t)
        out.append(f'<line class="axis" x1="{xt:.1f}" y1="{bottom + 2}" x2="{xt:.1f}" y2="{bottom + 6}"/>'
                   f'<text x="{xt:.1f}" y="{bottom + 18}" text-anchor="middle">{t:g}s</text>')
        t += step
    out.append(f'<text x="{LABEL_W}" y="12">API changes of the reference Service (dashed) · incidents (bands)</text>')
    out.append("</svg>")
    return "".join(out)


def _kind(kind: str) -> str:
    return f'<span class="kind {e(kind)}">{e(kind)}</span>' if kind else ""


def _stats_cells(s: Mapping[str, Any]) -> str:
    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}"
    return (f'<td class="num">{s.get("n", 0)}</td><td class="num">{f(s.get("p50"))}</td>'
            f'<td class="num">{f(s.get("p95"))}</td><td class="num">{f(s.get("max"))}</td>')


def render_html(doc: Mapping[str, Any]) -> str:
    fig = doc.get("figures", {})
    gates = doc.get("gates", [])
    exceeded = [g for g in gates if g["exceeded"]]
    params = doc.get("parameters", {})
    cluster = doc.get("cluster", {})
    wl = doc.get("workload", {})
    body = [
        "<h1>Headless-DNS monitor</h1>",
        f'<div class="sub">{e(cluster.get("server", ""))} · Kubernetes {e(cluster.get("server_version", ""))} · '
        f'DNS {e(cluster.get("dns_implementation", ""))} {e(cluster.get("dns_version", ""))} · namespace '
        f'<code>{e(wl.get("namespace", ""))}</code> · {e(doc.get("started_at_iso", ""))} → '
        f'{e(doc.get("finished_at_iso", ""))} ({float(doc.get("elapsed_s") or 0):.1f} s)</div>',
        f'<div class="verdict {"bad" if exceeded else "ok"}" id="verdict">'
        f'{"GATES EXCEEDED" if exceeded else "GATES OK"}</div>',
    ]
    if doc.get("interrupted"):
        body.append(f'<div class="interrupted" id="interrupted">interrupted ({e(doc.get("stop_reason", ""))})</div>')
    body.append(f'<div class="summary-line" id="summary-line">{e(doc.get("summary_line", ""))}</div>')
    body.append('<table class="summary" id="figures"><tr>' + "".join(
        f"<th>{e(h)}</th>" for h in ("incidents", "wrong s", "missing s", "unavailable s", "longest s",
                                     "names affected", "queries", "query errors")) + "</tr><tr>"
        f'<td id="count-incidents">{fig.get("incidents", 0)}</td><td>{fig.get("wrong_seconds", 0):.1f}</td>'
        f'<td>{fig.get("missing_seconds", 0):.1f}</td><td>{fig.get("unavailable_seconds", 0):.1f}</td>'
        f'<td>{fig.get("longest_incident_s", 0):.1f}</td><td>{len(fig.get("names_affected", []))}</td>'
        f'<td>{fig.get("queries", 0)}</td><td>{100 * float(fig.get("query_error_rate", 0)):.2f}%</td></tr></table>')
    if gates:
        body.append('<table class="runinfo" id="gates"><tr><th>gate</th><th>threshold</th><th>value</th>'
                    "<th>result</th></tr>" + "".join(
                        f'<tr><td>--{e(g["gate"])}</td><td>{e(g["threshold"])}</td><td>{e(g["value"])}</td>'
                        f'<td>{"EXCEEDED" if g["exceeded"] else "ok"}</td></tr>' for g in gates) + "</table>")
    body.append("<h2>Timeline</h2>")
    body.append('<div class="legend">' + "".join(
        f'<span><i style="background:{c}"></i>{e(k)}</span>' for k, c in COLOURS.items()) + "</div>")
    body.append(timeline_svg(doc))

    incidents = doc.get("incidents", [])
    body.append(f"<h2>Incidents ({len(incidents)})</h2>")
    if incidents:
        rows = []
        for inc in incidents:
            answered = "<br>".join(f"{e(a['answer'])} ×{a['count']}" for a in inc.get("answered", [])[:6])
            rows.append(
                f'<tr id="incident-{inc["id"]}"><td>#{inc["id"]}</td><td>{e(_when(inc["start"]))}<br>'
                f'<span class="muted">+{inc["start_s"]:.2f} s</span></td><td>{e(_when(inc["end"]))}<br>'
                f'<span class="muted">+{inc["end_s"]:.2f} s{" (open)" if inc.get("open") else ""}</span></td>'
                f'<td class="num">{inc["duration_s"]:.2f} s</td><td>{_kind(inc["kind"])}</td>'
                f'<td>{"<br>".join(e(short_name(n, doc)) for n in inc["names"])}</td>'
                f'<td>{"<br>".join(e(t) for t in inc["targets"])}</td>'
                f'<td>{"<br>".join(e(r) for r in inc["resolvers"])}</td><td>{answered}</td></tr>')
        body.append('<table id="incidents"><tr><th>#</th><th>start</th><th>end</th><th>duration</th><th>kind</th>'
                    "<th>names</th><th>targets</th><th>resolvers</th><th>answered</th></tr>" + "".join(rows)
                    + "</table>")
    else:
        body.append('<p id="incidents" class="muted">no incidents: every answer matched the EndpointSlices (or '
                    "converged within the grace period)</p>")

    ttr = doc.get("time_to_resolve") or {}
    if ttr:
        body.append("<h2>Time to resolve (seconds)</h2>")
        head = "<tr><th>measurement</th><th>n</th><th>p50</th><th>p95</th><th>max</th></tr>"
        trs = []
        for group, title in (("ready_to_answer", "pod Ready → name answers"),
                             ("deleted_to_gone", "pod deleted → name stops answering")):
            for sub, s in ttr.get(group, {}).items():
                trs.append(f"<tr><td>{e(title)} · {e(sub)}</td>{_stats_cells(s)}</tr>")
        body.append(f'<table class="runinfo" id="time-to-resolve">{head}{"".join(trs)}</table>')

    tables = doc.get("tables", {})
    for key, title in (("per_query", "Per query"), ("per_target", "Per target"), ("per_resolver", "Per resolver")):
        data = tables.get(key, {})
        if not data:
            continue
        head = ("<tr><th></th><th>queries</th><th>ok</th><th>converging</th><th>unavailable</th><th>missing</th>"
                "<th>wrong</th><th>p50 ms</th><th>p95 ms</th></tr>")
        cells = "".join(
            f'<tr><td>{e(short_name(k, doc))}</td><td class="num">{v["queries"]}</td><td class="num">{v["ok"]}</td>'
            f'<td class="num">{v["converging"]}</td><td class="num">{v["unavailable"]}</td>'
            f'<td class="num">{v["missing"]}</td><td class="num">{v["wrong"]}</td>'
            f'<td class="num">{v["latency_ms"]["p50"]}</td><td class="num">{v["latency_ms"]["p95"]}</td></tr>'
            for k, v in data.items())
        body.append(f'<h2>{e(title)}</h2><table id="{e(key.replace("_", "-"))}">{head}{cells}</table>')

    body.append('<h2>Parameters</h2><table class="runinfo" id="parameters">' + "".join(
        f"<tr><th>{e(k)}</th><td>{e(json.dumps(v) if isinstance(v, dict | list) else v)}</td></tr>"
        for k, v in params.items()) + "</table>")
    changes = doc.get("api_changes", [])
    if changes:
        body.append(f"<details><summary>API changes ({len(changes)})</summary><ul>" + "".join(
            f"<li>+{c['t_s']:.2f} s: {e(c.get('what', ''))}</li>" for c in changes[:300]) + "</ul></details>")
    return PAGE.substitute(title="Headless-DNS monitor", css=CSS + EXTRA_CSS, body="\n".join(body))
