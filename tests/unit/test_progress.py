"""The progress line (fixtures/progress.py): counts, pacing, no line at the very end, off with 0."""

from __future__ import annotations

from fixtures.progress import Progress, elapsed_text


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_counts_and_prints_at_most_every_interval() -> None:
    clock, lines = Clock(), list[str]()
    p = Progress(30, lines.append, clock)
    p.total = 4
    for when, outcome in (("setup", "passed"), ("call", "failed"), ("teardown", "passed")):
        p.record("a", when, outcome)
    assert lines == []  # not 30 s yet
    clock.now = 31
    p.record("b", "setup", "failed")  # a set-up error
    p.record("b", "teardown", "passed")
    assert lines == ["hsdns progress: 2/4 done (50%), 1 failed, 1 error, 0 skipped, elapsed 31s"]
    clock.now = 40
    p.record("c", "setup", "skipped")
    p.record("c", "teardown", "passed")
    assert len(lines) == 1  # 9 s after the last line
    clock.now = 100
    p.record("d", "teardown", "passed")
    assert len(lines) == 1  # the last item: the run's own summary follows


def test_progress_off_and_elapsed_text() -> None:
    lines: list[str] = []
    p = Progress(0, lines.append, Clock())
    p.record("a", "teardown", "passed")
    assert not p.maybe_print() and lines == []
    assert (elapsed_text(42), elapsed_text(187), elapsed_text(3720)) == ("42s", "3m07s", "1h02m")
