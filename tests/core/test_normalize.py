"""normalize_intensity."""

from __future__ import annotations

import numpy as np
import pytest

from semicl.data.normalize import normalize_intensity
from semicl.errors import InvalidImageError


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_range_and_dtype(rng, dtype):
    vol = (rng.random((6, 7, 8)) * 200).astype(dtype)
    out = normalize_intensity(vol)
    assert out.dtype == np.float32 and out.shape == vol.shape
    assert out.min() == 0.0 and out.max() == 1.0


def test_percentile_clip_ignores_outlier(rng):
    vol = rng.random((20, 20, 20)).astype(np.float32)
    vol[0, 0, 0] = 1e6
    out = normalize_intensity(vol)
    assert out[0, 0, 0] == 1.0
    assert np.median(out) > 0.3  # not squashed towards 0 by the outlier
    plain = normalize_intensity(vol, 0, 100)
    assert np.median(plain) < 1e-5


def test_sparse_image_falls_back_to_minmax():
    vol = np.zeros((50, 50), np.uint8)
    vol[0, 0] = 9
    out = normalize_intensity(vol)
    assert out[0, 0] == 1.0 and out.sum() == 1.0


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite(bad):
    vol = np.ones((3, 3), np.float32)
    vol[1, 1] = bad
    with pytest.raises(InvalidImageError, match="NaN"):
        normalize_intensity(vol)


def test_constant_and_empty():
    with pytest.raises(InvalidImageError, match="constant"):
        normalize_intensity(np.full((4, 4), 7, np.uint8))
    with pytest.raises(InvalidImageError, match="empty"):
        normalize_intensity(np.zeros((0, 4)))


def test_bad_percentiles():
    with pytest.raises(ValueError, match="lower < upper"):
        normalize_intensity(np.arange(4.0), 50, 10)


def test_real_msd_both_dtypes(msd_dir):
    from semicl.io.readers import read_image

    for cid in ("hippocampus_001", "hippocampus_003"):
        out = normalize_intensity(read_image(msd_dir / "imagesTr" / f"{cid}.nii.gz").data)
        assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0
