"""Losses: pure tensor code, the device follows the inputs.

* :class:`NTXentLoss` — SimCLR global loss (stage 1).
* :class:`SupervisedLocalContrastiveLoss` — Hu et al.'s pixel-level supervised
  contrastive loss, exact / stride / block forms (stage 2).
* :class:`SelfSupervisedLocalLoss` — Chaitanya et al.'s local loss ``L^R`` (baseline).
* :class:`PartialCEDiceLoss` — CE + soft Dice over labelled pixels (stage 3).
* :class:`AffinityLoss` — image-gated local CRF term on every pixel (stage 3, strokes).
"""

from semicl.losses.affinity import AffinityLoss
from semicl.losses.nt_xent import NTXentLoss
from semicl.losses.segmentation import PartialCEDiceLoss
from semicl.losses.self_supervised_local import SelfSupervisedLocalLoss
from semicl.losses.supervised_local import SupervisedLocalContrastiveLoss

__all__ = [
    "AffinityLoss",
    "NTXentLoss",
    "PartialCEDiceLoss",
    "SelfSupervisedLocalLoss",
    "SupervisedLocalContrastiveLoss",
]
