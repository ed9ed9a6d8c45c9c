"""Training windows: square crops of slices larger than a patch, drawn per step.

A 181 x 217 MRI slice costs the U-Net ~15x the work of a 48 x 48 window, and one image
gives a few painted slices but many windows. Training on windows (as nnU-Net does) makes a
step's cost independent of the image size; prediction still runs on whole slices.
Windows of labelled slices are placed to contain a painted pixel of a class drawn
uniformly among the classes painted on that slice (so every class, however thin its
stroke, is seen in most steps); windows of other slices are placed uniformly.
"""

from __future__ import annotations

import torch


class WindowSampler:
    """Draw ``(top, left)`` corners of ``size`` x ``size`` windows of (N, C, H, W) slices.

    Parameters
    ----------
    size : int or None
        Window side. ``None``, or a side not smaller than the slice, keeps whole slices
        along that axis (so small images train exactly as without windows).
    height, width : int
        Slice size.
    targets : Tensor, shape (N, H, W), int64, or None
        -1 = unpainted, c >= 0 = class c. With targets, each window contains a painted
        pixel of a class drawn uniformly among the classes painted on its slice; slices
        without any painted pixel get uniform windows.
    """

    def __init__(self, size: int | None, height: int, width: int,
                 targets: torch.Tensor | None = None) -> None:
        self.height, self.width = int(height), int(width)
        self.win_h = min(size, self.height) if size else self.height
        self.win_w = min(size, self.width) if size else self.width
        #: per slice: one (K, 2) tensor of painted (row, col) per painted class
        self.anchors: list[list[torch.Tensor]] | None = None
        if targets is not None and self.active:
            cpu = targets.detach().cpu()
            self.anchors = [[torch.nonzero(t == c) for c in torch.unique(t[t >= 0]).tolist()]
                            for t in cpu]

    @property
    def active(self) -> bool:
        """Whether windows are smaller than the slices (otherwise calls are identities)."""
        return self.win_h < self.height or self.win_w < self.width

    def corners(self, index: torch.Tensor, generator: torch.Generator) -> list[tuple[int, int]]:
        """One ``(top, left)`` per entry of ``index`` (slice numbers into the targets)."""
        spare_h, spare_w = self.height - self.win_h, self.width - self.win_w
        out = []
        for i in index.tolist():
            per_class = self.anchors[i] if self.anchors is not None else []
            if per_class:
                pts = per_class[_randint(len(per_class), generator)]
                row, col = pts[_randint(len(pts), generator)].tolist()
                top = row - _randint(self.win_h, generator)
                left = col - _randint(self.win_w, generator)
            else:
                top, left = _randint(spare_h + 1, generator), _randint(spare_w + 1, generator)
            out.append((min(max(top, 0), spare_h), min(max(left, 0), spare_w)))
        return out

    def crop(self, x: torch.Tensor, corners: list[tuple[int, int]]) -> torch.Tensor:
        """Windows of ``x`` (B, ..., H, W) at ``corners`` -> (B, ..., win_h, win_w)."""
        if not self.active:
            return x
        return torch.stack([x[b, ..., t:t + self.win_h, l:l + self.win_w]
                            for b, (t, l) in enumerate(corners)])

    def draw(self, x: torch.Tensor, index: torch.Tensor, generator: torch.Generator,
             y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Windows of the batch ``x`` = slices[index] (and of ``y``, the same windows)."""
        if not self.active:
            return x, y
        corners = self.corners(index, generator)
        return self.crop(x, corners), None if y is None else self.crop(y, corners)


def _randint(n: int, generator: torch.Generator) -> int:
    return int(torch.randint(0, n, (1,), generator=generator))
