"""Progress events of the training and inference generators, and the one way to drive them.

Events are plain frozen dataclasses (picklable, no tensors) so a GUI thread can
receive them cheaply. ``PreviewEvent`` carries one small 2-D mask.

The engine's long jobs (:func:`semicl.training.pipeline.train`,
:func:`semicl.inference.predict_iter`, :func:`semicl.interactive.training_round`) are
generators that yield events and *return* their result. :func:`drive` runs one to its
end and hands back that result; :func:`relay` does the same inside another generator,
passing the events on.

This module sits at the bottom of the engine (it imports only :mod:`semicl.stage`), so
inference, training and the CLI's console progress can all use it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from semicl.stage import Stage

__all__ = ["PreviewEvent", "ProgressEvent", "Stage", "drive", "relay"]

E = TypeVar("E")
R = TypeVar("R")


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a stage: ``step`` of ``total`` done, with the step's loss (None for inference)."""

    stage: Stage
    step: int
    total: int
    loss: float | None = None
    elapsed_s: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class PreviewEvent:
    """A prediction of one slice with the current weights, made between training steps.

    ``mask``: (H, W) of :func:`semicl.labels.mask_dtype` (uint8 up to 255 structures),
    0 = background, k = structure k (mask convention).
    """

    stage: Stage
    step: int
    slice_index: int
    mask: np.ndarray = field(repr=False)


def drive(gen: Generator[E, Any, R], on_event: Callable[[E], object] | None = None) -> R:
    """Run ``gen`` to its end, calling ``on_event(event)`` for each event it yields;
    return the generator's return value.

    An exception raised by ``gen`` or by ``on_event`` propagates; in the second case
    ``gen`` is closed first, so its ``finally`` blocks run (a training job puts its network
    back in eval mode and releases its cached memory).
    """
    result: R

    def run() -> Generator[E, Any, None]:
        nonlocal result
        result = yield from gen

    events = run()
    try:
        for event in events:
            if on_event is not None:
                on_event(event)
    finally:
        events.close()  # closes ``gen`` too when ``on_event`` raised
    return result


def relay(gen: Generator[E, Any, R], on_event: Callable[[E], object]
          ) -> Generator[E, None, R]:
    """Yield ``gen``'s events, calling ``on_event(event)`` before passing each on; return
    ``gen``'s return value: ``value = yield from relay(gen, record)``.

    A generator, not a :func:`drive`: its caller is itself a generator that hands the
    events on to whoever drives it (``pipeline.train`` records the losses of each stage
    and re-yields every event to the plugin or the CLI), so it cannot run ``gen`` to the
    end by itself. ``yield from gen`` alone would pass the events on without seeing them.
    """
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        on_event(event)
        yield event
