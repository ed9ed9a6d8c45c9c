"""The pipeline's stages, named once.

:class:`Stage` lives here, below every other module (it imports nothing of semicl), so
the configuration, the network, the training loop, the GUI and the benchmarks can all
key on it. Its ``.value`` strings are what checkpoints' history rows store: they never
change. ``semicl.events`` re-exports it (events carry a ``stage``).
"""

from __future__ import annotations

from enum import Enum


class Stage(str, Enum):
    """Pipeline stages, in order."""

    GLOBAL = "global"  #: SimCLR pretraining of the encoder on all slices
    LOCAL = "local"  #: supervised (or self-supervised) local contrastive pretraining
    FINETUNE = "finetune"  #: cross-entropy + Dice on labelled pixels
    PREDICT = "predict"  #: slice-wise inference
    #: a pixel forest's overlay of the viewed slice within seconds of pressing Train
    #: (interactive rounds only; runs before GLOBAL)
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


#: the stages a :class:`semicl.config.TrainConfig` configures, in pipeline order
TRAINING_STAGES: tuple[Stage, ...] = (Stage.GLOBAL, Stage.LOCAL, Stage.FINETUNE)
