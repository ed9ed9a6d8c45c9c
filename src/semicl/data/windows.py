"""Training windows: square crops of slices larger than a patch, drawn per step.

A 181 x 217 MRI slice costs the U-Net ~15x the work of a 48 x 48 window, and one image
gives a few painted slices but many windows. Training on windows (as nnU-Net does) makes a
step's cost independent of the image size; prediction still runs on whole slices.

Windows of labelled slices are *class-balanced over the whole set*
(:meth:`WindowSampler.draw_labelled`): each window draws a class uniformly among the
painted classes, then a slice uniformly among the slices where that class is painted,
then a painted pixel of it, and is placed to contain that pixel. So every class, however
thin its strokes and however few slices hold it, is seen in about the same share of
windows — also after a correction round adds slices painted with one class only (ISBI-2012
EM: three slices of background corrections drew the batches away from the one slice with
membrane strokes, and Retrain lost membranes; docs/benchmarks.md). Windows of other slices
are placed uniformly (:meth:`WindowSampler.draw`).
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
        -1 = unpainted, c >= 0 = class c: what :meth:`draw_labelled` balances over.
    """

    def __init__(self, size: int | None, height: int, width: int,
                 targets: torch.Tensor | None = None) -> None:
        self.height, self.width = int(height), int(width)
        self.win_h = min(size, self.height) if size else self.height
        self.win_w = min(size, self.width) if size else self.width
        #: per painted class: (slice numbers holding it, one (K, 2) tensor of its painted
        #: (row, col) per such slice)
        self.classes: list[tuple[list[int], list[torch.Tensor]]] = []
        if targets is not None and self.active:
            cpu = targets.detach().cpu()
            for c in torch.unique(cpu[cpu >= 0]).tolist():
                points = [(i, torch.nonzero(t == c)) for i, t in enumerate(cpu)]
                points = [(i, p) for i, p in points if len(p)]
                self.classes.append(([i for i, _ in points], [p for _, p in points]))

    @property
    def active(self) -> bool:
        """Whether windows are smaller than the slices (otherwise calls are identities)."""
        return self.win_h < self.height or self.win_w < self.width

    def _place(self, row: int, col: int, generator: torch.Generator) -> tuple[int, int]:
        """A corner whose window contains (row, col), uniformly among those that fit."""
        top = row - _randint(self.win_h, generator)
        left = col - _randint(self.win_w, generator)
        return (min(max(top, 0), self.height - self.win_h),
                min(max(left, 0), self.width - self.win_w))

    def corners(self, n: int, generator: torch.Generator) -> list[tuple[int, int]]:
        """``n`` corners placed uniformly."""
        spare_h, spare_w = self.height - self.win_h, self.width - self.win_w
        return [(_randint(spare_h + 1, generator), _randint(spare_w + 1, generator))
                for _ in range(n)]

    def labelled(self, n: int, generator: torch.Generator
                 ) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """``n`` class-balanced windows: (slice numbers (n,) int64, corners)."""
        if not self.classes:
            raise ValueError("labelled windows need targets with painted pixels")
        index, corners = [], []
        for _ in range(n):
            slices, points = self.classes[_randint(len(self.classes), generator)]
            j = _randint(len(slices), generator)
            row, col = points[j][_randint(len(points[j]), generator)].tolist()
            index.append(slices[j])
            corners.append(self._place(row, col, generator))
        return torch.tensor(index, dtype=torch.int64), corners

    def crop(self, x: torch.Tensor, corners: list[tuple[int, int]]) -> torch.Tensor:
        """Windows of ``x`` (B, ..., H, W) at ``corners`` -> (B, ..., win_h, win_w)."""
        if not self.active:
            return x
        return torch.stack([x[b, ..., t:t + self.win_h, l:l + self.win_w]
                            for b, (t, l) in enumerate(corners)])

    def draw(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Uniformly placed windows of the batch ``x`` (B, C, H, W)."""
        if not self.active:
            return x
        return self.crop(x, self.corners(len(x), generator))

    def draw_labelled(self, images: torch.Tensor, targets: torch.Tensor, n: int,
                      generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` class-balanced windows of ``images`` (N, C, H, W) and ``targets`` (N, H, W),
        the sampler's targets: (n, C, win_h, win_w) and (n, win_h, win_w)."""
        index, corners = self.labelled(n, generator)
        index = index.to(images.device)
        return self.crop(images[index], corners), self.crop(targets[index], corners)


def _randint(n: int, generator: torch.Generator) -> int:
    return int(torch.randint(0, n, (1,), generator=generator))
