"""Smoothing a 2-D network's probabilities across slices, as far as the image allows.

The network sees one slice at a time, so nothing ties its answer on a slice to the
answers on the slices beside it: where strokes leave a region open, the class drifts from
slice to slice (Colin27: false structure on lone slices far from any stroke, misses beside
painted slices; docs/benchmarks.md, session 10). Anatomy sampled at about the in-plane
spacing is continuous across slices, so averaging each class's probability over a slice's
neighbours (a Gaussian along the slice axis) removes noise the network made, not detail
the image holds.

How far to smooth is read off the image itself, not from metadata that is often missing:
:func:`slice_step` finds the in-plane distance over which the image changes as much as it
does from one slice to the next. MRI with 1-mm voxels gives about one pixel (Colin27 0.78,
MSD hippocampus crops 0.94-1.07); serial EM sections (ISBI-2012: 50 nm apart, 4-nm pixels)
change more from one to the next than the image does over 16 pixels in-plane (the cap),
so their ``sigma``
(:func:`slice_sigma`) is 1/16 of a slice and the smoothing is left out (there, a
one-slice Gaussian would cost 0.08 Dice). ``sigma`` is ``px / step`` slices: ``px``
pixels' worth of in-plane distance.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

__all__ = ["MIN_SIGMA", "slice_sigma", "slice_step", "smooth_across_slices"]

#: below this many slices the Gaussian barely mixes neighbours: left out (no work, no change)
MIN_SIGMA = 0.25
#: in-plane offsets (pixels) compared with one slice step; a step beyond this is "far"
MAX_OFFSET = 16
#: at most this many slices (evenly spaced) enter :func:`slice_step`'s statistics
SAMPLE_SLICES = 32


def slice_step(volume: np.ndarray, axis: int = 0, max_offset: int = MAX_OFFSET) -> float:
    """The in-plane distance (pixels) over which ``volume`` changes as much, in mean squared
    intensity difference, as between neighbouring slices along ``axis``.

    ``d(k)``: mean squared difference of pixels ``k`` apart in-plane (both in-plane axes),
    ``d(0) = 0``, ``k = 1 .. max_offset``; ``d_z``: the same between neighbouring slices.
    Returns the ``k`` (linear between integers) where ``d(k) = d_z``; ``max_offset`` when
    ``d_z`` is larger than every ``d(k)``; 1.0 for a constant volume.

    volume (Z, Y, X) float-like -> float > 0.
    """
    v = np.moveaxis(np.asarray(volume, dtype=np.float32), axis, 0)
    if v.ndim != 3 or v.shape[0] < 2:
        raise ValueError(f"slice_step needs a 3-D volume with 2+ slices, got {v.shape}")
    starts = np.unique(np.linspace(0, v.shape[0] - 2, min(SAMPLE_SLICES, v.shape[0] - 1))
                       .round().astype(int))
    d_z = float(np.mean((v[starts + 1] - v[starts]) ** 2))
    plane = v[starts]
    d = [0.0]
    for k in range(1, max_offset + 1):
        parts = [((plane[:, k:] - plane[:, :-k]) ** 2).ravel() if plane.shape[1] > k else None,
                 ((plane[:, :, k:] - plane[:, :, :-k]) ** 2).ravel() if plane.shape[2] > k else None]
        parts = [p for p in parts if p is not None and p.size]
        if not parts:
            break
        d.append(float(np.mean(np.concatenate(parts))))
    if d_z <= 0 or max(d) <= 0:
        return 1.0
    for k in range(1, len(d)):
        if d[k] >= d_z:
            return float(k - 1 + (d_z - d[k - 1]) / (d[k] - d[k - 1]))
    return float(len(d) - 1)


def slice_sigma(volume: np.ndarray, axis: int, px: float) -> float:
    """Gaussian width in slices for ``px`` pixels' worth of in-plane distance: ``px /
    slice_step``; 0 when ``px`` is 0, the image 2-D, or the result under :data:`MIN_SIGMA`."""
    if px <= 0 or np.ndim(volume) != 3 or np.shape(volume)[axis] < 2:
        return 0.0
    sigma = px / slice_step(volume, axis)
    return sigma if sigma >= MIN_SIGMA else 0.0


def smooth_across_slices(probs: np.ndarray, axis: int, sigma: float) -> np.ndarray:
    """Each class's probability averaged along the slice ``axis`` of the volume with a
    Gaussian of ``sigma`` slices (edges repeat the last slice); still sums to 1 per voxel.

    probs (C, Z, Y, X) float32 with ``axis`` counted in the volume (0..2, or negative as
    numpy counts) -> same shape. ``sigma <= 0`` returns ``probs`` itself.
    """
    if sigma <= 0:
        return probs
    axis = axis % (probs.ndim - 1) + 1  # past the class axis
    return gaussian_filter1d(probs, sigma, axis=axis, mode="nearest").astype(
        np.float32, copy=False)
