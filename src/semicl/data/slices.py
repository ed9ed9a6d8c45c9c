"""Volumes to stacks of 2-D slices of one size, and back.

The network works on 2-D slices. :func:`to_slices` moves the slicing axis first and
centre-pads (with zeros) or centre-crops each slice to ``size`` — no interpolation, so
labels stay exact (the reference code resized labels bilinearly, which invents classes at
boundaries). MSD hippocampus slices (about 35x50, at most 43x59) are padded to 64x64.
:class:`SliceGeometry` records what was done so :func:`from_slices` can undo it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semicl.errors import InvalidImageError, ShapeMismatchError


@dataclass(frozen=True)
class SliceGeometry:
    """How a volume was cut into slices.

    Attributes
    ----------
    axis : int or None
        The volume axis that was moved first (non-negative); ``None`` for a 2-D image.
    shape : tuple of int
        Original volume shape.
    native : tuple of int
        ``(h, w)`` of each slice before padding/cropping.
    size : tuple of int
        ``(H, W)`` of each output slice.
    pad : tuple of int
        Rows/columns of fill added before the content (top, left); the remainder
        ``size - native - pad`` is added after. Zero along a cropped dimension.
    crop : tuple of int
        Rows/columns cut before the kept window (top, left); zero along a padded dimension.
        All slices share one native size, so these offsets hold for every slice.
    """

    axis: int | None
    shape: tuple[int, ...]
    native: tuple[int, int]
    size: tuple[int, int]
    pad: tuple[int, int]
    crop: tuple[int, int]

    @property
    def num_slices(self) -> int:
        """Number of slices ``S``."""
        return 1 if self.axis is None else int(self.shape[self.axis])

    def windows(self) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        """``(native_window, slice_window)``: matching regions of a native and an output slice."""
        src, dst = [], []
        for n, t, p, c in zip(self.native, self.size, self.pad, self.crop):
            k = min(n, t)
            src.append(slice(c, c + k))
            dst.append(slice(p, p + k))
        return (src[0], src[1]), (dst[0], dst[1])


def _geometry(shape: tuple[int, ...], axis: int, size: tuple[int, int] | None) -> SliceGeometry:
    if len(shape) == 2:
        ax, native = None, (int(shape[0]), int(shape[1]))
    elif len(shape) == 3:
        if not -3 <= axis < 3:
            raise InvalidImageError(
                f"axis {axis} does not exist in a 3-D volume of shape {shape}; use 0, 1 or 2."
            )
        ax = axis % 3
        rest = [int(s) for i, s in enumerate(shape) if i != ax]
        native = (rest[0], rest[1])
    else:
        raise InvalidImageError(f"Expected a 2-D (H, W) or 3-D volume, got shape {shape}.")
    if size is None:
        size = native
    size = (int(size[0]), int(size[1]))
    if min(size) < 1:
        raise InvalidImageError(f"Slice size must be positive, got {size}.")
    pad = tuple(max(0, (t - n) // 2) for n, t in zip(native, size))
    crop = tuple(max(0, (n - t) // 2) for n, t in zip(native, size))
    shape = tuple(int(s) for s in shape)
    return SliceGeometry(ax, shape, native, size, pad, crop)  # type: ignore[arg-type]


def _stack(volume: np.ndarray, geometry: SliceGeometry) -> np.ndarray:
    """Native slices ``(S, h, w)`` (a view where possible)."""
    if geometry.axis is None:
        return volume[None]
    return np.moveaxis(volume, geometry.axis, 0)


def _place(native: np.ndarray, geometry: SliceGeometry, fill, dtype) -> np.ndarray:
    src, dst = geometry.windows()
    out = np.full((native.shape[0], *geometry.size), fill, dtype=dtype)
    out[:, dst[0], dst[1]] = native[:, src[0], src[1]]
    return out


def to_slices(
    volume: np.ndarray, axis: int = 0, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, SliceGeometry]:
    """Cut a volume into ``(S, H, W)`` float32 slices of one size.

    Parameters
    ----------
    volume : np.ndarray
        2-D ``(H, W)`` (gives ``S = 1``; ``axis`` ignored) or 3-D.
    axis : int
        Axis to slice along (moved first).
    size : (int, int) or None
        Output ``(H, W)``; centre zero-padding or centre-cropping, no interpolation.
        ``None`` keeps the native size.

    Returns
    -------
    slices : np.ndarray
        ``(S, H, W)`` float32.
    geometry : SliceGeometry
    """
    volume = np.asarray(getattr(volume, "data", volume))
    geometry = _geometry(volume.shape, axis, size)
    return _place(_stack(volume, geometry), geometry, 0, np.float32), geometry


def labels_to_slices(labels: np.ndarray, geometry: SliceGeometry, fill: int = 0) -> np.ndarray:
    """Cut labels exactly like the image they belong to.

    Parameters
    ----------
    labels : np.ndarray
        Same shape as the volume given to :func:`to_slices`.
    geometry : SliceGeometry
    fill : int
        Value of padded pixels: ``-1`` (ignored) for scribble targets, ``0`` for dense masks.

    Returns
    -------
    np.ndarray
        ``(S, H, W)``; dtype of ``labels`` widened if needed to hold ``fill``.

    Raises
    ------
    ShapeMismatchError
        ``labels.shape`` differs from the volume's shape.
    """
    labels = np.asarray(getattr(labels, "data", labels))
    if tuple(labels.shape) != geometry.shape:
        raise ShapeMismatchError(
            f"Labels have shape {tuple(labels.shape)} but the image has shape {geometry.shape}; "
            "labels must be drawn on the same grid as the image."
        )
    dtype = np.result_type(labels.dtype, np.min_scalar_type(fill))
    return _place(_stack(labels, geometry), geometry, fill, dtype)


def from_slices(arr: np.ndarray, geometry: SliceGeometry, fill=0) -> np.ndarray:
    """Undo :func:`to_slices`: slices back to the volume's shape and axis order.

    Parameters
    ----------
    arr : np.ndarray
        ``(S, H, W)`` or ``(S, C, H, W)`` (e.g. class probabilities).
    geometry : SliceGeometry
    fill : scalar
        Value for voxels that were cropped away (they have no slice data).

    Returns
    -------
    np.ndarray
        ``geometry.shape`` for ``(S, H, W)`` input, ``(C, *geometry.shape)`` for
        ``(S, C, H, W)``; dtype of ``arr``.

    Raises
    ------
    ShapeMismatchError
        ``S`` or ``(H, W)`` do not match ``geometry``.
    """
    arr = np.asarray(arr)
    ok = arr.ndim in (3, 4) and arr.shape[0] == geometry.num_slices
    if not ok or tuple(arr.shape[-2:]) != geometry.size:
        raise ShapeMismatchError(
            f"Expected slices of shape ({geometry.num_slices}, [C,] {geometry.size[0]}, "
            f"{geometry.size[1]}) for this volume, got {arr.shape}."
        )
    src, dst = geometry.windows()
    lead = arr.shape[:-2]
    native = np.full((*lead, *geometry.native), fill, dtype=arr.dtype)
    native[..., src[0], src[1]] = arr[..., dst[0], dst[1]]
    if arr.ndim == 4:
        native = np.moveaxis(native, 1, 0)  # (C, S, h, w)
        if geometry.axis is None:
            return np.ascontiguousarray(native[:, 0])
        return np.ascontiguousarray(np.moveaxis(native, 1, geometry.axis + 1))
    if geometry.axis is None:
        return native[0]
    return np.ascontiguousarray(np.moveaxis(native, 0, geometry.axis))
