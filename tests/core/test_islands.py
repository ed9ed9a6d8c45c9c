"""keep_stroked_islands (semicl/islands.py): pieces touching a stroke of their class stay."""

from __future__ import annotations

import numpy as np
import pytest

from semicl.errors import ShapeMismatchError
from semicl.islands import keep_stroked_islands


def _reference(mask, scribbles):
    """Flood fill from every stroke pixel of its class (slow, obviously right)."""
    out = np.zeros_like(mask)
    offsets = [np.array(o) - 1 for o in np.ndindex(*(3,) * mask.ndim) if o != (1,) * mask.ndim]
    for start in zip(*np.nonzero(scribbles >= 2), strict=True):
        c = int(scribbles[start]) - 1
        if mask[start] != c or out[start] == c:
            continue
        stack = [np.array(start)]
        out[start] = c
        while stack:
            p = stack.pop()
            for o in offsets:
                q = tuple(p + o)
                if all(0 <= q[i] < mask.shape[i] for i in range(mask.ndim)) \
                        and mask[q] == c and out[q] != c:
                    out[q] = c
                    stack.append(np.array(q))
    return out


def test_unpainted_island_goes_painted_island_stays_2d():
    mask = np.zeros((10, 12), np.uint8)
    mask[1:4, 1:4] = 1  # painted
    mask[6:9, 8:11] = 1  # not painted: removed
    mask[6:8, 1:3] = 2  # painted with class 1 only: removed (wrong class)
    scr = np.zeros_like(mask)
    scr[2, 2] = 2  # structure 1
    scr[6, 1] = 2  # structure 1 painted on a piece predicted as 2
    scr[0, 0] = 1  # background
    out = keep_stroked_islands(mask, scr)
    assert out[1:4, 1:4].tolist() == [[1] * 3] * 3
    assert not out[6:9, 8:11].any() and not out[6:8, 1:3].any()
    assert out.dtype == mask.dtype and mask[6, 8] == 1  # input untouched


def test_corners_connect():
    mask = np.zeros((5, 5), np.uint8)
    mask[1, 1] = mask[2, 2] = mask[3, 3] = 1  # a diagonal line
    scr = np.zeros_like(mask)
    scr[1, 1] = 2
    assert keep_stroked_islands(mask, scr).sum() == 3


@pytest.mark.parametrize("seed", range(5))
def test_matches_flood_fill_on_random_volumes(seed):
    rng = np.random.default_rng(seed)
    mask = (rng.random((6, 9, 8)) < 0.35).astype(np.uint8) * rng.integers(1, 4, (6, 9, 8))
    mask = mask.astype(np.uint8)
    scr = np.where(rng.random(mask.shape) < 0.03, rng.integers(1, 5, mask.shape), 0)
    scr = scr.astype(np.uint8)
    assert np.array_equal(keep_stroked_islands(mask, scr), _reference(mask, scr))


def test_shape_mismatch_is_refused():
    with pytest.raises(ShapeMismatchError, match="one shape"):
        keep_stroked_islands(np.zeros((3, 4), np.uint8), np.zeros((4, 3), np.uint8))
