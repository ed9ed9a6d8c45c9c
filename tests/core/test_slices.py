"""to_slices / labels_to_slices / from_slices round trips."""

from __future__ import annotations

import numpy as np
import pytest

from semicl.data.slices import from_slices, labels_to_slices, to_slices
from semicl.errors import InvalidImageError, ShapeMismatchError


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("size", [None, (64, 64), (8, 9), (5, 40), (13, 3)])
def test_roundtrip_every_axis_and_size(rng, axis, size):
    vol = rng.random((7, 11, 10)).astype(np.float32)
    slices, geom = to_slices(vol, axis, size)
    assert slices.dtype == np.float32
    assert slices.shape == (vol.shape[axis], *(size or np.delete(vol.shape, axis % 3)))
    back = from_slices(slices, geom, fill=-5.0)
    assert back.shape == vol.shape
    kept = back != -5.0
    assert np.array_equal(back[kept], vol[kept])
    if size is None or all(t >= n for t, n in zip(size, geom.native)):
        assert kept.all()


def test_padding_is_centred_and_zero():
    vol = np.ones((2, 3, 4), np.uint8)
    slices, geom = to_slices(vol, 0, (7, 8))
    assert geom.pad == (2, 2) and geom.crop == (0, 0)
    assert slices[:, 2:5, 2:6].min() == 1 and slices.sum() == vol.sum()


def test_crop_is_centred():
    vol = np.arange(2 * 9 * 10).reshape(2, 9, 10)
    slices, geom = to_slices(vol, 0, (5, 4))
    assert geom.crop == (2, 3)
    assert np.array_equal(slices[0], vol[0, 2:7, 3:7])


def test_labels_exact_with_fill(rng):
    vol = rng.random((35, 50, 36))
    lab = rng.integers(0, 3, vol.shape).astype(np.uint8)
    _, geom = to_slices(vol, 2, (64, 64))
    sl = labels_to_slices(lab, geom, fill=-1)
    assert sl.shape == (36, 64, 64) and sl.dtype.kind == "i"
    assert (sl == -1).sum() == 36 * 64 * 64 - lab.size
    assert np.array_equal(from_slices(sl, geom), lab)
    dense = labels_to_slices(lab, geom, fill=0)
    assert dense.dtype == np.uint8 and set(np.unique(dense)) <= {0, 1, 2}


def test_channel_axis_goes_first(rng):
    vol = rng.random((4, 6, 5))
    for axis in range(3):
        _, geom = to_slices(vol, axis, (8, 8))
        s = vol.shape[axis]
        probs = np.stack([to_slices(vol * (c + 1), axis, (8, 8))[0] for c in range(3)], axis=1)
        assert probs.shape == (s, 3, 8, 8)
        back = from_slices(probs, geom)
        assert back.shape == (3, *vol.shape)
        for c in range(3):
            assert np.allclose(back[c], vol * (c + 1))


def test_2d_input(rng):
    img = rng.random((9, 7))
    slices, geom = to_slices(img, 2, (10, 10))
    assert slices.shape == (1, 10, 10) and geom.axis is None and geom.num_slices == 1
    assert np.allclose(from_slices(slices, geom), img)
    assert from_slices(np.repeat(slices[:, None], 2, axis=1), geom).shape == (2, 9, 7)


def test_errors(rng):
    _, geom = to_slices(rng.random((3, 4, 5)), 0, None)
    with pytest.raises(ShapeMismatchError, match="same grid"):
        labels_to_slices(np.zeros((3, 5, 4)), geom)
    with pytest.raises(ShapeMismatchError):
        from_slices(np.zeros((2, 4, 5)), geom)
    with pytest.raises(InvalidImageError, match="axis"):
        to_slices(rng.random((3, 4, 5)), 3, None)
    with pytest.raises(InvalidImageError):
        to_slices(rng.random((2, 3, 4, 5)), 0, None)


def test_real_msd_to_64(msd_dir):
    from semicl.io.msd import load_msd

    img, lab = load_msd(msd_dir).case("hippocampus_001").load()
    for axis in range(3):
        slices, geom = to_slices(img.data, axis, (64, 64))
        sl = labels_to_slices(lab.data, geom, fill=0)
        assert slices.shape[1:] == sl.shape[1:] == (64, 64)
        assert np.array_equal(from_slices(sl, geom), lab.data)
