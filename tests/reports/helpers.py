"""Helpers shared by the reporting tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
SCHEMA = REPO_ROOT / "fixtures" / "reporting" / "conformance.schema.json"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def last_line(output: str) -> str:
    """The last non-empty line of a console output."""
    return [ln for ln in output.splitlines() if ln.strip()][-1].strip()
