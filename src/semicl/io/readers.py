"""Read images and masks from NIfTI, TIFF and PNG files into :class:`ImageVolume`.

* NIfTI (``.nii``, ``.nii.gz``) via nibabel: the array as nibabel returns it, spacing
  from the header zooms, affine and header kept (so a mask can be written "like" it).
* TIFF (``.tif``, ``.tiff``) via tifffile: 2-D or 3-D (``Z, Y, X``); spacing from ImageJ
  metadata (``spacing`` for Z, ``XResolution``/``YResolution`` for X/Y) or from OME
  ``PhysicalSize*``; 1.0 otherwise.
* PNG via scikit-image: 2-D grayscale; RGB(A) only when the colour channels are equal.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from semicl.errors import (
    CorruptFileError,
    InvalidImageError,
    LabelError,
    SemiclError,
    UnsupportedFormatError,
)
from semicl.io.volume import ImageVolume

NIFTI_SUFFIXES = (".nii.gz", ".nii")
TIFF_SUFFIXES = (".tif", ".tiff")
PNG_SUFFIXES = (".png",)
READ_SUFFIXES = NIFTI_SUFFIXES + TIFF_SUFFIXES + PNG_SUFFIXES


def file_format(path: str | Path, supported: tuple[str, ...] = READ_SUFFIXES) -> str:
    """Return ``'nifti'``, ``'tiff'`` or ``'png'`` from the file name.

    Raises
    ------
    UnsupportedFormatError
        When the suffix is not one of ``supported``.
    """
    name = Path(path).name.lower()
    kinds = (("nifti", NIFTI_SUFFIXES), ("tiff", TIFF_SUFFIXES), ("png", PNG_SUFFIXES))
    for fmt, suffixes in kinds:
        if any(name.endswith(s) for s in suffixes if s in supported):
            return fmt
    raise UnsupportedFormatError(
        f"Cannot handle '{Path(path).name}': supported file types are "
        f"{', '.join(supported)}. Convert the file to one of these (e.g. NIfTI or TIFF)."
    )


def read_image(path: str | Path) -> ImageVolume:
    """Read a 2-D or 3-D image.

    Parameters
    ----------
    path : str or Path
        ``.nii``, ``.nii.gz``, ``.tif``, ``.tiff`` or ``.png`` file.

    Returns
    -------
    ImageVolume
        ``data`` 2-D ``(H, W)`` or 3-D, dtype as stored (uint8, int16, float32, ...).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    UnsupportedFormatError
        Unknown suffix.
    CorruptFileError
        The file cannot be decoded (truncated, not really that format).
    InvalidImageError
        The image is not 2-D/3-D grayscale (e.g. colour PNG, multi-channel volume).
    """
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image file not found: {path}. Check the path.")
    reader = {"nifti": _read_nifti, "tiff": _read_tiff, "png": _read_png}[fmt]
    try:
        vol = reader(path)
    except (SemiclError, MemoryError):
        raise
    except Exception as exc:  # decoding boundary: any library failure means a bad file
        raise CorruptFileError(
            f"Could not read {path} as {fmt.upper()} ({type(exc).__name__}: {exc}). The file "
            "is truncated or not a valid image; re-export or re-download it."
        ) from exc
    return vol


def read_mask(path: str | Path) -> ImageVolume:
    """Read a label image; like :func:`read_image` but the values must be whole numbers.

    Returns
    -------
    ImageVolume
        ``data`` with an integer dtype (float files holding whole numbers are converted to
        the smallest integer type that holds them).

    Raises
    ------
    LabelError
        Fractional, NaN or infinite values.
    """
    vol = read_image(path)
    vol.data = _as_integer_labels(vol.data, Path(path))
    return vol


def _as_integer_labels(data: np.ndarray, path: Path) -> np.ndarray:
    data = np.asarray(data)
    if data.dtype == bool:
        return data.astype(np.uint8)
    if data.dtype.kind in "iu":
        return data
    if data.dtype.kind != "f":
        raise LabelError(
            f"Labels in {path} have dtype {data.dtype}; save them as an integer image."
        )
    if not np.all(np.isfinite(data)) or not np.all(data == np.round(data)):
        raise LabelError(
            f"Labels in {path} contain fractional, NaN or infinite values; a label image "
            "must hold whole numbers (0 = background, 1, 2, ... structures). Was the mask "
            "resampled with linear interpolation? Re-export it with nearest-neighbour."
        )
    lo = float(data.min()) if data.size else 0.0
    hi = float(data.max()) if data.size else 0.0
    for dtype in (np.uint8, np.uint16, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return data.astype(dtype)
    raise LabelError(f"Labels in {path} are out of the integer range ({lo}..{hi}).")


def _check_ndim(data: np.ndarray, path: Path) -> np.ndarray:
    if data.ndim > 3:  # drop singleton trailing axes such as a NIfTI time axis of length 1
        extra = [ax for ax in range(data.ndim) if data.shape[ax] == 1]
        while data.ndim > 3 and extra:
            data = np.squeeze(data, axis=extra.pop())
    if data.ndim not in (2, 3):
        raise InvalidImageError(
            f"{path} has shape {data.shape}; only 2-D (H, W) and 3-D single-channel images are "
            "supported. Extract one channel/time point first."
        )
    return data


def _read_nifti(path: Path) -> ImageVolume:
    import nibabel as nib

    img = nib.load(str(path))
    data = np.asanyarray(img.dataobj)
    data = _check_ndim(data, path)
    zooms = tuple(float(z) for z in img.header.get_zooms()[: data.ndim])
    zooms = zooms + (1.0,) * (data.ndim - len(zooms))
    return ImageVolume(data=data, spacing=zooms, affine=img.affine, path=path, header=img.header)


def _read_tiff(path: Path) -> ImageVolume:
    import tifffile

    with tifffile.TiffFile(str(path)) as tif:
        series = tif.series[0]
        data = series.asarray()
        axes = series.axes
        ij = tif.imagej_metadata or {}
        page = tif.pages[0]
        ome = tif.ome_metadata if tif.is_ome else None
        xres = _resolution(page.tags.get("XResolution"))
        yres = _resolution(page.tags.get("YResolution"))
    if "S" in axes:  # samples (RGB) axis
        data = _gray_from_samples(np.moveaxis(data, axes.index("S"), -1), path)
    data = _check_ndim(data, path)

    spacing_xy = (1.0, 1.0)
    spacing_z = 1.0
    unit = None
    if ome is not None:
        spacing_z, spacing_xy, unit = _ome_spacing(ome)
    elif ij:
        spacing_xy = (_inverse(yres), _inverse(xres))
        spacing_z = float(ij.get("spacing", 1.0))
        unit = ij.get("unit")
    spacing = spacing_xy if data.ndim == 2 else (spacing_z, *spacing_xy)
    header = {"format": "tiff", "unit": unit, "class_names": _class_names(ij), "metadata": dict(ij)}
    return ImageVolume(data=data, spacing=spacing, path=path, header=header)


def _resolution(tag) -> float | None:
    if tag is None:
        return None
    value = tag.value
    if isinstance(value, tuple):
        num, den = value[0], value[1]
        return num / den if den else None
    return float(value)


def _inverse(res: float | None) -> float:
    return 1.0 / res if res else 1.0


def _ome_spacing(ome_xml: str) -> tuple[float, tuple[float, float], str | None]:
    root = ET.fromstring(ome_xml)
    pixels = next((el for el in root.iter() if el.tag.endswith("Pixels")), None)
    if pixels is None:
        return 1.0, (1.0, 1.0), None
    get = lambda key: float(pixels.get(key, 1.0))  # noqa: E731
    unit = pixels.get("PhysicalSizeXUnit")
    return get("PhysicalSizeZ"), (get("PhysicalSizeY"), get("PhysicalSizeX")), unit


def _class_names(ij: dict) -> list[str] | None:
    raw = ij.get("class_names")
    if raw is None:
        return None
    try:
        names = json.loads(raw) if isinstance(raw, str) else list(raw)
    except ValueError:
        return None
    return [str(n) for n in names] if isinstance(names, list) else None


def _gray_from_samples(data: np.ndarray, path: Path) -> np.ndarray:
    """``(..., C)`` colour samples to grayscale when all colour channels are equal."""
    channels = data.shape[-1]
    if channels in (1, 2):  # gray or gray + alpha
        return data[..., 0]
    colour = data[..., :3]
    red = colour[..., 0]
    if not (np.array_equal(red, colour[..., 1]) and np.array_equal(red, colour[..., 2])):
        raise InvalidImageError(
            f"{path} is a colour image; only grayscale images are supported. Convert it to "
            "grayscale (e.g. in Fiji: Image > Type > 8-bit) and load it again."
        )
    return colour[..., 0]


def _read_png(path: Path) -> ImageVolume:
    from skimage.io import imread

    data = np.asarray(imread(str(path)))
    if data.ndim == 3:
        data = _gray_from_samples(data, path)
    if data.ndim != 2:
        raise InvalidImageError(
            f"{path} has shape {data.shape}; a PNG must be a 2-D grayscale image."
        )
    return ImageVolume(data=data, spacing=(1.0, 1.0), path=path, header={"format": "png"})
