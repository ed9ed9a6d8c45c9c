"""normalize_intensity."""

from __future__ import annotations

import numpy as np
import pytest

from semicl.data.normalize import level_slices, normalize_intensity
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


def _reference_level(vol, window=5, q=(5.0, 95.0)):
    """Obviously correct: slice by slice, the running median of the neighbours' quantiles
    (clamped at the ends) and the affine map that takes the slice's quantiles onto it."""
    lo = [np.percentile(s, q[0]) for s in vol]
    hi = [np.percentile(s, q[1]) for s in vol]
    out = []
    for z, s in enumerate(vol):
        idx = [min(max(z + d, 0), len(vol) - 1) for d in range(-(window // 2), window // 2 + 1)]
        rlo, rhi = np.median([lo[i] for i in idx]), np.median([hi[i] for i in idx])
        a = (rhi - rlo) / (hi[z] - lo[z])
        out.append(np.clip(a * (s - lo[z]) + rlo, 0, 1))
    return np.stack(out)


def test_level_slices_removes_a_jump_the_neighbours_do_not_share(rng):
    vol = (0.25 + 0.5 * rng.random((7, 12, 10))).astype(np.float32)
    jumped = vol.copy()
    jumped[3] = jumped[3] * 0.6 + 0.02  # one section darker and flatter
    out = level_slices(jumped, axis=0)
    assert out.dtype == np.float32 and out.shape == vol.shape
    np.testing.assert_allclose(out, _reference_level(jumped), atol=1e-5)
    for q in (5, 50, 95):  # the dark section back among its neighbours
        assert abs(np.percentile(out[3], q) - np.percentile(vol[3], q)) < 0.03
    # along another axis: the same numbers
    moved = level_slices(np.moveaxis(jumped, 0, 2), axis=2)
    np.testing.assert_allclose(np.moveaxis(moved, 2, 0), out, atol=1e-6)


def test_level_slices_leaves_smooth_volumes_2d_images_and_flat_slices():
    z = np.linspace(0.2, 0.6, 9)[:, None, None]  # brightness changing smoothly along z
    ramp = (z + 0.3 * np.indices((9, 8, 8))[2] / 8).astype(np.float32)
    np.testing.assert_allclose(level_slices(ramp, 0)[2:-2], ramp[2:-2], atol=1e-5)
    img = np.random.default_rng(1).random((8, 8)).astype(np.float32)
    assert level_slices(img, 0) is not None and np.array_equal(level_slices(img, 0), img)
    flat = np.zeros((5, 6, 6), np.float32)
    flat[:, :3] = 0.5  # every slice the same two levels ...
    flat[2] = 0.0  # ... and one empty slice (no spread to match): left as it is
    np.testing.assert_array_equal(level_slices(flat, 0), flat)
