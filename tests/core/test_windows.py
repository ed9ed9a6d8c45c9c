"""Training windows (data/windows.py): placement, class balance, identity on small slices."""

from __future__ import annotations

import pytest
import torch

from semicl.config import TrainConfig
from semicl.data.windows import WindowSampler
from semicl.errors import SemiclError


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_small_slices_are_left_whole():
    x = torch.rand(3, 1, 40, 50)
    sampler = WindowSampler(64, 40, 50, torch.zeros(3, 40, 50, dtype=torch.long))
    assert not sampler.active
    assert sampler.draw(x, _gen()) is x
    assert not WindowSampler(None, 400, 500).active


def test_one_side_larger_crops_that_side_only():
    sampler = WindowSampler(32, 20, 80)
    out = sampler.draw(torch.rand(2, 1, 20, 80), _gen())
    assert out.shape == (2, 1, 20, 32)


def test_labelled_windows_match_image_and_target_pixels():
    x = torch.arange(2 * 100 * 120, dtype=torch.float32).reshape(2, 1, 100, 120)
    y = torch.full((2, 100, 120), -1, dtype=torch.long)
    y[0, 10, 15] = 1
    y[1, 90, 110] = 0
    sampler = WindowSampler(32, 100, 120, y)
    for seed in range(20):
        index, corners = sampler.labelled(4, _gen(seed))
        xs, ys = sampler.draw_labelled(x, y, 4, _gen(seed))
        assert xs.shape == (4, 1, 32, 32) and ys.shape == (4, 32, 32)
        for b, (i, (t, l)) in enumerate(zip(index.tolist(), corners, strict=True)):
            assert 0 <= t <= 100 - 32 and 0 <= l <= 120 - 32
            assert torch.equal(xs[b, 0], x[i, 0, t:t + 32, l:l + 32])
            assert torch.equal(ys[b], y[i, t:t + 32, l:l + 32])
            # each window holds its slice's only painted pixel
            assert (ys[b] >= 0).sum() == 1


def _class_share(y: torch.Tensor, cls: int, draws: int = 400) -> float:
    sampler = WindowSampler(32, *y.shape[1:], y)
    x = torch.zeros(len(y), 1, *y.shape[1:])
    _, ys = sampler.draw_labelled(x, y, draws, _gen(1))
    return float((ys == cls).flatten(1).any(1).float().mean())


def test_each_painted_class_is_drawn_about_equally_often():
    y = torch.full((1, 200, 200), -1, dtype=torch.long)
    y[0, :20, :] = 0  # a big background stroke (4000 px)
    y[0, 150, 150:153] = 2  # a tiny structure stroke (3 px)
    assert 0.4 < _class_share(y, 2) < 0.6  # drawn by pixel count it would be ~0.1 %


def test_classes_stay_balanced_when_slices_hold_one_class_only():
    # one slice with a structure stroke, then three slices of background corrections
    # only (the EM correction round): the structure must keep about half the windows,
    # not the quarter of the slices that hold it (or an eighth of the windows)
    y = torch.full((4, 128, 128), -1, dtype=torch.long)
    y[0, 60, 10:100] = 1
    y[0, 20, 10:100] = 0
    y[1:, 100, 10:100] = 0
    assert 0.4 < _class_share(y, 1) < 0.6
    # and every slice painted with background is drawn for it
    index, _ = WindowSampler(32, 128, 128, y).labelled(400, _gen(2))
    assert set(index.tolist()) == {0, 1, 2, 3}


def test_labelled_windows_need_painted_pixels():
    y = torch.full((1, 64, 64), -1, dtype=torch.long)
    with pytest.raises(ValueError, match="painted"):
        WindowSampler(32, 64, 64, y).labelled(1, _gen())


def test_unlabelled_windows_are_placed_uniformly():
    sampler = WindowSampler(32, 64, 64)
    tops = {sampler.corners(1, _gen(s))[0][0] for s in range(60)}
    assert len(tops) > 10


def test_patch_size_is_validated():
    cfg = TrainConfig(patch_size=50)
    with pytest.raises(SemiclError, match="multiple of 16"):
        cfg.validate()
    TrainConfig(patch_size=64).validate()
