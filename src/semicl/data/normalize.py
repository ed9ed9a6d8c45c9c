"""Per-volume intensity normalisation to [0, 1].

The reference code min-max normalises each volume. A plain min-max is at the mercy of a
single hot voxel, so the percentiles ``lower``/``upper`` are clipped first (0.5 / 99.5 by
default; 0 / 100 gives the paper's plain min-max).
"""

from __future__ import annotations

import numpy as np

from semicl.errors import InvalidImageError


def normalize_intensity(volume: np.ndarray, lower: float = 0.5, upper: float = 99.5) -> np.ndarray:
    """Clip to the ``[lower, upper]`` percentiles and scale to ``[0, 1]``.

    Parameters
    ----------
    volume : np.ndarray
        Any shape, integer or floating dtype (uint8 and float32 MSD volumes alike).
    lower, upper : float
        Percentiles, ``0 <= lower < upper <= 100``. When they coincide (e.g. a mostly
        empty image) the full min-max range is used instead.

    Returns
    -------
    np.ndarray
        float32, same shape, values in ``[0, 1]``.

    Raises
    ------
    InvalidImageError
        Empty, non-numeric, NaN/inf or constant image.
    ValueError
        Percentiles out of order or out of ``[0, 100]``.
    """
    if not (0.0 <= lower < upper <= 100.0):
        raise ValueError(
            f"Percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}."
        )
    arr = np.asarray(volume)
    if arr.size == 0:
        raise InvalidImageError("The image is empty (no pixels); load a non-empty image.")
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise InvalidImageError(
            f"Image dtype {arr.dtype} is not numeric grayscale; convert it to a number type."
        )
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise InvalidImageError(
            "The image contains NaN or infinite values; replace them (e.g. with 0) before training."
        )
    lo, hi = np.percentile(arr, [lower, upper])
    if hi <= lo:
        lo, hi = arr.min(), arr.max()
    if hi <= lo:
        raise InvalidImageError(
            f"The image is constant (every pixel = {lo:g}); it holds nothing to segment. "
            "Check that the right file/layer was chosen."
        )
    out = (np.clip(arr, lo, hi) - lo) / (hi - lo)
    return out.astype(np.float32)
