"""Small progress events yielded by the training and inference generators.

Events are plain frozen dataclasses (picklable, no tensors) so a GUI thread can
receive them cheaply. ``PreviewEvent`` carries one small 2-D mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from semicl.stage import Stage

__all__ = ["PreviewEvent", "ProgressEvent", "Stage"]


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

    ``mask``: (H, W) uint8, 0 = background, k = structure k (mask convention).
    """

    stage: Stage
    step: int
    slice_index: int
    mask: np.ndarray = field(repr=False)
