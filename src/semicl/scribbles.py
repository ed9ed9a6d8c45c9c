"""Scribble-like strokes simulated from a dense mask (for tests and benchmarks).

A user paints a thick stroke inside each structure and a few strokes of background
around and away from it, leaving most pixels unpainted. :func:`strokes_from_mask`
imitates that from ground truth, deterministically: structure cores (a one-pixel
erosion; the whole region when that leaves 5 pixels or fewer), a thin background ring
just outside the structures, and background lines every few rows far from them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from semicl.labels import mask_to_scribbles


def strokes_from_mask(mask2d: np.ndarray, *, ring: int = 3, line_every: int = 6,
                      line_offset: int = 2, far: int = 6) -> np.ndarray:
    """Scribbles (0 unpainted, 1 background, c + 1 structure c) for one (H, W) mask slice."""
    m = np.asarray(mask2d)
    if m.ndim != 2:
        raise ValueError(f"strokes_from_mask takes one 2-D slice, got shape {m.shape}")
    out = np.zeros(m.shape, np.int64) - 1  # targets convention while building
    for c in range(1, int(m.max(initial=0)) + 1):
        region = m == c
        if not region.any():
            continue
        core = ndi.binary_erosion(region)
        out[core if core.sum() > 5 else region] = c
    fg = m > 0
    out[ndi.binary_dilation(fg, iterations=ring) & ~ndi.binary_dilation(fg, iterations=ring - 1)] = 0
    rows = np.zeros_like(fg)
    rows[line_offset::line_every] = True
    out[rows & ~ndi.binary_dilation(fg, iterations=far)] = 0
    scribbles = np.where(out < 0, 0, mask_to_scribbles(np.maximum(out, 0)))
    return scribbles.astype(np.uint8)


def scribble_volume(mask: np.ndarray, slices: list[int], axis: int = 0) -> np.ndarray:
    """A volume of scribbles painted on ``slices`` (along ``axis``) of a dense 3-D mask."""
    m = np.moveaxis(np.asarray(mask), axis, 0)
    out = np.zeros(m.shape, np.uint8)
    for k in slices:
        out[k] = strokes_from_mask(m[k])
    return np.moveaxis(out, 0, axis)


def painted_share(scribbles: np.ndarray) -> float:
    """Share of pixels painted (non-zero)."""
    s = np.asarray(scribbles)
    return float((s > 0).sum()) / max(1, s.size)
