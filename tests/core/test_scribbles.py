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
