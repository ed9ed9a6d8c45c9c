"""Console progress for the CLI: one line per stage every few seconds."""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from typing import Any, TextIO, TypeVar

from semicl.events import ProgressEvent, Stage, drive

R = TypeVar("R")


class ProgressLines:
    """An ``on_event`` for :func:`semicl.events.drive` that prints a progress line at a
    stage's first and last step and every ``every_s`` seconds in between."""

    def __init__(self, every_s: float = 5.0, stream: TextIO | None = None) -> None:
        self.every_s = every_s
        self.out = stream or sys.stderr
        self.last = 0.0
        self.stage: Stage | None = None

    def __call__(self, event: object) -> None:
        if not isinstance(event, ProgressEvent):
            return
        now = time.perf_counter()
        first = event.stage != self.stage
        if first or now - self.last >= self.every_s or event.step == event.total:
            self.stage = event.stage
            self.last = now
            loss = "" if event.loss is None else f"  loss {event.loss:.4f}"
            rate = event.step / event.elapsed_s if event.elapsed_s > 0 else 0.0
            print(f"[{event.stage.value:>8}] {event.step:>5}/{event.total:<5}{loss}"
                  f"  {rate:6.1f} it/s  {event.elapsed_s:6.1f} s", file=self.out, flush=True)


def drive_with_progress(gen: Generator[object, Any, R], *, every_s: float = 5.0,
                        stream: TextIO | None = None) -> R:
    """Run ``gen`` to the end, printing throttled progress lines; return its value."""
    return drive(gen, ProgressLines(every_s, stream))
