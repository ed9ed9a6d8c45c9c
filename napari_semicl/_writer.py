"""npe2 writer: a Labels layer as a mask file (TIFF or NIfTI) with its spacing and class names.

Written values are the layer's values: for the "prediction" layer that is the mask
convention (0 = background, k = structure k). A NIfTI mask of an image opened with this
plugin reuses the image's affine and header, so it overlays the scan in other tools.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from semicl.io.volume import ImageVolume


def _like(source: str | None, path: str) -> ImageVolume | None:
    """The source image volume (for its NIfTI affine/header) when writing NIfTI."""
    if not source or not path.lower().endswith((".nii", ".nii.gz")):
        return None
    if not str(source).lower().endswith((".nii", ".nii.gz")) or not Path(source).is_file():
        return None
    from semicl.io.readers import read_image

    return read_image(source)


def write_mask_layer(path: str, data: np.ndarray, attributes: dict) -> list[str]:
    """npe2 single-layer writer; returns the written path. The engine's
    :func:`~semicl.io.writers.write_mask` checks the values and picks the integer type."""
    from semicl.io.writers import write_mask

    meta = attributes.get("metadata") or {}
    mask = np.asarray(data)
    scale = attributes.get("scale")
    spacing = tuple(float(s) for s in scale) if scale is not None else None
    if spacing is not None and len(spacing) != mask.ndim:
        spacing = spacing[-mask.ndim:]
    like = _like(meta.get("semicl_source"), str(path))
    if like is not None and tuple(like.shape) != tuple(mask.shape):
        like = None
    names = meta.get("semicl_class_names")
    out = write_mask(path, mask, like=like, spacing=spacing,
                     class_names=list(names) if names else None)
    return [str(out)]
