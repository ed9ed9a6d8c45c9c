"""Write label masks and images to NIfTI or TIFF, atomically.

NIfTI keeps the affine and header of the image the mask belongs to (``like``), so the mask
overlays the image in any viewer. TIFF is written ImageJ-compatible: X/Y resolution,
``spacing`` (Z), ``unit`` and ``axes`` in the ImageJ description, plus the class names as a
JSON list under ``class_names`` (ImageJ ignores the extra key; :func:`read_image` returns it
in ``header['class_names']``). Images of a type ImageJ cannot hold (int8, int32, float64,
...) are written as OME-TIFF, whose physical sizes :func:`read_image` reads as well.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semicl.errors import InvalidImageError, LabelError, ShapeMismatchError
from semicl.io.atomic import atomic_path
from semicl.io.readers import NIFTI_SUFFIXES, TIFF_SUFFIXES, file_format
from semicl.io.volume import ImageVolume
from semicl.labels import mask_dtype

WRITE_SUFFIXES = NIFTI_SUFFIXES + TIFF_SUFFIXES
#: the pixel types a TIFF in ImageJ's format holds (tifffile); others go to OME-TIFF
IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int16),
                 np.dtype(np.float32))


def write_mask(
    path: str | Path,
    mask: np.ndarray | ImageVolume,
    *,
    like: ImageVolume | None = None,
    spacing: Sequence[float] | None = None,
    class_names: Sequence[str] | None = None,
    unit: str | None = None,
) -> Path:
    """Save a label mask; the suffix of ``path`` picks the format.

    Parameters
    ----------
    path : str or Path
        ``.nii``, ``.nii.gz``, ``.tif`` or ``.tiff``. An existing file is replaced only once
        the new one is completely written.
    mask : np.ndarray or ImageVolume
        2-D ``(H, W)`` or 3-D integer-valued array, values ``>= 0`` (0 background,
        ``k`` structure ``k``). Stored as uint8 if ``max < 256``, else uint16
        (:func:`semicl.labels.mask_dtype`).
    like : ImageVolume, optional
        The image the mask belongs to: its affine/header (NIfTI) and spacing/unit are used.
        ``mask.shape`` must equal ``like.data.shape``.
    spacing : sequence of float, optional
        One value per mask axis; used when ``like`` gives no geometry. Defaults to 1.0.
    class_names : sequence of str, optional
        Names of classes ``0..K-1``; stored in the TIFF metadata (NIfTI: the ``descrip``
        field, truncated to 80 characters).
    unit : str, optional
        TIFF spacing unit; defaults to ``like``'s unit, ``'mm'`` for NIfTI-derived data.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    UnsupportedFormatError, ShapeMismatchError, LabelError, FileNotFoundError
    """
    path = Path(path)
    fmt = file_format(path, WRITE_SUFFIXES)
    data = _compact_mask(_array(mask), class_names)
    return _write(path, fmt, data, like, spacing, unit, class_names, kind="mask")


def write_image(
    path: str | Path,
    image: np.ndarray | ImageVolume,
    *,
    like: ImageVolume | None = None,
    spacing: Sequence[float] | None = None,
    unit: str | None = None,
) -> Path:
    """Save an intensity image of any numeric type; the suffix of ``path`` picks the format.

    As :func:`write_mask` (atomic; ``like``, ``spacing`` and ``unit`` alike), but the values
    are kept as they are: the type is kept too, except bool (stored as uint8) and float16
    (float32). TIFF: ImageJ format for uint8, uint16, int16 and float32, OME-TIFF for the
    other types (both keep the spacing for :func:`semicl.io.readers.read_image`). An
    :class:`ImageVolume` without ``like`` is written with its own geometry.

    Raises
    ------
    UnsupportedFormatError, InvalidImageError, ShapeMismatchError, FileNotFoundError
    """
    path = Path(path)
    fmt = file_format(path, WRITE_SUFFIXES)
    data = _image_array(_array(image))
    if like is None and isinstance(image, ImageVolume):
        like = image
    return _write(path, fmt, data, like, spacing, unit, None, kind="image")


def _array(arr: np.ndarray | ImageVolume) -> np.ndarray:
    return arr.data if isinstance(arr, ImageVolume) else np.asarray(arr)


def _write(path: Path, fmt: str, data: np.ndarray, like: ImageVolume | None,
           spacing: Sequence[float] | None, unit: str | None,
           class_names: Sequence[str] | None, *, kind: str) -> Path:
    """Write checked ``data`` (a mask or an image: ``kind``) in ``fmt`` to ``path``."""
    if like is not None and tuple(like.data.shape) != data.shape:
        raise ShapeMismatchError(
            f"{kind.capitalize()} shape {data.shape} differs from the reference image shape "
            f"{tuple(like.data.shape)}; a {kind} must have exactly the image's shape."
        )
    spacing = _spacing(data, like, spacing)
    with atomic_path(path) as tmp:
        if fmt == "nifti":
            _write_nifti(tmp, data, like, spacing, class_names, mask=kind == "mask")
        else:
            _write_tiff(tmp, data, spacing, _unit(like, unit), class_names)
    return path


def _image_array(data: np.ndarray) -> np.ndarray:
    if data.ndim not in (2, 3):
        raise InvalidImageError(f"An image must be 2-D or 3-D, got shape {data.shape}.")
    if data.dtype == bool:
        return data.astype(np.uint8)
    if data.dtype == np.float16:
        return data.astype(np.float32)
    if data.dtype.kind not in "iuf":
        raise InvalidImageError(f"An image must be numeric, got dtype {data.dtype}.")
    return data


def _compact_mask(data: np.ndarray, class_names: Sequence[str] | None) -> np.ndarray:
    if data.ndim not in (2, 3):
        raise ShapeMismatchError(f"A mask must be 2-D or 3-D, got shape {data.shape}.")
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data)) or not np.all(data == np.round(data)):
            raise LabelError(
                "A mask must hold whole numbers; round or argmax the prediction first."
            )
    elif data.dtype.kind not in "iu":
        raise LabelError(f"A mask must be an integer array, got dtype {data.dtype}.")
    lo = int(data.min()) if data.size else 0
    hi = int(data.max()) if data.size else 0
    if lo < 0:
        raise LabelError(
            f"Mask contains negative value {lo}; masks use 0 = background and 1, 2, ... for "
            "structures (ignored pixels, -1, cannot be saved in a mask)."
        )
    dtype = mask_dtype(hi)
    if class_names is not None and hi >= len(class_names):
        raise LabelError(
            f"Mask contains class {hi} but only {len(class_names)} class names were given; "
            "pass a name for every class 0..K-1."
        )
    return data.astype(dtype)


def _spacing(
    data: np.ndarray, like: ImageVolume | None, spacing: Sequence[float] | None
) -> tuple[float, ...]:
    if spacing is not None:
        spacing = tuple(float(s) for s in spacing)
    elif like is not None:
        spacing = tuple(like.spacing)
    else:
        spacing = (1.0,) * data.ndim
    if len(spacing) != data.ndim:
        raise ShapeMismatchError(f"spacing {spacing} needs one value per mask axis ({data.ndim}).")
    return spacing


def _unit(like: ImageVolume | None, unit: str | None) -> str:
    if unit:
        return unit
    if like is not None and isinstance(like.header, dict) and like.header.get("unit"):
        return str(like.header["unit"])
    if like is not None and like.affine is not None:
        return "mm"
    return "pixel"


def _write_nifti(
    tmp: Path, data: np.ndarray, like: ImageVolume | None, spacing, class_names, *, mask: bool
) -> None:
    import nibabel as nib

    header = like.header if like is not None else None
    if isinstance(header, nib.Nifti2Header):
        cls, header = nib.Nifti2Image, header.copy()
    elif isinstance(header, nib.Nifti1Header):
        cls, header = nib.Nifti1Image, header.copy()
    else:
        cls, header = nib.Nifti1Image, None
    if like is not None and like.affine is not None:
        affine = like.affine
    else:
        affine = np.diag([*spacing, *(1.0,) * (3 - len(spacing)), 1.0])
    img = cls(data, affine, header)
    img.header.set_data_dtype(data.dtype)
    img.header.set_slope_inter(1.0, 0.0)
    # display range: masks 0..the highest class, images their own range
    img.header["cal_min"] = 0 if mask or not data.size else data.min()
    img.header["cal_max"] = data.max() if data.size else 0
    if class_names is not None:
        img.header["descrip"] = ("classes: " + ", ".join(class_names)).encode()[:79]
    _save_nifti(img, tmp)


def _write_tiff(tmp: Path, data: np.ndarray, spacing, unit: str, class_names) -> None:
    axes = "YX" if data.ndim == 2 else "ZYX"
    sy, sx = spacing[-2], spacing[-1]
    resolution = (1.0 / sx, 1.0 / sy)
    if data.dtype not in IMAGEJ_DTYPES:  # images only: OME, physical sizes in ``unit``
        sizes: dict[str, object] = {}
        for a, s in zip(axes, spacing, strict=True):
            sizes[f"PhysicalSize{a}"], sizes[f"PhysicalSize{a}Unit"] = s, unit
        _save_tiff(tmp, data, ome=True, resolution=resolution, metadata={"axes": axes, **sizes},
                   photometric="minisblack")
        return
    metadata: dict[str, object] = {"axes": axes, "unit": unit}
    if data.ndim == 3:
        metadata["spacing"] = spacing[0]
    if class_names is not None:
        metadata["class_names"] = json.dumps([str(n) for n in class_names])
    _save_tiff(tmp, data, imagej=True, resolution=resolution, metadata=metadata,
               photometric="minisblack")


def _save_nifti(img, path: Path) -> None:
    """Low-level NIfTI write (a seam for tests that simulate a failing disk)."""
    import nibabel as nib

    nib.save(img, str(path))


def _save_tiff(path: Path, data: np.ndarray, **kwargs) -> None:
    """Low-level TIFF write (a seam for tests that simulate a failing disk)."""
    import tifffile

    tifffile.imwrite(str(path), data, **kwargs)
