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


#: slices whose grey-level spread, or their neighbours', is below this are left as they are
_FLAT = 1e-3


def level_slices(norm: np.ndarray, axis: int = 0, window: int = 5,
                 quantiles: tuple[float, float] = (5.0, 95.0)) -> np.ndarray:
    """Remove grey-level jumps from slice to slice that the slices around do not share.

    norm (Z, Y, X) float in [0, 1] (:func:`normalize_intensity`'s output), ``axis`` the
    slice axis -> float32 in [0, 1], same shape. Each slice is mapped affinely so that its
    ``quantiles`` match the running median (over ``window`` slices) of the slices'
    quantiles. Serial sections are imaged one by one and their brightness and contrast
    jump from section to section (ISBI-2012 EM: mean grey level 99-143); a network
    trained on a few painted sections reads those jumps as structure (docs/benchmarks.md,
    session 12). Anatomy changes smoothly along a volume, so on an MRI the median follows
    the slices and the map stays close to the identity. A 2-D image is returned as is.
    """
    arr = np.asarray(norm, np.float32)
    if arr.ndim != 3 or arr.shape[axis] < 3:
        return arr
    from scipy import ndimage as ndi

    vol = np.moveaxis(arr, axis, 0)
    lo, hi = np.percentile(vol.reshape(len(vol), -1), quantiles, axis=1)
    ref_lo = ndi.median_filter(lo, size=window, mode="nearest")
    ref_hi = ndi.median_filter(hi, size=window, mode="nearest")
    flat = (hi - lo < _FLAT) | (ref_hi - ref_lo < _FLAT)
    scale = np.where(flat, 1.0, (ref_hi - ref_lo) / np.where(flat, 1.0, hi - lo))
    shift = np.where(flat, 0.0, ref_lo - scale * lo)
    out = np.clip(vol * scale[:, None, None].astype(np.float32)
                  + shift[:, None, None].astype(np.float32), 0.0, 1.0)
    return np.moveaxis(out.astype(np.float32, copy=False), 0, axis)
