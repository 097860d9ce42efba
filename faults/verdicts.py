"""Per-catalogue-id verdicts of one suite run: from conformance.json, else from junit.xml.

The catalogue itself is read by :mod:`fixtures.catalogue` (the one parser), never here.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from fixtures.reporting.results import result_status

ID_RE = re.compile(r"HS-DNS-\d{3}")
# "info": an INFO case ran (an observation, never a pass and never a detection: only "failed" detects).
STATUSES = ("passed", "failed", "error", "skipped", "info")
_PRIORITY = {"failed": 4, "error": 3, "passed": 2, "info": 1, "skipped": 0}
ABSENT = "absent"  # the run reported nothing for the id (no test yet, or the run crashed)


@dataclass(frozen=True)
class Verdict:
    status: str  # passed | failed | error | skipped | info | absent
    message: str = ""
    # the run's expectations file lists the id as a known deviation of this platform and the status is the
    # one it names (conformance.json ``matches_expectation``): a baseline's known FAIL, never "unexpected"
    known_deviation: bool = False


def aggregate(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: _PRIORITY.get(s, -1)) if statuses else ABSENT


def from_conformance_json(path: Path) -> dict[str, Verdict]:
    doc = json.loads(path.read_text())
    out: dict[str, Verdict] = {}
    for res in doc.get("results", []):
        cid, status = res.get("id"), result_status(res)
        if isinstance(cid, str) and status in STATUSES:
            known = bool(res.get("known_deviation")) and bool(res.get("matches_expectation"))
            out[cid] = Verdict(str(status), str(res.get("message") or "")[:500], known_deviation=known)
    return out


def from_junit(path: Path) -> dict[str, Verdict]:
    """Aggregate testcases by the catalogue id in their properties or names (failed > error > passed > info > skipped).

    The reporting plugin's ``conformance_status`` property wins; otherwise the outcome pytest wrote, where a
    testcase of an INFO case (property ``level``) that passed is ``info`` and one that failed is ``error``.
    """
    root = ET.parse(path).getroot()
    found: dict[str, list[tuple[str, str]]] = {}
    for case in root.iter("testcase"):
        props = {p.get("name"): p.get("value") or "" for p in case.iter("property")}
        cid = props.get("case_id") or None
        if cid is None:
            m = ID_RE.search(f"{case.get('classname', '')} {case.get('name', '')}".replace("_", "-").upper())
            cid = m.group(0) if m else None
        if cid is None:
            continue
        status, msg = "passed", ""
        for child in case:
            if child.tag == "failure":
                status, msg = "failed", child.get("message", "")
            elif child.tag == "error" and status != "failed":
                status, msg = "error", child.get("message", "")
            elif child.tag == "skipped" and status == "passed":
                status, msg = "skipped", child.get("message", "")
        if props.get("level", "").upper() == "INFO":
            status = {"passed": "info", "failed": "error"}.get(status, status)
        if props.get("conformance_status") in STATUSES:
            status = str(props["conformance_status"])
        found.setdefault(cid, []).append((status, msg))
    out: dict[str, Verdict] = {}
    for cid, items in found.items():
        status = aggregate([s for s, _ in items])
        msg = next((m for s, m in items if s == status and m), "")
        out[cid] = Verdict(status, msg[:500])
    return out


def read_run(reports_dir: Path) -> tuple[dict[str, Verdict], str]:
    """Verdicts per id and the file they came from ("" when the run wrote neither report)."""
    conf = reports_dir / "conformance.json"
    if conf.is_file():
        try:
            return from_conformance_json(conf), str(conf)
        except (ValueError, OSError):
            pass
    junit = reports_dir / "junit.xml"
    if junit.is_file():
        try:
            return from_junit(junit), str(junit)
        except (ET.ParseError, OSError):
            pass
    return {}, ""
