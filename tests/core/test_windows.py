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
    out, y = sampler.draw(x, torch.arange(3), _gen())
    assert out is x and y is None
    assert not WindowSampler(None, 400, 500).active


def test_one_side_larger_crops_that_side_only():
    sampler = WindowSampler(32, 20, 80)
    out, _ = sampler.draw(torch.rand(2, 1, 20, 80), torch.arange(2), _gen())
    assert out.shape == (2, 1, 20, 32)


def test_windows_match_image_and_target_pixels():
    x = torch.arange(2 * 100 * 120, dtype=torch.float32).reshape(2, 1, 100, 120)
    y = torch.full((2, 100, 120), -1, dtype=torch.long)
    y[0, 10, 15] = 1
    y[1, 90, 110] = 0
    sampler = WindowSampler(32, 100, 120, y)
    for seed in range(20):
        corners = sampler.corners(torch.tensor([0, 1]), _gen(seed))
        xs, ys = sampler.crop(x, corners), sampler.crop(y, corners)
        assert xs.shape == (2, 1, 32, 32) and ys.shape == (2, 32, 32)
        for b, (t, l) in enumerate(corners):
            assert 0 <= t <= 100 - 32 and 0 <= l <= 120 - 32
            assert torch.equal(xs[b, 0], x[b, 0, t:t + 32, l:l + 32])
        # each window holds its slice's only painted pixel
        assert (ys[0] == 1).sum() == 1 and (ys[1] == 0).sum() == 1


def test_each_painted_class_is_drawn_about_equally_often():
    y = torch.full((1, 200, 200), -1, dtype=torch.long)
    y[0, :20, :] = 0  # a big background stroke (4000 px)
    y[0, 150, 150:153] = 2  # a tiny structure stroke (3 px)
    sampler = WindowSampler(32, 200, 200, y)
    g = _gen(1)
    hits = 0
    for _ in range(300):
        (t, l), = sampler.corners(torch.tensor([0]), g)
        hits += bool((y[0, t:t + 32, l:l + 32] == 2).any())
    assert 0.35 < hits / 300 < 0.65  # drawn by pixel count it would be ~0.1 %


def test_unpainted_slices_get_uniform_windows():
    y = torch.full((1, 64, 64), -1, dtype=torch.long)
    sampler = WindowSampler(32, 64, 64, y)
    tops = {sampler.corners(torch.tensor([0]), _gen(s))[0][0] for s in range(60)}
    assert len(tops) > 10


def test_patch_size_is_validated():
    cfg = TrainConfig(patch_size=50)
    with pytest.raises(SemiclError, match="multiple of 16"):
        cfg.validate()
    TrainConfig(patch_size=64).validate()
