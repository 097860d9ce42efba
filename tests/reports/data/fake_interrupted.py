"""A fake suite whose second case is interrupted, as Ctrl-C interrupts a run (KeyboardInterrupt).

``FAKE_INTERRUPT_PHASE`` says where: ``setup`` / ``call`` / ``teardown`` raise KeyboardInterrupt there;
``sigint`` writes ``FAKE_STARTED_FILE`` in the call phase and sleeps until the test sends SIGINT.
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PHASE = os.environ.get("FAKE_INTERRUPT_PHASE", "call")


@pytest.fixture
def interrupting() -> Iterator[None]:
    if PHASE == "setup":
        raise KeyboardInterrupt
    yield
    if PHASE == "teardown":
        raise KeyboardInterrupt


@pytest.mark.case("HS-DNS-001")
def test_before() -> None:
    pass


@pytest.mark.case("HS-DNS-002")
def test_interrupted(interrupting: None) -> None:
    if PHASE == "call":
        raise KeyboardInterrupt
    if PHASE == "sigint":
        Path(os.environ["FAKE_STARTED_FILE"]).write_text("started")
        time.sleep(120)


@pytest.mark.case("HS-DNS-003")
def test_never_reached() -> None:
    pass
