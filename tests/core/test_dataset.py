"""SliceSet.from_volumes on real MSD volumes and a synthetic scribbled volume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semicl.data.dataset import SliceSet
from semicl.errors import LabelError, ShapeMismatchError


def test_real_msd_three_volumes(msd_dir):
    from semicl.io.msd import load_msd

    ds = load_msd(msd_dir)
    pairs = [c.load() for c in ds.select(["hippocampus_001", "hippocampus_003", "hippocampus_004"])]
    images = [p[0].data for p in pairs]
    labels = [p[1].data for p in pairs]
    ss = SliceSet.from_volumes(
        images, labels, axis=0, size=(64, 64), kind="mask", num_classes=ds.num_classes
    )
    n = sum(im.shape[0] for im in images)
    assert len(ss) == n and ss.images.shape == (n, 1, 64, 64) and ss.images.dtype == torch.float32
    assert ss.targets.shape == (n, 64, 64) and ss.targets.dtype == torch.int64
    assert set(torch.unique(ss.targets).tolist()) == {0, 1, 2}  # dense masks: padding is background
    assert 0.0 <= float(ss.images.min()) and float(ss.images.max()) <= 1.0
    assert ss.volume_ids.tolist() == sum(([v] * im.shape[0] for v, im in enumerate(images)), [])
    assert ss.slice_ids[: images[0].shape[0]].tolist() == list(range(images[0].shape[0]))
    assert len(ss.geometries) == 3
    assert len(ss.labelled()) == n  # every pixel of a dense mask is labelled
    with pytest.raises(ShapeMismatchError, match="size="):
        SliceSet.from_volumes(images, None, axis=0, size=None)


def test_scribbled_volume(rng):
    image = rng.random((5, 20, 18)).astype(np.float32)
    scribbles = np.zeros((5, 20, 18), np.uint8)
    scribbles[1, 2:5, 3] = 1  # background stroke
    scribbles[3, 10, 4:9] = 3  # structure 2
    ss = SliceSet.from_volumes(
        [image], [scribbles], axis=0, size=(24, 24), kind="scribble", num_classes=3
    )
    assert ss.targets.shape == (5, 24, 24)
    assert sorted(torch.unique(ss.targets).tolist()) == [-1, 0, 2]
    assert int((ss.targets == 0).sum()) == 3 and int((ss.targets == 2).sum()) == 5
    lab = ss.labelled()
    assert lab.slice_ids.tolist() == [1, 3] and len(lab) == 2
    sub = ss.subset([4, 0])
    assert sub.slice_ids.tolist() == [4, 0] and torch.equal(sub.images[1], ss.images[0])
    with pytest.raises(LabelError):
        SliceSet.from_volumes(
            [image], [scribbles], axis=0, size=None, kind="scribble", num_classes=1
        )


def test_unlabelled_entries_and_sets(rng):
    a, b = rng.random((3, 8, 8)), rng.random((2, 8, 8))
    ss = SliceSet.from_volumes([a, b], [None, np.ones((2, 8, 8), np.int64)], axis=0, size=None)
    assert bool((ss.targets[:3] == -1).all()) and bool((ss.targets[3:] == 1).all())
    assert ss.labelled().volume_ids.tolist() == [1, 1]
    unl = SliceSet.from_volumes([a, b], None, axis=0, size=None)
    assert unl.targets is None and len(unl.labelled()) == 0 and len(unl) == 5


def test_input_errors(rng):
    a = rng.random((3, 8, 8))
    with pytest.raises(ShapeMismatchError, match="same grid"):
        SliceSet.from_volumes([a], [np.zeros((3, 8, 7), np.uint8)], axis=0, size=None)
    with pytest.raises(ShapeMismatchError):
        SliceSet.from_volumes([a], [None, None], axis=0, size=None)
    with pytest.raises(LabelError, match="kind"):
        SliceSet.from_volumes([a], None, axis=0, size=None, kind="dense")
