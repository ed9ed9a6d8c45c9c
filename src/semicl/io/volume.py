"""The in-memory image volume shared by readers, writers and the rest of the engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semicl.errors import InvalidImageError


@dataclass
class ImageVolume:
    """An image (or mask) as stored on disk, with its geometry.

    Parameters
    ----------
    data : np.ndarray
        2-D ``(H, W)`` or 3-D array, in the axis order of the file (NIfTI: ``(i, j, k)``
        voxel axes; TIFF: ``(Z, Y, X)``). The dtype is kept as stored.
    spacing : tuple of float
        Physical size of a pixel/voxel, one entry per axis of ``data`` (1.0 when unknown).
    affine : np.ndarray or None
        ``(4, 4)`` voxel-to-world matrix (NIfTI only).
    path : Path or None
        The file this volume was read from.
    header : object or None
        Format metadata: the nibabel header for NIfTI (used to write a mask "like" the
        input), a dict for TIFF (``unit``, ``class_names``, raw ``metadata``).
    """

    data: np.ndarray
    spacing: tuple[float, ...]
    affine: np.ndarray | None = None
    path: Path | None = None
    header: object | None = None

    def __post_init__(self) -> None:
        self.data = np.asanyarray(self.data)
        self.spacing = tuple(float(s) for s in self.spacing)
        if len(self.spacing) != self.data.ndim:
            raise InvalidImageError(
                f"spacing {self.spacing} has {len(self.spacing)} entries but the image has "
                f"{self.data.ndim} axes (shape {self.data.shape}); give one spacing per axis."
            )
        if self.affine is not None:
            self.affine = np.asarray(self.affine, dtype=np.float64)
            if self.affine.shape != (4, 4):
                raise InvalidImageError(f"affine must be 4x4, got shape {self.affine.shape}.")
        if self.path is not None:
            self.path = Path(self.path)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of ``data``."""
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        """Number of axes of ``data`` (2 or 3)."""
        return int(self.data.ndim)
