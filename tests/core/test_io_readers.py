"""read_image / read_mask on synthetic files and the real MSD, ISBI data."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
import tifffile

from semicl.errors import CorruptFileError, InvalidImageError, LabelError, UnsupportedFormatError
from semicl.io.readers import read_image, read_mask


def _nifti(path, data, zooms=(1.0, 2.0, 3.0)):
    img = nib.Nifti1Image(data, np.diag([*zooms, 1.0]))
    nib.save(img, str(path))
    return path


def test_nifti_keeps_dtype_spacing_affine(tmp_path):
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    vol = read_image(_nifti(tmp_path / "a.nii.gz", data))
    assert vol.data.dtype == np.int16 and np.array_equal(vol.data, data)
    assert vol.spacing == (1.0, 2.0, 3.0)
    assert np.allclose(np.diag(vol.affine), [1, 2, 3, 1])
    assert vol.header is not None and vol.path.name == "a.nii.gz"


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.nii.gz"):
        read_image(tmp_path / "nope.nii.gz")


def test_unknown_suffix_lists_supported(tmp_path):
    p = tmp_path / "x.jpg"
    p.write_bytes(b"\xff\xd8")
    with pytest.raises(UnsupportedFormatError, match=r"\.nii\.gz.*\.tif"):
        read_image(p)


def test_truncated_nifti_is_corrupt(tmp_path):
    data = np.random.default_rng(0).random((20, 20, 20), dtype=np.float32)
    full = _nifti(tmp_path / "full.nii.gz", data)
    raw = full.read_bytes()
    bad = tmp_path / "trunc.nii.gz"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptFileError, match="trunc.nii.gz"):
        read_image(bad)
    plain = tmp_path / "trunc.nii"
    plain.write_bytes(gzip.decompress(raw)[:200])
    with pytest.raises(CorruptFileError):
        read_image(plain)


def test_garbage_tif_is_corrupt(tmp_path):
    p = tmp_path / "g.tif"
    p.write_bytes(b"this is not a tiff file at all" * 10)
    with pytest.raises(CorruptFileError, match="g.tif"):
        read_image(p)


def test_tiff_imagej_spacing(tmp_path):
    data = np.random.default_rng(0).integers(0, 255, (3, 8, 10), dtype=np.uint8)
    p = tmp_path / "s.tif"
    meta = {"spacing": 2.0, "unit": "um"}
    tifffile.imwrite(p, data, imagej=True, resolution=(1 / 0.5, 1 / 0.25), metadata=meta)
    vol = read_image(p)
    assert np.array_equal(vol.data, data)
    assert vol.spacing == pytest.approx((2.0, 0.25, 0.5))
    assert vol.header["unit"] == "um"


def test_tiff_ome_spacing(tmp_path):
    data = np.zeros((2, 5, 6), dtype=np.uint16)
    p = tmp_path / "o.ome.tif"
    meta = {"axes": "ZYX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.4, "PhysicalSizeZ": 1.5}
    tifffile.imwrite(p, data, ome=True, metadata=meta)
    assert read_image(p).spacing == pytest.approx((1.5, 0.4, 0.3))


def test_plain_tiff_defaults_to_unit_spacing(tmp_path):
    p = tmp_path / "p.tiff"
    tifffile.imwrite(p, np.ones((4, 5), dtype=np.float32))
    vol = read_image(p)
    assert vol.shape == (4, 5) and vol.spacing == (1.0, 1.0)


def test_png_gray_and_equal_rgb(tmp_path):
    from skimage.io import imsave

    gray = np.arange(20, dtype=np.uint8).reshape(4, 5)
    imsave(tmp_path / "g.png", gray, check_contrast=False)
    assert np.array_equal(read_image(tmp_path / "g.png").data, gray)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    imsave(tmp_path / "rgb.png", rgb, check_contrast=False)
    assert np.array_equal(read_image(tmp_path / "rgb.png").data, gray)
    rgb[0, 0, 1] = 200
    imsave(tmp_path / "col.png", rgb, check_contrast=False)
    with pytest.raises(InvalidImageError, match="grayscale"):
        read_image(tmp_path / "col.png")


def test_read_mask_integer_checks(tmp_path):
    whole = _nifti(tmp_path / "w.nii.gz", np.array([[[0.0, 1.0], [2.0, 0.0]]], dtype=np.float32))
    m = read_mask(whole)
    assert m.data.dtype.kind in "iu" and m.data.max() == 2
    frac = _nifti(tmp_path / "f.nii.gz", np.array([[[0.0, 0.5], [2.0, 0.0]]], dtype=np.float32))
    with pytest.raises(LabelError, match="whole numbers"):
        read_mask(frac)


def test_real_msd_mixed_dtypes(msd_dir):
    u8 = read_image(msd_dir / "imagesTr" / "hippocampus_001.nii.gz")
    f32 = read_image(msd_dir / "imagesTr" / "hippocampus_003.nii.gz")
    assert u8.data.dtype == np.uint8 and f32.data.dtype == np.float32
    assert u8.spacing == (1.0, 1.0, 1.0)
    lab = read_mask(msd_dir / "labelsTr" / "hippocampus_003.nii.gz")
    assert lab.shape == f32.shape and set(np.unique(lab.data)) <= {0, 1, 2}


def test_real_isbi_tif(data_dir):
    p = data_dir / "isbi2012_em" / "train-labels.tif"
    if not p.is_file():
        pytest.skip("ISBI data not present")
    vol = read_mask(p)
    assert vol.shape == (24, 512, 512) and vol.data.dtype == np.uint8
