"""What the monitor prints: messages, and a progress line (elapsed time, queries sent, incidents so far).

On a terminal the progress line is rewritten in place once a second, with colour unless ``NO_COLOR`` is
set (https://no-color.org: any non-empty value) or ``TERM=dumb``; elsewhere (CI logs, pipes) it is a
plain line every ``interval`` seconds (``--progress S``, 0: never). Messages go to stderr; the summary
line is the last line on stdout.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from fixtures.progress import elapsed_text

RED, YELLOW, GREEN, RESET = "\033[31m", "\033[33m", "\033[32m", "\033[0m"


def colour_allowed(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", "") != "" or env.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def progress_text(status: Mapping[str, Any], colour: bool = False) -> str:
    inc = int(status.get("incidents", 0))
    open_ = int(status.get("open_spans", 0))
    text_inc = f"{inc} incident(s)" + (f", {open_} stream(s) bad now" if open_ else "")
    if colour:
        text_inc = (RED if open_ else YELLOW if inc else GREEN) + text_inc + RESET
    return (f"hsdns monitor: {elapsed_text(float(status.get('elapsed_s', 0)))} elapsed | "
            f"{int(status.get('queries', 0)):,} queries | {text_inc} | targets {status.get('targets', 0)} | "
            f"streams {status.get('streams_ready', 0)}/{status.get('streams', 0)}")


class Console:
    def __init__(self, interval: float = 10.0, stream: TextIO | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.colour = colour_allowed(self.stream, environ)
        self.interval = interval
        self._last = 0.0
        self._inline = False

    def say(self, text: str) -> None:
        self._break()
        self.stream.write(text.rstrip("\n") + "\n")
        self.stream.flush()

    def _break(self) -> None:
        if self._inline:
            self.stream.write("\n")
            self._inline = False

    def progress(self, status: Mapping[str, Any], *, force: bool = False) -> None:
        if self.interval <= 0 and not force:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._last < 1.0 and not force:
                return
            self._last = now
            self.stream.write("\r\033[K" + progress_text(status, self.colour) if self.colour
                              else "\r" + progress_text(status).ljust(110))
            self._inline = True
            self.stream.flush()
            return
        if now - self._last < self.interval and not force:
            return
        self._last = now
        self.say(progress_text(status))

    def done(self) -> None:
        self._break()
