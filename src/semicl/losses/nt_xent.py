"""SimCLR NT-Xent loss (Chen et al. 2020), the global loss of Hu et al. (stage 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semicl.losses.checks import check_temperature, check_view_pair

__all__ = ["NTXentLoss"]


class NTXentLoss(nn.Module):
    r"""Normalised temperature-scaled cross-entropy over two views of a batch.

    With ``z = normalize(cat(z1, z2))`` (``2B`` rows) and ``s_ik = z_i . z_k / tau``::

        l_i  = -log( exp(s_{i, j(i)}) / sum_{k != i} exp(s_ik) ),   j(i) = i +/- B
        loss = (1 / 2B) * sum_i l_i

    i.e. the positive of a row is the other view of the same sample and the
    denominator holds every other row (the positive and the ``2B - 2`` negatives).
    This is the paper's / reference code's form (τ = 0.5 there); the loss is
    symmetric in ``z1`` and ``z2``.

    Edge case ``B = 1``: each row's denominator holds only its positive, so the loss
    is exactly ``0`` (no negatives, no learning signal) and the gradient is zero. It is
    returned, not rejected; callers should use ``B >= 2``.

    Half/bfloat16 inputs or calls under ``torch.autocast`` are computed in float32;
    float64 stays float64.

    Parameters
    ----------
    temperature : float
        ``tau > 0``.
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Parameters
        ----------
        z1 : (B, D) float tensor
            Projections of the first view (normalised inside).
        z2 : (B, D) float tensor, same device
            Projections of the second view; row ``i`` is the same sample as ``z1[i]``.

        Returns
        -------
        torch.Tensor
            Scalar loss (float32, or float64 for float64 inputs).

        Raises
        ------
        ShapeMismatchError (a ValueError)
            If the inputs are not two equal ``(B, D)`` float tensors with ``B >= 1``.
        """
        check_view_pair(z1, z2, "z1 and z2", "(B, D)")
        b = z1.shape[0]
        with torch.autocast(device_type=z1.device.type, enabled=False):
            z = torch.cat([z1, z2], dim=0)
            if z.dtype not in (torch.float32, torch.float64):
                z = z.float()
            z = F.normalize(z, dim=1)
            logits = (z @ z.T) / self.temperature
            eye = torch.eye(2 * b, dtype=torch.bool, device=z.device)
            logits = logits.masked_fill(eye, float("-inf"))
            idx = torch.arange(2 * b, device=z.device)
            positive = (idx + b) % (2 * b)
            return F.cross_entropy(logits, positive)
