"""The stroke simulator (semicl.scribbles): lines as a person paints them, corrections."""

import pytest
import numpy as np

from semicl.labels import scribbles_to_targets
from semicl.scribbles import painted_share, scribble_volume, strokes_from_mask


def test_strokes_agree_with_the_mask_and_are_sparse():
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 8:18] = 1
    mask[24:30, 20:34] = 2
    s = strokes_from_mask(mask)
    t = scribbles_to_targets(s)
    painted = t >= 0
    assert (t[painted] == mask[painted]).all()  # never a wrong label
    assert set(np.unique(t[painted]).tolist()) == {0, 1, 2}
    assert 0.05 < painted_share(s) < 0.5


def test_thin_structures_are_painted_whole():
    mask = np.zeros((20, 20), np.uint8)
    mask[5, 2:18] = 1  # one pixel wide: erosion would remove it
    t = scribbles_to_targets(strokes_from_mask(mask))
    assert (t == 1).sum() == 16


def test_scribble_volume_paints_only_chosen_slices():
    mask = np.zeros((5, 16, 16), np.uint8)
    mask[:, 4:10, 4:10] = 1
    vol = scribble_volume(mask, [1, 3], axis=0)
    assert [bool(vol[k].any()) for k in range(5)] == [False, True, False, True, False]
    vol2 = scribble_volume(np.moveaxis(mask, 0, 2), [1, 3], axis=2)
    np.testing.assert_array_equal(np.moveaxis(vol2, 2, 0), vol)


# ----------------------------------------------------------------------------- user strokes
from scipy import ndimage as ndi  # noqa: E402

from semicl.scribbles import (  # noqa: E402
    bfs_stroke,
    choose_slices,
    correction_strokes,
    user_strokes,
)


def _blobs(h=80, w=90):
    m = np.zeros((h, w), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    m[((yy - 25) / 12) ** 2 + ((xx - 30) / 18) ** 2 <= 1] = 1
    m[((yy - 55) / 10) ** 2 + ((xx - 60) / 14) ** 2 <= 1] = 2
    return m


def _pieces(b):
    return ndi.label(b, structure=np.ones((3, 3)))[1]


def test_bfs_stroke_is_a_connected_subset_of_the_candidates():
    rng = np.random.default_rng(0)
    cand = np.zeros((20, 20), bool)
    cand[5, 2:18] = True
    cand[2:18, 10] = True
    s = bfs_stroke(cand, 7, rng)
    assert s.sum() == 7 and not (s & ~cand).any()
    assert _pieces(s) == 1
    assert not bfs_stroke(np.zeros((4, 4), bool), 5, rng).any()
    assert bfs_stroke(cand, 1000, rng).sum() == cand.sum()  # whole component


def test_user_strokes_are_lines_inside_their_class():
    m = _blobs()
    s = user_strokes(m, np.random.default_rng(0))
    t = scribbles_to_targets(s)
    painted = t >= 0
    assert (t[painted] == m[painted]).all()  # never a wrong label
    for c in (1, 2):
        line = t == c
        assert _pieces(line) == 1  # one line per structure
        # a line, not the region: a small share of the structure, but long
        assert line.sum() < 0.35 * (m == c).sum()
        ys, xs = np.nonzero(line)
        assert max(np.ptp(ys), np.ptp(xs)) >= 0.5 * 2 * (18 if c == 1 else 14) * 0.7
    bg = t == 0
    assert 1 <= _pieces(bg) <= 3  # an outline arc and a far line
    # part of the outline lies just outside a structure, the far line well away from them
    dist = ndi.distance_transform_edt(m == 0)
    assert (bg & (dist <= 4)).any() and (bg & (dist > 8)).any()
    assert painted_share(s) < 0.12


def test_user_strokes_on_a_slice_without_structure_paint_background_only():
    s = user_strokes(np.zeros((30, 40), np.uint8), np.random.default_rng(0))
    assert set(np.unique(s)) == {0, 1} and _pieces(s == 1) == 1 and (s == 1).sum() >= 10


def test_user_strokes_are_deterministic_per_rng_and_differ_between_seeds():
    m = _blobs()
    a = user_strokes(m, np.random.default_rng(3))
    np.testing.assert_array_equal(a, user_strokes(m, np.random.default_rng(3)))
    assert not np.array_equal(a, user_strokes(m, np.random.default_rng(4)))


def test_scribble_volume_with_rng_paints_lines_on_chosen_slices():
    mask = np.stack([_blobs(40, 50)] * 4)
    vol = scribble_volume(mask, [0, 2], axis=0, rng=np.random.default_rng(0))
    assert [bool(vol[k].any()) for k in range(4)] == [True, False, True, False]
    assert painted_share(vol[0]) < painted_share(strokes_from_mask(mask[0]))


def test_choose_slices_stratified_within_the_structure_range():
    mask = np.zeros((8, 8, 50), np.uint8)
    mask[2:5, 2:5, 20:40] = 1
    got = choose_slices(mask, axis=2, k=4, seed=0)
    assert len(got) == 4 and list(got) == sorted(set(got.tolist()))
    assert got.min() >= 20 and got.max() < 40
    np.testing.assert_array_equal(got, choose_slices(mask, 2, 4, 0))
    assert len(choose_slices(mask, 2, 99, 0)) == 20  # capped at the candidates


def test_correction_strokes_paint_the_largest_wrong_region_with_its_true_class():
    gt = np.zeros((3, 40, 40), np.uint8)
    gt[:, 5:25, 5:25] = 1
    pred = gt.copy()
    pred[1, 5:25, 5:15] = 0  # a big miss on slice 1
    pred[2, 30:33, 30:33] = 1  # a small false positive on slice 2
    scr = np.zeros_like(gt)
    out = correction_strokes(gt, pred, scr, 0, np.random.default_rng(0), slices=1, per_slice=1)
    assert not scr.any()  # the input is not modified
    new = out > 0
    assert new[1].any() and not new[0].any() and not new[2].any()  # the worst slice only
    assert (out[new] == 2).all()  # painted as the structure it should be
    assert (gt[1][new[1]] == 1).all() and (pred[1][new[1]] == 0).all()  # on the miss
    both = correction_strokes(gt, pred, scr, 0, np.random.default_rng(0), slices=2)
    assert (both[2] == 1).any() and (gt[2][both[2] == 1] == 0).all()  # FP painted background
    with pytest.raises(ValueError, match="one shape"):
        correction_strokes(gt, pred[:2], scr, 0, np.random.default_rng(0))
