"""Spatial and intensity augmentation (the stages' two views: tests/core/test_stage_views.py)."""

from __future__ import annotations

import pytest
import torch

from semicl.data.augment import IntensityAugment, SpatialAugment
from semicl.errors import InvalidImageError, ShapeMismatchError


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _batch(b=4, h=24, w=30, seed=0):
    g = _gen(seed)
    targets = torch.randint(0, 3, (b, h, w), generator=g)
    targets[:, :3] = -1
    images = torch.rand(b, 1, h, w, generator=g)
    return images, targets


def test_identity_when_degenerate():
    images, targets = _batch()
    sp = SpatialAugment(scale=(1, 1), rotation_deg=0, flip=False, crop=(1, 1))
    out, t = sp(images, targets, _gen())
    assert torch.allclose(out, images, atol=1e-5)
    assert torch.equal(t, targets)
    ia = IntensityAugment(brightness=0, contrast=(1, 1), gamma=(1, 1), noise_std=0)
    out2, t2 = ia(images, targets, _gen())
    assert torch.equal(out2, images) and t2 is targets


def test_targets_follow_images_under_random_geometry():
    # image == target + 1 everywhere; nearest interpolation must keep that relation
    _, targets = _batch(b=6)
    targets = targets.clamp_min(0)
    images = (targets + 1).float()[:, None]
    sp = SpatialAugment(
        scale=(0.6, 1.4), rotation_deg=40, flip=True, crop=(0.5, 1.0), image_mode="nearest"
    )
    out, t = sp(images, targets, _gen(3))
    inside = t >= 0
    assert inside.any() and (~inside).any()  # some pixels came from outside the image
    assert torch.equal(out[:, 0][inside], (t[inside] + 1).float())
    assert torch.all(out[:, 0][~inside] == 0)  # image padding is 0, target padding -1
    assert t.dtype == torch.int64 and int(t.min()) == -1


def test_outside_becomes_ignored():
    images, _ = _batch(b=2)
    targets = torch.zeros(2, 24, 30, dtype=torch.int64)
    sp = SpatialAugment(scale=(0.5, 0.5), rotation_deg=0, flip=False, crop=(1, 1))
    _, t = sp(images, targets, _gen())
    assert t[:, 0, 0].eq(-1).all() and t[:, 12, 15].eq(0).all()
    assert t.eq(-1).float().mean() == pytest.approx(0.75, abs=0.05)


def test_flip_only_mirrors():
    images, targets = _batch(b=8)
    sp = SpatialAugment(scale=(1, 1), rotation_deg=0, flip=True, crop=(1, 1))
    out, t = sp(images, targets, _gen(1))
    for i in range(8):
        flipped = torch.equal(t[i], targets[i].flip(-1))
        assert flipped or torch.equal(t[i], targets[i])
        ref = images[i].flip(-1) if flipped else images[i]
        assert torch.allclose(out[i], ref, atol=1e-5)


def test_shapes_dtypes_and_no_inplace():
    images, targets = _batch()
    keep_i, keep_t = images.clone(), targets.clone()
    for aug in (SpatialAugment(), IntensityAugment()):
        out, t = aug(images, targets, _gen())
        assert out.shape == images.shape and out.dtype == torch.float32
        assert t.shape == targets.shape and t.dtype == torch.int64
    assert torch.equal(images, keep_i) and torch.equal(targets, keep_t)
    out, t = SpatialAugment()(images, None, _gen())
    assert t is None


def _two_views(images, targets, g):
    """Spatial then intensity, twice on one batch, as the global stage draws its views."""
    out = []
    for _ in range(2):
        x, t = SpatialAugment()(images, targets, g)
        out.append(IntensityAugment()(x, t, g))
    return out


def test_seeded_reproducibility():
    images, targets = _batch()
    a = _two_views(images, targets, _gen(5))
    b = _two_views(images, targets, _gen(5))
    for (x1, t1), (x2, t2) in zip(a, b):
        assert torch.equal(x1, x2) and torch.equal(t1, t2)


@pytest.mark.parametrize("aug", [SpatialAugment(), IntensityAugment()])
def test_successive_draws_differ_and_never_alias(aug):
    """docs/method.md §7.1: the reference code's two views were one buffer."""
    images, targets = _batch()
    g = _gen(0)
    v1, _ = aug(images, targets, g)
    v2, _ = aug(images, targets, g)
    assert (v1 - v2).abs().flatten(1).amax(dim=1).min() > 0  # every sample differs
    assert len({v1.data_ptr(), v2.data_ptr(), images.data_ptr()}) == 3


def test_bad_inputs():
    images, targets = _batch()
    with pytest.raises(InvalidImageError):
        SpatialAugment()(images[:, 0], None, _gen())
    with pytest.raises(ShapeMismatchError):
        IntensityAugment()(images, targets[:, :5], _gen())
    with pytest.raises(ValueError):
        SpatialAugment(scale=(1.3, 0.7))


def test_no_mirroring_by_default():
    # anatomy is not mirror-symmetric: the default transform never flips
    theta = SpatialAugment(scale=(1, 1), rotation_deg=0, crop=(1, 1)).sample(64, 16, 16, _gen(2))
    assert (theta[:, 0, 0] > 0).all()
    theta = SpatialAugment(scale=(1, 1), rotation_deg=0, crop=(1, 1), flip=True).sample(
        64, 16, 16, _gen(2))
    assert (theta[:, 0, 0] < 0).any() and (theta[:, 0, 0] > 0).any()
