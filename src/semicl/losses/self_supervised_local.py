"""Self-supervised local contrastive loss ``L^R`` of Chaitanya et al. (NeurIPS 2020).

The paper's "global + local(self)" baseline: no labels; a small region of a slice
should match the same region of a second, intensity-augmented copy of the slice and
differ from the other regions of that slice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semicl.errors import ShapeMismatchError
from semicl.losses.checks import check_temperature, check_view_pair

__all__ = ["SelfSupervisedLocalLoss"]


class SelfSupervisedLocalLoss(nn.Module):
    r"""Region-level InfoNCE between two views of the same slices (``L^R``).

    Regions: a fixed ``grid[0] x grid[1]`` grid of ``region_size x region_size`` squares,
    spread evenly over the map (first at the top/left edge, last at the bottom/right
    edge; they may overlap on small maps). A region's vector is the *mean* of its
    embeddings, L2-normalised. For image ``b``, region ``i`` and view ``v``, with
    ``s = cos / tau``::

        pos = e^{s(v_i, v'_i)}
        neg = sum_{j != i} [ e^{s(v_i, v_j)} + e^{s(v_i, v'_j)} ]
        l   = -log( pos / (pos + neg) )

    i.e. the positive is the same region in the other view and the negatives are the
    other regions of the same image in both views. The loss is symmetric (each view
    is anchor once) and averaged over regions, views and images.

    Deviations from the original TensorFlow code (documented choices):

    * the original flattens each 3x3 region and projects it with a shared Dense(128);
      here regions are mean-pooled (the dense projection head before the loss plays
      the role of the projection);
    * the original uses 13 hand-placed regions, each with 5 predefined neighbouring
      negative regions; here the regions form a regular grid and every other region
      of the image is a negative.

    Half/bfloat16 inputs or calls under ``torch.autocast`` are computed in float32.

    Parameters
    ----------
    temperature : float
        ``tau > 0`` (0.1 in Chaitanya et al.).
    region_size : int
        Side of a square region, in pixels of the embedding map, ``>= 1``.
    grid : int or (int, int)
        Regions per column and row; at least 2 regions in total.
    """

    def __init__(
        self, temperature: float = 0.1, region_size: int = 3, grid: int | tuple[int, int] = 4
    ) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)
        if isinstance(region_size, bool) or not isinstance(region_size, int) or region_size < 1:
            raise ValueError(f"region_size must be an integer >= 1, got {region_size!r}.")
        gh, gw = (grid, grid) if isinstance(grid, int) else tuple(grid)
        if any(isinstance(g, bool) or not isinstance(g, int) or g < 1 for g in (gh, gw)):
            raise ValueError(f"grid must be an integer >= 1 or a pair of them, got {grid!r}.")
        if gh * gw < 2:
            raise ValueError(
                f"grid {grid!r} gives one region; at least 2 are needed for negatives."
            )
        self.region_size = region_size
        self.grid = (gh, gw)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, region_size={self.region_size}, grid={self.grid}"

    def region_origins(self, height: int, width: int) -> tuple[list[int], list[int]]:
        """Top rows and left columns of the grid regions on a ``height x width`` map."""
        r = self.region_size
        if height < r or width < r:
            raise ShapeMismatchError(
                f"embedding map (h, w) = {(height, width)} is smaller than region_size {r}."
            )
        return _spread(height - r, self.grid[0]), _spread(width - r, self.grid[1])

    def forward(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Parameters
        ----------
        e1 : (B, D, h, w) float tensor
            Dense embeddings of view 1 (not normalised).
        e2 : (B, D, h, w) float tensor, same device
            Dense embeddings of view 2 of the same slices, in the same order.

        Returns
        -------
        torch.Tensor
            Scalar loss (float32, or float64 for float64 inputs).

        Raises
        ------
        ShapeMismatchError (a ValueError)
            If the shapes differ, are not 4-D, or ``h``/``w`` < ``region_size``.
        """
        check_view_pair(e1, e2, "e1 and e2", "(B, D, h, w)")
        tops, lefts = self.region_origins(e1.shape[2], e1.shape[3])
        with torch.autocast(device_type=e1.device.type, enabled=False):
            v = torch.cat([self._regions(e1, tops, lefts), self._regions(e2, tops, lefts)], dim=1)
            n = v.shape[1]  # 2R vectors per image: R of view 1 then R of view 2
            logits = torch.bmm(v, v.transpose(1, 2)) / self.temperature  # (B, 2R, 2R)
            eye = torch.eye(n, dtype=torch.bool, device=v.device)
            logits = logits.masked_fill(eye, float("-inf"))
            positive = (torch.arange(n, device=v.device) + n // 2) % n
            return F.cross_entropy(logits.reshape(-1, n), positive.repeat(v.shape[0]))

    def _regions(self, e: torch.Tensor, tops: list[int], lefts: list[int]) -> torch.Tensor:
        """(B, D, h, w) -> (B, R, D) normalised mean region vectors."""
        if e.dtype not in (torch.float32, torch.float64):
            e = e.float()
        pooled = F.avg_pool2d(e, self.region_size, stride=1)  # (B, D, h-r+1, w-r+1)
        dev = e.device
        rows, cols = torch.tensor(tops, device=dev), torch.tensor(lefts, device=dev)
        pooled = pooled[:, :, rows][:, :, :, cols]  # (B, D, gh, gw)
        return F.normalize(pooled.flatten(2).transpose(1, 2), dim=2)


def _spread(span: int, count: int) -> list[int]:
    """``count`` integer offsets spread evenly over ``[0, span]`` (centred if ``count`` is 1)."""
    if count == 1:
        return [span // 2]
    return [round(span * k / (count - 1)) for k in range(count)]
