"""Fine-tuning loss: cross-entropy + soft Dice over labelled pixels only (stage 3)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from semicl.errors import LabelError, ShapeMismatchError
from semicl.losses.checks import check_targets

__all__ = ["PartialCEDiceLoss"]


class PartialCEDiceLoss(nn.Module):
    r"""Partial (scribble-aware) cross-entropy + soft Dice.

    Only labelled pixels (``targets != -1``) enter either term; logits at unlabelled
    pixels get no gradient at all. With ``p`` the softmax and ``g`` the one-hot targets
    of the ``L`` labelled pixels of the whole batch::

        CE     = mean over labelled pixels of -log p[target]
               (= F.cross_entropy(logits, targets, ignore_index=-1))
        Dice_c = (2 sum p_c g_c + smooth) / (sum p_c + sum g_c + smooth)  (batch-pooled)
        loss   = CE + dice_weight * (1 - mean_{c in F} Dice_c)

    As in the paper's code (``batch_dice=True``, ``do_bg=False``) the Dice is pooled
    over the batch and uses foreground classes only. ``F`` is the set of foreground
    classes **present** in the batch's labelled targets: with scribbles most batches
    miss some class, and an absent class would add a near-constant ``1`` with a
    vanishing gradient (nnU-Net keeps it; the paper's code keeps it too unless its
    Dice term is exactly ``<= 0``). False positives of absent classes on labelled
    pixels are still penalised by the CE. No foreground class present: Dice term 0.
    The denominator is the linear ``sum p + sum g`` (nnU-Net); the paper's code uses
    squared sums ``sum p^2 + sum g^2``.

    No labelled pixel in the batch: ``logits.sum() * 0`` (a zero connected to the graph).

    Half/bfloat16 inputs or calls under ``torch.autocast`` are computed in float32.

    Parameters
    ----------
    num_classes : int
        ``C >= 2``, background included.
    dice_weight : float
        Weight ``>= 0`` of the Dice term.
    smooth : float
        Smoothing ``>= 0`` of the Dice ratio.
    """

    def __init__(self, num_classes: int, dice_weight: float = 1.0, smooth: float = 1e-5) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                "num_classes must be an integer >= 2 (background + structures), "
                f"got {num_classes!r}."
            )
        for name, value in (("dice_weight", dice_weight), ("smooth", smooth)):
            if isinstance(value, bool) or not (
                isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
            ):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
        self.num_classes = num_classes
        self.dice_weight = float(dice_weight)
        self.smooth = float(smooth)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, dice_weight={self.dice_weight}, "
            f"smooth={self.smooth}"
        )

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Parameters
        ----------
        logits : (B, C, H, W) float tensor
            Raw class scores, ``C == num_classes``.
        targets : (B, H, W) integer tensor, same device
            ``-1`` unlabelled, else a class in ``[0, C)``.

        Returns
        -------
        torch.Tensor
            Scalar loss (float32, or float64 for float64 logits).

        Raises
        ------
        ShapeMismatchError (a ValueError)
            Wrong ranks, ``C != num_classes`` or targets not ``(B, H, W)``.
        LabelError (a ValueError)
            Non-integer targets, or values outside ``[-1, C)``.
        """
        self._check(logits, targets)
        with torch.autocast(device_type=logits.device.type, enabled=False):
            x = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
            labelled = targets >= 0
            t = targets[labelled].long()  # (L,)
            if t.numel() == 0:
                return x.sum() * 0
            z = x.permute(0, 2, 3, 1)[labelled]  # (L, C): only labelled pixels get gradients
            ce = F.cross_entropy(z, t)
            if self.dice_weight == 0:
                return ce
            p = torch.softmax(z, dim=1)
            c = self.num_classes
            tp = torch.zeros(c, dtype=p.dtype, device=p.device).index_add_(
                0, t, p.gather(1, t[:, None])[:, 0]
            )
            sum_p = p.sum(dim=0)
            sum_g = torch.bincount(t, minlength=c).to(p.dtype)
            dice = (2 * tp + self.smooth) / (sum_p + sum_g + self.smooth)
            present = sum_g[1:] > 0
            fg = dice[1:][present]
            dice_term = (1 - fg.mean()) if fg.numel() else x.sum() * 0
            return ce + self.dice_weight * dice_term

    def _check(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        if not isinstance(logits, torch.Tensor) or not isinstance(targets, torch.Tensor):
            raise ShapeMismatchError("logits and targets must be torch tensors.")
        if logits.dim() != 4 or not logits.is_floating_point():
            raise ShapeMismatchError(
                f"logits must be a float (B, C, H, W) tensor, got {tuple(logits.shape)} "
                f"{logits.dtype}."
            )
        c = logits.shape[1]
        if c != self.num_classes:
            raise ShapeMismatchError(
                f"logits {tuple(logits.shape)} have C = {c} channels but num_classes = "
                f"{self.num_classes}."
            )
        check_targets(targets, logits, "logits")
        if targets.numel():
            lo, hi = int(targets.min()), int(targets.max())
            if lo < -1 or hi >= self.num_classes:
                raise LabelError(
                    f"targets hold values in [{lo}, {hi}] but must be -1 (unlabelled) or a class "
                    f"in [0, {self.num_classes - 1}] for num_classes = {self.num_classes}."
                )
