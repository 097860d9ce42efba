"""The monitor's reports without a cluster: the JSON document's shape, the self-contained HTML page with its
inline SVG timeline, rendered in headless Chromium (screenshot + the DOM holds every incident)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from monitor import main
from monitor.aggregate import Aggregator, Thresholds, gate_results, summary_line
from monitor.model import Sample, StreamKey
from monitor.report import SCHEMA, render_html, short_name, timeline_svg, write_reports
from monitor.ttr import SERVICE_TARGET, PodInfo, TimeToResolve

T0 = 1_796_000_000.0
NS = "hsdns-abc123-mon-monitor"
FQDN = f"my-headless-service.{NS}.svc.cluster.local."
CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,900")


def synthetic_doc() -> dict[str, Any]:
    """A 40 s run: web-1 deleted at 10 s (unavailable 1.8 s), CoreDNS restarted at 25 s (missing at the VIP)."""
    agg = Aggregator(T0)
    names = [(FQDN, "A"), (f"_http._tcp.{FQDN}", "SRV")] + [(f"web-{i}.{FQDN}", "A") for i in range(3)]
    for step in range(200):
        t = T0 + step * 0.2
        for target in ("DNS Service", "replica coredns-a", "replica coredns-b"):
            for name, rdtype in names:
                kind = "ok"
                if name.startswith("web-1.") and 10 <= t - T0 < 11.8:
                    kind = "unavailable"
                if target == "DNS Service" and 25 <= t - T0 < 27:
                    kind = "missing"
                agg.add(Sample(t, StreamKey("hsdns-resolver-0", target, name, rdtype), kind,  # type: ignore[arg-type]
                               "NXDOMAIN" if kind == "unavailable" else "NOERROR x", latency_s=0.002))
    ttr = TimeToResolve(FQDN)
    ttr.on_pods([PodInfo("web-1", "u0", True, ("10.0.0.2",))], T0, T0)
    ttr.on_pods([PodInfo("web-1", "u1", True, ("10.0.0.9",), ready_since=T0 + 11)], T0 + 11.6, T0 + 11.6)
    ttr.on_answer(f"web-1.{FQDN}", "A", SERVICE_TARGET, T0 + 11.8, frozenset({"10.0.0.9"}), negative=False)
    fig = agg.figures(2.0)
    gates = gate_results(fig, Thresholds(max_wrong_seconds=0.0, max_incident_seconds=1.0))
    return {
        "schema": SCHEMA, "run_id": "abc123def456", "started_at": T0, "finished_at": T0 + 40, "elapsed_s": 40.0,
        "started_at_iso": "2026-12-01T10:00:00+00:00", "finished_at_iso": "2026-12-01T10:00:40+00:00",
        "interrupted": False, "stop_reason": "duration reached", "exit_status": 1,
        "summary_line": summary_line(fig, gates, 40.0), "figures": fig, "gates": gates,
        "incidents": [i.to_json(T0) for i in agg.incidents(2.0)],
        "parameters": {"rate": 5, "grace": "auto"}, "cluster": {"server": "https://127.0.0.1:6443"},
        "workload": {"namespace": NS, "zone": "cluster.local", "service_fqdn": FQDN},
        "tables": agg.tables(), "timeline": agg.timeline(), "time_to_resolve": ttr.to_json(T0),
        "api_changes": [{"t": T0 + 10.1, "t_s": 10.1, "state": 1, "what": "web-1 not ready"}],
    }


def test_the_document_and_page_hold_the_incidents_and_nothing_external(tmp_path: Path) -> None:
    doc = synthetic_doc()
    assert [(i["kind"], i["names"]) for i in doc["incidents"]] == [
        ("unavailable", [f"web-1.{FQDN}"]),
        ("missing", sorted([FQDN, f"_http._tcp.{FQDN}"] + [f"web-{i}.{FQDN}" for i in range(3)]))]
    assert doc["figures"]["longest_incident_s"] == pytest.approx(2.0)
    assert [g["exceeded"] for g in doc["gates"]] == [False, True]
    page = render_html(doc)
    for needle in ("<script", "<link", "src=", "url(", "@import", "http://", "https://cdn"):
        assert needle not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
            "https://127.0.0.1:6443", "")
    assert 'id="incident-1"' in page and 'id="incident-2"' in page and 'id="band-2"' in page
    assert "GATES EXCEEDED" in page and 'id="time-to-resolve"' in page
    assert short_name(f"web-0.{FQDN} A", doc) == "web-0.my-headless-service A"
    svg = timeline_svg(doc)
    assert svg.startswith('<svg id="timeline"') and svg.count("<rect") > 20
    write_reports(doc, tmp_path / "m.json", tmp_path / "m.html")
    assert json.loads((tmp_path / "m.json").read_text())["incidents"] == doc["incidents"]
    # the page can be rebuilt from the JSON alone
    assert main(["render", str(tmp_path / "m.json"), "-o", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_text() == (tmp_path / "m.html").read_text()
    assert main(["render", str(tmp_path / "nosuch.json")]) == 4


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_the_timeline_renders_in_headless_chromium(tmp_path: Path) -> None:
    doc = synthetic_doc()
    page = tmp_path / "monitor.html"
    write_reports(doc, None, page)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    png = tmp_path / "monitor.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'p1'}", f"--screenshot={png}", page.as_uri()],
                   capture_output=True, text=True, timeout=120, env=env, check=False)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a drawn page, not a blank one
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'p2'}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, env=env, check=False).stdout
    assert '<td id="count-incidents">2</td>' in dom and '<svg id="timeline"' in dom
    for inc in doc["incidents"]:
        assert f'<tr id="incident-{inc["id"]}">' in dom and f'id="band-{inc["id"]}"' in dom
    assert "web-1.my-headless-service" in dom and "replica coredns-a" in dom
    keep = os.environ.get("MONITOR_KEEP_SCREENSHOT")
    if keep:  # lets a developer look at it: MONITOR_KEEP_SCREENSHOT=/tmp/monitor.png
        shutil.copyfile(png, keep)
