"""Ctrl-C as a terminal gives it, whatever started the tests.

A shell that starts a job in the background (nohup, ``&``, some CI runners) leaves SIGINT ignored in it and
every child; Python then installs no KeyboardInterrupt handler, so a test that sends SIGINT would test
nothing (the run simply ignores it). Tests of interruption use these.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


def terminal_sigint() -> None:
    """``preexec_fn`` of a child the test will interrupt: SIGINT back to its default disposition."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def keyboard_interrupt_on_sigint() -> Iterator[None]:
    """In this process: SIGINT raises KeyboardInterrupt (Python's own handler) for the duration."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
