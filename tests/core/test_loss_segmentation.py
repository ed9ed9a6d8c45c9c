"""PartialCEDiceLoss: CE + foreground soft Dice over labelled pixels only."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semicl.losses import PartialCEDiceLoss

torch.set_num_threads(1)


def make_batch(b=2, c=3, h=6, w=5, p_unlab=0.5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, h, w, generator=g, dtype=dtype)
    tgt = torch.randint(0, c, (b, h, w), generator=g)
    tgt[torch.rand(b, h, w, generator=g) < p_unlab] = -1
    return logits, tgt


def reference_dice_term(logits, tgt, c, smooth):
    """1 - mean foreground Dice, one-hot over the full maps masked by the labelled set."""
    mask = (tgt >= 0)[:, None].to(logits.dtype)
    p = torch.softmax(logits, 1) * mask
    g = F.one_hot(tgt.clamp_min(0), c).permute(0, 3, 1, 2).to(logits.dtype) * mask
    dims = (0, 2, 3)
    dice = (2 * (p * g).sum(dims) + smooth) / (p.sum(dims) + g.sum(dims) + smooth)
    present = g.sum(dims)[1:] > 0
    return 1 - dice[1:][present].mean()


def test_ce_part_equals_cross_entropy_with_ignore_index():
    logits, tgt = make_batch(seed=1)
    val = PartialCEDiceLoss(3, dice_weight=0.0)(logits, tgt)
    torch.testing.assert_close(val, F.cross_entropy(logits, tgt, ignore_index=-1))


def test_full_loss_matches_reference():
    logits, tgt = make_batch(seed=2, c=4)
    x1 = logits.clone().requires_grad_(True)
    val = PartialCEDiceLoss(4, dice_weight=0.7, smooth=1e-3)(x1, tgt)
    x2 = logits.clone().requires_grad_(True)
    ref = F.cross_entropy(x2, tgt, ignore_index=-1) + 0.7 * reference_dice_term(x2, tgt, 4, 1e-3)
    torch.testing.assert_close(val, ref, rtol=1e-12, atol=1e-12)
    val.backward()
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-12)


def test_unlabelled_logits_have_no_effect_and_no_gradient():
    logits, tgt = make_batch(seed=3)
    other = torch.where((tgt == -1)[:, None], 100 * torch.randn_like(logits), logits)
    loss = PartialCEDiceLoss(3)
    x = logits.clone().requires_grad_(True)
    val = loss(x, tgt)
    val.backward()
    torch.testing.assert_close(val, loss(other, tgt), rtol=0, atol=1e-12)
    assert torch.all(x.grad.permute(0, 2, 3, 1)[tgt == -1] == 0)


def test_near_perfect_logits_give_near_zero_dice():
    _, tgt = make_batch(seed=4)
    logits = 50.0 * F.one_hot(tgt.clamp_min(0), 3).permute(0, 3, 1, 2).double()
    full = PartialCEDiceLoss(3)(logits, tgt)
    assert full.item() < 1e-6
    assert reference_dice_term(logits, tgt, 3, 1e-5).item() < 1e-6


def test_absent_class_is_left_out_and_background_only_gives_ce():
    logits, tgt = make_batch(seed=5, c=3)
    tgt[tgt == 2] = 1  # class 2 absent
    val = PartialCEDiceLoss(3)(logits, tgt)
    expected = F.cross_entropy(logits, tgt, ignore_index=-1)
    expected = expected + reference_dice_term(logits, tgt, 3, 1e-5)
    torch.testing.assert_close(val, expected)
    bg = torch.where(tgt >= 0, 0, -1)
    torch.testing.assert_close(
        PartialCEDiceLoss(3)(logits, bg), F.cross_entropy(logits, bg, ignore_index=-1)
    )


def test_no_labelled_pixel_gives_connected_zero():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    val = PartialCEDiceLoss(3)(x, torch.full((2, 4, 4), -1))
    assert val.item() == 0.0 and val.requires_grad
    val.backward()
    assert torch.all(x.grad == 0)


def test_autocast_computes_in_float32():
    logits, tgt = make_batch(seed=6, dtype=torch.float32)
    ref = PartialCEDiceLoss(3)(logits, tgt)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        val = PartialCEDiceLoss(3)(logits, tgt)
    assert val.dtype == torch.float32
    torch.testing.assert_close(val, ref)
    assert PartialCEDiceLoss(3)(logits.half(), tgt).dtype == torch.float32


def test_bad_inputs_raise():
    loss = PartialCEDiceLoss(3)
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"\(2, 4, 4\)"):
        loss(x, torch.zeros(2, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="num_classes"):
        loss(torch.randn(2, 4, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        loss(x, torch.full((2, 4, 4), 3))
    with pytest.raises(ValueError, match="-1"):
        loss(x, torch.full((2, 4, 4), -2))
    with pytest.raises(ValueError, match="integer"):
        loss(x, torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        loss(torch.randn(3, 4, 4), torch.zeros(3, 4, dtype=torch.long))
    for kwargs in ({"num_classes": 1}, {"num_classes": 3, "dice_weight": -1},
                   {"num_classes": 3, "smooth": float("nan")}):
        with pytest.raises(ValueError):
            PartialCEDiceLoss(**kwargs)

