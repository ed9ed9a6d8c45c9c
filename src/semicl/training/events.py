"""Small progress events yielded by the training and inference generators.

Events are plain frozen dataclasses (picklable, no tensors) so a GUI thread can
receive them cheaply. ``PreviewEvent`` carries one small 2-D mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class Stage(str, Enum):
    """Pipeline stages, in order."""

    GLOBAL = "global"  #: SimCLR pretraining of the encoder on all slices
    LOCAL = "local"  #: supervised (or self-supervised) local contrastive pretraining
    FINETUNE = "finetune"  #: cross-entropy + Dice on labelled pixels
    PREDICT = "predict"  #: slice-wise inference
    #: a few fine-tuning steps of a fresh network, so a rough overlay exists within
    #: seconds of pressing Train (interactive rounds only; runs before GLOBAL)
    FIRST_LOOK = "first_look"

    @property
    def title(self) -> str:
        return {
            Stage.GLOBAL: "Global contrastive pretraining",
            Stage.LOCAL: "Local contrastive pretraining",
            Stage.FINETUNE: "Fine-tuning",
            Stage.PREDICT: "Prediction",
            Stage.FIRST_LOOK: "First look",
        }[self]


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
