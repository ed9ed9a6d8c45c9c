r"""Image-gated pairwise affinity loss: a local CRF regulariser for training from strokes.

Scribbles label a few lines; the pixels between them get no gradient from the partial
CE + Dice, so the network may label them anything (on one MSD volume with strokes on 3
slices it labelled ten times more foreground than there is; docs/benchmarks.md). The
regularised-loss view of weak supervision (Tang et al., "On Regularized Losses for
Weakly-supervised CNN Segmentation", ECCV 2018; the local "gated CRF" form of Obukhov et
al., 2019) adds a relaxed CRF term on *every* pixel: neighbours of similar intensity
should get the same class, so labels spread from the strokes along homogeneous regions
and stop at edges — what a person means by a stroke. With ``p`` the softmax (B, C, H, W),
``I`` the image and offsets ``d`` within ``radius``::

    w_{i,d} = exp(-(I_i - I_{i+d})^2 / (2 sigma^2)) * exp(-|d|^2 / (2 radius^2))
    loss    = sum_{i,d} w_{i,d} (1 - <p_i, p_{i+d}>) / sum_{i,d} w_{i,d}

``sigma`` is ``sigma_scale`` times the RMS neighbour difference of the batch's images
(one setting serves MR, EM and photographs whatever their contrast). Pairs that leave
the image are skipped. The loss lies in ``[0, 1]``; it is 0 for a constant one-hot prediction,
so it is only ever used beside a supervised term.

This Potts-type cut shrinks what it is not held to: a structure that gives up its rim
lowers the cut, whatever its size (the "shrinking bias" of graph-cut segmentation). A
**normalised cut** part (Shi and Malik 2000; as a loss, Tang et al., CVPR 2018) divides
each class's cut by that class's own volume instead of the whole batch's::

    cut_k = sum_{i,d} w_{i,d} (p_ik (1 - p_jk) + p_jk (1 - p_ik)),  j = i + d
    vol_k = sum_{i,d} w_{i,d} (p_ik + p_jk)
    ncut  = mean_k cut_k / vol_k

so a structure's boundary costs in proportion to its size and giving up its rim no
longer pays. The weight ``ncut`` sets it beside the Potts term:
``loss = potts + ncut * mean_k cut_k / vol_k``.
Only classes ``present`` (painted in the batch) get their own volume: a class absent
from a batch has a vanishing volume, and its ratio would pull it up everywhere; its cut
is divided by the batch's whole volume (``sum_k vol_k``), as in the Potts term.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from semicl.errors import ShapeMismatchError

__all__ = ["AffinityLoss", "neighbour_offsets"]


def neighbour_offsets(radius: int) -> list[tuple[int, int]]:
    """Half of the offsets ``(dy, dx)`` with ``0 < |d| <= radius`` (each pair once)."""
    out = []
    for dy in range(0, radius + 1):
        for dx in range(-radius, radius + 1):
            if (dy, dx) <= (0, 0) or dy * dy + dx * dx > radius * radius:
                continue
            out.append((dy, dx))
    return out


def _pairs(x: torch.Tensor, dy: int, dx: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two overlapping views of ``x`` (..., H, W) whose pixels are ``(dy, dx)`` apart."""
    h, w = x.shape[-2:]
    a = x[..., : h - dy, max(0, -dx): w - max(0, dx)]
    b = x[..., dy:, max(0, dx): w - max(0, -dx)]
    return a, b


class AffinityLoss(nn.Module):
    """Local, image-gated CRF relaxation (see the module docstring).

    Parameters
    ----------
    radius : int
        Neighbourhood radius in pixels (>= 1).
    sigma_scale : float
        Intensity kernel width, in units of the RMS neighbour difference (> 0).
    ncut : float
        Weight (>= 0) of the normalised-cut part, relative to the Potts term.
    """

    def __init__(self, radius: int = 2, sigma_scale: float = 1.0, ncut: float = 0.0) -> None:
        super().__init__()
        if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
            raise ValueError(f"radius must be an integer >= 1, got {radius!r}.")
        if not (isinstance(sigma_scale, (int, float)) and math.isfinite(sigma_scale)
                and sigma_scale > 0):
            raise ValueError(f"sigma_scale must be a finite number > 0, got {sigma_scale!r}.")
        if not (isinstance(ncut, (int, float)) and math.isfinite(ncut) and ncut >= 0):
            raise ValueError(f"ncut must be a finite number >= 0, got {ncut!r}.")
        self.radius, self.sigma_scale, self.ncut = radius, float(sigma_scale), float(ncut)
        self.offsets = neighbour_offsets(radius)

    def extra_repr(self) -> str:
        return f"radius={self.radius}, sigma_scale={self.sigma_scale}, ncut={self.ncut}"

    def forward(self, logits: torch.Tensor, images: torch.Tensor,
                present: torch.Tensor | None = None) -> torch.Tensor:
        """Loss of ``logits`` (B, C, H, W) on ``images`` (B, K, H, W), K >= 1 channels;
        ``present``: bool (C,), the classes painted in the batch (default: all), for the
        normalised-cut part."""
        if logits.dim() != 4 or images.dim() != 4 or logits.shape[0] != images.shape[0] \
                or logits.shape[2:] != images.shape[2:]:
            raise ShapeMismatchError(
                f"logits (B, C, H, W) and images (B, K, H, W) must share B, H, W; got "
                f"{tuple(logits.shape)} and {tuple(images.shape)}."
            )
        with torch.autocast(device_type=logits.device.type, enabled=False):
            p = torch.softmax(logits.float(), dim=1)
            im = images.float().detach()
            diffs = [_pairs(im, dy, dx) for dy, dx in self.offsets]
            sq = [((a - b) ** 2).sum(1) for a, b in diffs]  # (B, h', w') each
            mean_sq = torch.stack([s.mean() for s in sq]).mean()
            two_s2 = 2 * (self.sigma_scale ** 2) * mean_sq.clamp_min(1e-12)
            num = p.new_zeros(())
            den = p.new_zeros(())
            cut = vol = p.new_zeros(p.shape[1])
            for (dy, dx), s in zip(self.offsets, sq):
                w = torch.exp(-s / two_s2) * math.exp(-(dy * dy + dx * dx) / (2 * self.radius ** 2))
                pa, pb = _pairs(p, dy, dx)
                num = num + (w * (1 - (pa * pb).sum(1))).sum()
                den = den + w.sum()
                if self.ncut > 0:
                    wc = w[:, None]
                    cut = cut + (wc * (pa * (1 - pb) + pb * (1 - pa))).sum((0, 2, 3))
                    vol = vol + (wc * (pa + pb)).sum((0, 2, 3))
            potts = num / den.clamp_min(1e-12)
            if self.ncut == 0:
                return potts
            if present is None:
                present = torch.ones_like(vol, dtype=torch.bool)
            own = torch.where(present.to(vol.device), vol, vol.sum()).clamp_min(1e-12)
            return potts + self.ncut * (cut / own).mean()
