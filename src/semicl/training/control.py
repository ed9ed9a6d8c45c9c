"""A small object the caller mutates to steer a running training generator.

The GUI thread sets fields; the training thread only reads them between steps.
Attribute assignment of Python objects is atomic, so no lock is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class TrainControl:
    """Stop request and live-preview settings for :func:`semicl.interactive.train_on_image`.

    Attributes
    ----------
    preview_slice
        Index (along the slice axis) of the slice to preview while fine-tuning; None = off.
    preview_every_s
        Minimum seconds between two previews.
    stop_requested
        Set by :meth:`request_stop`; the running stage finishes its current step and the
        generator *returns* the model trained so far (the last good model is kept).
    watch
        Called as ``watch(net, step)`` after every fine-tuning step, on the training
        thread, with the network a stop would return then (from strokes: the moving
        average of the weights over the recent steps, ``FinetuneConfig.ema_recent``;
        benchmarks score it mid-run); None = off. Previews show the same network.
    on_length
        Called as ``on_length(at_least, last)`` on the training thread when fine-tuning's
        length is set or checked (before its first step and after each fit check): it
        runs through step ``at_least`` (but for a stop); ``last`` is its last step once
        decided, else None (:func:`semicl.training.loop.optimise`); None = off. The
        round's networks use it to hand a finished network's threads on at a fixed step
        (:class:`semicl.training.members.ThreadShare`).
    """

    preview_slice: int | None = None
    preview_every_s: float = 3.0
    stop_requested: bool = False
    watch: Callable[[Any, int], None] | None = None
    on_length: Callable[[int, int | None], None] | None = None

    def request_stop(self) -> None:
        self.stop_requested = True
