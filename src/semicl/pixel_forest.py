"""A random forest on per-pixel filter features, fitted on the strokes: the first overlay.

ilastik's pixel classification: each pixel described by Gaussian-smoothed intensity, edge
and texture filters at several scales (``skimage.feature.multiscale_basic_features``),
a random forest (scikit-learn) fitted on the painted pixels, every pixel of a slice
classified. It has none of the network's reach (docs/benchmarks.md: on unpainted slices
the network leads it by 0.3–0.4 Dice on Colin27 and MSD), but it fits in a second or two
where the network needs minutes: a Train's first overlay comes from it, while the network
trains (the round's first look, :mod:`semicl.interactive`). Before it, the first overlay
was a network after 30 steps, which on the same strokes scored 0.00–0.08 Dice on the
previewed slice of Colin27 and MSD against the forest's 0.23–0.68
(``benchmarks/first_look_quality.py``).

The benchmark's forest (``benchmarks/le_methods.rf_fit``) is this one.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from semicl.labels import mask_dtype

__all__ = ["PixelForest", "pixel_features"]

#: the filters' largest Gaussian sigma (pixels); sigmas 1, 2, 4, 8
SIGMA_MAX = 8.0


def pixel_features(image: np.ndarray, sigma_max: float = SIGMA_MAX) -> np.ndarray:
    """(H, W) normalised slice -> (H, W, F) float32 intensity / edge / texture features at
    sigmas 1 .. ``sigma_max`` (doubling)."""
    from skimage.feature import multiscale_basic_features

    return multiscale_basic_features(np.asarray(image, np.float32), intensity=True, edges=True,
                                     texture=True, sigma_min=1, sigma_max=sigma_max,
                                     channel_axis=None).astype(np.float32)


class PixelForest:
    """A forest fitted on the painted pixels of some slices; classifies a slice's pixels.

    ``pairs``: (image, targets) slices, (H, W) each, the image normalised, targets -1 =
    unpainted, c = class c; slices without a painted pixel are skipped. At most
    ``max_per_class`` pixels of a class train the forest, drawn uniformly (first at most
    ``4 * max_per_class / slices`` per slice and class, so no slice's features are all
    kept). ``seed`` fixes the draw and the forest.
    """

    def __init__(self, pairs: Iterable[tuple[np.ndarray, np.ndarray]], *, seed: int = 0,
                 max_per_class: int = 20000, trees: int = 50) -> None:
        from sklearn.ensemble import RandomForestClassifier

        rng = np.random.default_rng(seed)
        painted = [(x, np.asarray(y)) for x, y in pairs if (np.asarray(y) >= 0).any()]
        if not painted:
            raise ValueError("No painted pixels to fit a forest on.")
        cap = max(50, 4 * max_per_class // len(painted))
        feats, ys = [], []
        for x, y in painted:
            f = pixel_features(x)
            for c in np.unique(y[y >= 0]):
                idx = np.flatnonzero(y.ravel() == c)
                idx = rng.choice(idx, min(cap, len(idx)), replace=False)
                feats.append(f.reshape(-1, f.shape[-1])[idx])
                ys.append(np.full(len(idx), c, np.int64))
        X, labels = np.concatenate(feats), np.concatenate(ys)
        keep = np.concatenate([
            rng.choice(np.flatnonzero(labels == c), min(max_per_class, int((labels == c).sum())),
                       replace=False) for c in np.unique(labels)])
        self.classifier = RandomForestClassifier(n_estimators=trees, n_jobs=1, random_state=seed)
        self.classifier.fit(X[keep], labels[keep])

    def predict(self, image: np.ndarray) -> np.ndarray:
        """(H, W) normalised slice -> (H, W) mask (0 = background, k = structure k) of
        :func:`semicl.labels.mask_dtype`."""
        features = pixel_features(image)
        classes = self.classifier.predict(features.reshape(-1, features.shape[-1]))
        dtype = mask_dtype(max(int(self.classifier.classes_.max()), 1))
        return classes.reshape(features.shape[:-1]).astype(dtype)
