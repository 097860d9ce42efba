"""The verdict rules (fixtures.verdict): one table, applied the same way to every phase."""

from __future__ import annotations

import pytest

from fixtures.verdict import DnsViolation, HarnessError, ImagePullError, outcome


@pytest.mark.parametrize(("level", "when", "passed", "skipped", "exc", "want"), [
    ("MUST", "call", True, False, None, "passed"),
    ("INFO", "call", True, False, None, "info"),  # an observation is never counted as a pass
    ("MUST", "call", False, False, DnsViolation("x"), "failed"),
    ("SHOULD", "call", False, False, DnsViolation("x"), "failed"),
    ("INFO", "call", False, False, DnsViolation("x"), "error"),  # INFO cases cannot fail
    ("MUST", "call", False, False, HarnessError("x"), "error"),
    ("MUST", "call", False, False, ImagePullError("x"), "error"),
    ("MUST", "call", False, False, AssertionError("bare assert"), "error"),
    ("MUST", "call", False, False, KeyError("x"), "error"),
    ("MUST", "setup", False, False, DnsViolation("x"), "error"),  # only the test body gives DNS verdicts
    ("MUST", "call", False, True, None, "skipped"),
    (None, "call", False, False, AssertionError("unit test"), "failed"),
    (None, "call", False, False, HarnessError("x"), "error"),
])
def test_outcome(level: str | None, when: str, passed: bool, skipped: bool, exc: BaseException | None,
                 want: str) -> None:
    assert outcome(level=level, when=when, passed=passed, skipped=skipped, exc=exc) == want
