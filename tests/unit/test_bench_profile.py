"""The benchmark's profile (scripts/bench_suite.py): each wait counted once, where it happened."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_suite", ROOT / "scripts" / "bench_suite.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _result(case: str, status: str, **info: Any) -> dict[str, Any]:
    return {"id": case, "status": status, "evidence": [{"info": info}]}


def test_shared_rollouts_and_streams_count_once_and_a_fail_waits_its_deadline() -> None:
    results = [
        # the scale scenario: one workload (rolled out in the first case's set-up), three cases converging in turn
        _result("HS-DNS-039", "passed", shared_workload="scale", shared_rollout_s=30.0, call_s=5.0, converge_s=1.0,
                hold_s=3.0),
        _result("HS-DNS-040", "passed", shared_workload="scale", shared_rollout_s=30.0, call_s=4.0, converge_s=1.0,
                hold_s=2.0),
        # the seed: one stream, its cases side by side
        _result("HS-DNS-002", "passed", shared_workload="seed", shared_stream=True, shared_rollout_s=2.0, call_s=6.0,
                converge_s=1.0, hold_s=5.0),
        _result("HS-DNS-005", "passed", shared_workload="seed", shared_stream=True, shared_rollout_s=2.0, call_s=0.0,
                converge_s=1.0, hold_s=4.0),
        # a case of its own, and a listed deviation that FAILs at its 30 s deadline
        _result("HS-DNS-013", "passed", rollout_s=4.0, call_s=8.0, converge_s=1.0, hold_s=2.5),
        _result("HS-DNS-062", "failed", rollout_s=0.5, call_s=30.5),
    ]
    items = {"a": {"setup": 31.0, "call": 5.0, "teardown": 0.1}, "b": {"setup": 0.0, "call": 4.0, "teardown": 0.1},
             "c": {"setup": 2.5, "call": 6.0, "teardown": 0.1}, "d": {"setup": 0.0, "call": 0.0, "teardown": 0.1},
             "e": {"setup": 0.5, "call": 8.0, "teardown": 0.1}, "f": {"setup": 0.5, "call": 30.5, "teardown": 0.1}}
    prof = _bench().profile({"doc": {"results": results}, "items": items, "wall_s": 100.0})
    assert prof["rollout"] == 30.0 + 2.0 + 4.0 + 0.5
    assert prof["setup"] == 34.5 - 32.0
    assert prof["converge"] == 1.0 + 1.0 + 1.0 + 1.0  # scale 2, the stream once, 013
    assert prof["hold"] == 3.0 + 2.0 + 5.0 + 2.5  # the stream as its longest hold
    assert prof["fail_wait"] == 30.0
    assert prof["body_other"] == 1.0 + 1.0 + 0.5
