"""The first overlay's pixel forest (semicl.pixel_forest): fitted on strokes, it classifies
the unpainted pixels of a slice; bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from semicl.pixel_forest import PixelForest, pixel_features


def slices(n: int = 3, seed: int = 0):
    """(image, truth) slices of a bright disk and a dark square on grey, with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((40, 48))
    truth = np.zeros((40, 48), np.int64)
    truth[(yy - 12) ** 2 + (xx - 14) ** 2 < 50] = 1
    truth[(abs(yy - 28) < 6) & (abs(xx - 32) < 6)] = 2
    base = np.choose(truth, [0.5, 0.9, 0.1]).astype(np.float32)
    return [(base + rng.normal(0, 0.05, base.shape).astype(np.float32), truth) for _ in range(n)]


def strokes(truth: np.ndarray) -> np.ndarray:
    """-1 everywhere but a short line inside each class."""
    t = np.full(truth.shape, -1, np.int64)
    t[12, 11:17] = 1
    t[28, 29:35] = 2
    t[3, 5:40] = 0
    return t


def test_features_are_per_pixel_float32():
    image, _ = slices(1)[0]
    f = pixel_features(image)
    assert f.shape[:2] == image.shape and f.shape[2] > 4 and f.dtype == np.float32


def test_a_forest_on_lines_classifies_the_rest_of_an_unpainted_slice():
    train = [(x, strokes(t)) for x, t in slices(2)]
    train.append((slices(1, 5)[0][0], np.full((40, 48), -1)))  # a slice without strokes: skipped
    forest = PixelForest(train, seed=0, trees=10)
    image, truth = slices(1, seed=9)[0]
    mask = forest.predict(image)
    assert mask.shape == truth.shape and mask.dtype == np.uint8
    assert (mask == truth).mean() > 0.9
    for c in (1, 2):
        pred, true = mask == c, truth == c
        assert 2 * (pred & true).sum() / (pred.sum() + true.sum()) > 0.7, c


def test_the_same_seed_gives_the_same_forest():
    train = [(x, strokes(t)) for x, t in slices(2)]
    image = slices(1, seed=3)[0][0]
    a = PixelForest(train, seed=1, trees=5).predict(image)
    assert np.array_equal(a, PixelForest(train, seed=1, trees=5).predict(image))


def test_no_strokes_is_refused():
    with pytest.raises(ValueError, match="No painted pixels"):
        PixelForest([(slices(1)[0][0], np.full((40, 48), -1))])
