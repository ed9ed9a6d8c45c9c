"""Console progress for the CLI: one line per stage every few seconds."""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from typing import TextIO

from semicl.training.events import ProgressEvent


def drive(gen: Generator[object, None, object], *, every_s: float = 5.0,
          stream: TextIO | None = None) -> object:
    """Run ``gen`` to the end, printing throttled progress lines; return its value."""
    out = stream or sys.stderr
    last = 0.0
    stage = None
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if not isinstance(event, ProgressEvent):
            continue
        now = time.perf_counter()
        first = event.stage != stage
        if first or now - last >= every_s or event.step == event.total:
            stage = event.stage
            last = now
            loss = "" if event.loss is None else f"  loss {event.loss:.4f}"
            rate = event.step / event.elapsed_s if event.elapsed_s > 0 else 0.0
            print(f"[{event.stage.value:>8}] {event.step:>5}/{event.total:<5}{loss}"
                  f"  {rate:6.1f} it/s  {event.elapsed_s:6.1f} s", file=out, flush=True)
