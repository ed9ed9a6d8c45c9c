"""Dice metrics: analytic cases, pooled vs per-volume aggregation, NaN handling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semicl.errors import LabelError, ShapeMismatchError
from semicl.metrics import DiceAccumulator, dice_per_class


def test_perfect_and_disjoint():
    gt = np.array([[0, 1, 1], [2, 2, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(dice_per_class(gt, gt, 3), [1.0, 1.0])
    pred = np.array([[1, 0, 0], [0, 0, 2]], dtype=np.int32)  # no overlap for either class
    np.testing.assert_array_equal(dice_per_class(pred, gt, 3), [0.0, 0.0])


def test_half_overlap_by_hand():
    gt = np.zeros((4, 4), np.int64)
    gt[:2, :2] = 1  # 4 pixels
    pred = np.zeros((4, 4), np.int64)
    pred[:2, 1:3] = 1  # 4 pixels, 2 shared -> 2*2 / (4 + 4) = 0.5
    assert dice_per_class(pred, gt, 2).tolist() == [0.5]
    pred2 = np.zeros((4, 4), np.int64)
    pred2[0, 0] = 1  # 1 pixel, 1 shared -> 2 / 5
    assert dice_per_class(pred2, gt, 2)[0] == pytest.approx(0.4)


def test_any_shape_and_dtype():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 4, size=(3, 5, 7)).astype(np.uint16)
    pred = gt.copy()
    pred[0] = 0
    d = dice_per_class(pred, gt, 4)
    assert d.shape == (3,) and np.all((d > 0) & (d < 1))
    # brute force check
    for c in range(1, 4):
        i = np.sum((pred == c) & (gt == c))
        assert d[c - 1] == pytest.approx(2 * i / (np.sum(pred == c) + np.sum(gt == c)))


def test_empty_class_is_nan_and_skipped():
    gt = np.array([0, 1, 1, 0])
    pred = np.array([0, 1, 0, 0])
    d = dice_per_class(pred, gt, 3)  # class 2 absent from both
    assert d[0] == pytest.approx(2 / 3) and math.isnan(d[1])
    # predicted but absent from the ground truth scores 0, not NaN
    assert dice_per_class(np.array([0, 2]), np.array([0, 0]), 3)[1] == 0.0


def test_errors():
    with pytest.raises(ShapeMismatchError, match=r"\(2, 2\).*\(4,\)"):
        dice_per_class(np.zeros((2, 2), int), np.zeros(4, int), 2)
    assert issubclass(ShapeMismatchError, ValueError)
    with pytest.raises(LabelError, match="0..1"):
        dice_per_class(np.array([0, 2]), np.array([0, 1]), 2)
    with pytest.raises(LabelError, match="integer"):
        dice_per_class(np.array([0.0, 1.0]), np.array([0, 1]), 2)
    with pytest.raises(ValueError):
        DiceAccumulator(1)


def _two_volumes():
    # volume A: large structure, perfectly segmented (I=100, P=G=100) -> Dice 1
    # volume B: tiny structure, completely missed (I=0, P=0, G=4)      -> Dice 0
    a_gt = np.zeros((20, 20), np.uint8)
    a_gt[:10, :10] = 1
    b_gt = np.zeros((20, 20), np.uint8)
    b_gt[:2, :2] = 1
    return (a_gt.copy(), a_gt), (np.zeros_like(b_gt), b_gt)


def test_pooled_vs_per_volume():
    acc = DiceAccumulator(2)
    (pa, ga), (pb, gb) = _two_volumes()
    assert acc.add(pa, ga, "A").tolist() == [1.0]
    assert acc.add(pb, gb, "B").tolist() == [0.0]
    s = acc.summary()
    # pooled: 2*100 / (100 + 104) -- dominated by the large volume
    assert s["pooled"][0] == pytest.approx(200 / 204)
    assert s["pooled_mean"] == pytest.approx(200 / 204)
    # mean per volume: (1 + 0) / 2 -- each volume counts once
    assert s["per_volume"][0] == pytest.approx(0.5)
    assert s["per_volume_mean"] == pytest.approx(0.5)
    assert s["num_volumes"] == 2 and set(s["volumes"]) == {"A", "B"}
    assert len(acc) == 2


def test_same_volume_added_in_pieces_equals_whole():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 3, size=(6, 8, 8))
    pred = np.where(rng.random(gt.shape) < 0.8, gt, rng.integers(0, 3, size=gt.shape))
    whole = DiceAccumulator(3)
    whole.add(pred, gt, "v")
    pieces = DiceAccumulator(3)
    for k in range(6):
        pieces.add(pred[k], gt[k], "v")
    assert pieces.summary() == whole.summary()
    np.testing.assert_allclose(whole.pooled(), dice_per_class(pred, gt, 3))


def test_auto_volume_ids_and_nan_handling():
    acc = DiceAccumulator(3)
    # class 2 appears only in the second volume
    acc.add(np.array([0, 1, 1]), np.array([0, 1, 1]))
    acc.add(np.array([2, 1, 0]), np.array([2, 0, 0]))
    s = acc.summary()
    assert s["num_volumes"] == 2
    assert s["volumes"]["volume 0"][0] == 1.0 and math.isnan(s["volumes"]["volume 0"][1])
    # class 1: (1 + 0) / 2 over volumes; class 2: only volume 1 counts (NaN skipped)
    assert s["per_volume"] == pytest.approx([0.5, 1.0])
    assert s["per_volume_mean"] == pytest.approx(0.75)
    # pooled class 1: I=2, P=3, G=2 -> 4/5
    assert s["pooled"] == pytest.approx([0.8, 1.0])


def test_empty_accumulator_is_nan():
    s = DiceAccumulator(3).summary()
    assert s["num_volumes"] == 0
    assert all(math.isnan(v) for v in s["pooled"] + s["per_volume"])
    assert math.isnan(s["pooled_mean"]) and math.isnan(s["per_volume_mean"])


def test_as_table():
    acc = DiceAccumulator(3)
    acc.add(np.array([0, 1, 2]), np.array([0, 1, 1]), "x")
    t = acc.as_table(["background", "anterior", "posterior"])
    lines = t.splitlines()
    assert lines[0].startswith("| class | pooled Dice")
    assert "| anterior | 0.6667 | 0.6667 |" in lines
    assert "| posterior | 0.0000 | 0.0000 |" in lines
    assert lines[-1] == "| **mean** | 0.3333 | 0.3333 |"
    assert acc.as_table(["a", "b"]).count("\n") == 4
    assert "| class 1 |" in acc.as_table()
    with pytest.raises(ValueError):
        acc.as_table(["only one"])
    nan_table = DiceAccumulator(2).as_table()
    assert "n/a" in nan_table
