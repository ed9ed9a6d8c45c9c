"""write_mask and write_image round-trips and atomicity."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

import semicl.io.writers as writers
from semicl.errors import (
    InvalidImageError,
    LabelError,
    ShapeMismatchError,
    UnsupportedFormatError,
)
from semicl.io.readers import read_image, read_mask
from semicl.io.volume import ImageVolume
from semicl.io.writers import write_image, write_mask


@pytest.fixture()
def like(tmp_path) -> ImageVolume:
    affine = np.array([[0, -1.5, 0, 10], [2.0, 0, 0, -5], [0, 0, 3.0, 1], [0, 0, 0, 1]])
    img = nib.Nifti1Image(np.random.default_rng(0).random((4, 5, 6)).astype(np.float32), affine)
    nib.save(img, str(tmp_path / "img.nii.gz"))
    return read_image(tmp_path / "img.nii.gz")


def _mask(shape, hi=3, seed=0):
    return np.random.default_rng(seed).integers(0, hi, shape).astype(np.int64)


def test_nifti_roundtrip_like(tmp_path, like):
    mask = _mask(like.shape)
    out = write_mask(tmp_path / "m.nii.gz", mask, like=like, class_names=["bg", "a", "b"])
    back = read_mask(out)
    assert back.data.dtype == np.uint8 and np.array_equal(back.data, mask)
    assert np.allclose(back.affine, like.affine)
    assert back.spacing == pytest.approx(like.spacing)
    assert nib.load(str(out)).get_data_dtype() == np.uint8


def test_nifti_uint16_and_spacing_without_like(tmp_path):
    mask = np.zeros((3, 4, 5), dtype=np.int32)
    mask[0, 0, 0] = 300
    back = read_mask(write_mask(tmp_path / "m.nii", mask, spacing=(0.5, 0.5, 2.0)))
    assert back.data.dtype == np.uint16 and back.data[0, 0, 0] == 300
    assert back.spacing == (0.5, 0.5, 2.0)


def test_shape_must_match_like(tmp_path, like):
    with pytest.raises(ShapeMismatchError, match="shape"):
        write_mask(tmp_path / "m.nii.gz", np.zeros((4, 5, 7), np.uint8), like=like)


def test_tiff_roundtrip_metadata(tmp_path):
    mask = _mask((3, 7, 9))
    names = ["background", "cell", "x"]
    out = write_mask(
        tmp_path / "m.tif", mask, spacing=(2.0, 0.5, 0.25), class_names=names, unit="um"
    )
    back = read_mask(out)
    assert back.data.dtype == np.uint8 and np.array_equal(back.data, mask)
    assert back.spacing == pytest.approx((2.0, 0.5, 0.25))
    assert back.header["unit"] == "um"
    assert back.header["class_names"] == ["background", "cell", "x"]


def test_tiff_from_nifti_like_keeps_spacing(tmp_path, like):
    mask = _mask(like.shape)
    back = read_mask(write_mask(tmp_path / "m.tiff", mask, like=like))
    assert np.array_equal(back.data, mask) and back.spacing == pytest.approx(like.spacing)
    assert back.header["unit"] == "mm"


def test_bad_masks(tmp_path):
    with pytest.raises(LabelError, match="negative"):
        write_mask(tmp_path / "m.tif", -np.ones((2, 2), np.int64))
    with pytest.raises(LabelError, match="class names"):
        write_mask(tmp_path / "m.tif", np.full((2, 2), 3), class_names=["a", "b"])
    with pytest.raises(UnsupportedFormatError):
        write_mask(tmp_path / "m.png", np.zeros((2, 2), np.uint8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "hook"), [("m.nii.gz", "_save_nifti"), ("m.tif", "_save_tiff")])
def test_existing_file_untouched_on_failure(tmp_path, monkeypatch, name, hook):
    target = tmp_path / name
    write_mask(target, np.ones((3, 4, 5), np.uint8))
    before = target.read_bytes()

    def failing(*args, **kwargs):
        path = args[1] if hook == "_save_nifti" else args[0]
        with open(path, "wb") as fh:
            fh.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(writers, hook, failing)
    with pytest.raises(OSError, match="disk full"):
        write_mask(target, np.zeros((3, 4, 5), np.uint8))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_mask(tmp_path / "no" / "m.tif", np.zeros((2, 2), np.uint8))


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32", "int8", "int32",
                                   "uint32", "float64"])
@pytest.mark.parametrize("suffix", [".tif", ".nii.gz"])
def test_write_image_keeps_values_type_and_spacing(tmp_path, dtype, suffix):
    image = (np.random.default_rng(0).random((3, 5, 6)) * 100 - 20).astype(dtype)
    out = write_image(tmp_path / f"img{suffix}", image, spacing=(2.0, 0.5, 0.25))
    back = read_image(out)
    assert back.data.dtype == image.dtype
    np.testing.assert_array_equal(back.data, image)
    assert back.spacing == pytest.approx((2.0, 0.5, 0.25))


def test_write_image_2d_like_and_odd_types(tmp_path, like):
    flat = np.linspace(0, 1, 20, dtype=np.float16).reshape(4, 5)
    back = read_image(write_image(tmp_path / "flat.tif", flat, spacing=(0.5, 0.25)))
    assert back.data.dtype == np.float32 and back.spacing == pytest.approx((0.5, 0.25))
    mask = read_image(write_image(tmp_path / "b.tif", np.eye(4, dtype=bool)))
    assert mask.data.dtype == np.uint8 and mask.data.sum() == 4
    copy = read_image(write_image(tmp_path / "copy.nii.gz", like))  # an ImageVolume as it is
    np.testing.assert_array_equal(copy.data, like.data)
    np.testing.assert_allclose(copy.affine, like.affine)
    with pytest.raises(ShapeMismatchError, match="Image shape"):
        write_image(tmp_path / "x.tif", np.zeros((2, 2), np.float32), like=like)
    with pytest.raises(InvalidImageError, match="2-D or 3-D"):
        write_image(tmp_path / "x.tif", np.zeros((2, 2, 2, 2), np.float32))
    with pytest.raises(InvalidImageError, match="numeric"):
        write_image(tmp_path / "x.tif", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(UnsupportedFormatError):
        write_image(tmp_path / "x.png", flat)
