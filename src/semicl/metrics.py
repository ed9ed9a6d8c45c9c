"""Foreground Dice scores: per volume, pooled over a set, and mean per volume.

Two aggregations are reported because the literature uses both (docs/method.md §6):

* **pooled** — per class, ``2 ΣI / (ΣP + ΣG)`` with the sums over every voxel of every
  volume of the set. This is what Hu et al.'s code reports (its ``SegmentationMetric``
  accumulates intersections and unions over all test slices).
* **mean per volume** — per class, the Dice of each volume, then the mean over volumes
  (Chaitanya et al.'s protocol).

Both then average the foreground classes (classes ``1 .. C-1``; background is excluded) into
one number, as in the paper.

**Empty classes.** A class absent from both the prediction and the ground truth of a volume has
an undefined Dice; it is reported as ``NaN`` and skipped by every mean (``nanmean``). A class
predicted but absent from the ground truth (or the reverse) scores 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from semicl.errors import LabelError, ShapeMismatchError


def _nanmean(a: np.ndarray, axis: int | None = None) -> Any:
    """``np.nanmean`` without the "mean of empty slice" warning (all-NaN gives NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return np.nanmean(a, axis=axis)


def _dice(inter: np.ndarray, pred_sum: np.ndarray, gt_sum: np.ndarray) -> np.ndarray:
    """``2 I / (P + G)`` elementwise, NaN where ``P + G == 0``."""
    denom = (pred_sum + gt_sum).astype(np.float64)
    out = np.full(denom.shape, np.nan)
    ok = denom > 0
    out[ok] = 2.0 * inter[ok] / denom[ok]
    return out


def _check_num_classes(num_classes: int) -> int:
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2 (background + structures), got {num_classes}.")
    return int(num_classes)


def class_counts(
    pred: np.ndarray, gt: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class intersection, predicted and ground-truth voxel counts.

    Parameters
    ----------
    pred, gt : np.ndarray of int, same shape (any)
        Masks with values in ``0 .. num_classes-1``.
    num_classes : int
        Classes including background.

    Returns
    -------
    inter, pred_sum, gt_sum : np.ndarray of int64, shape (num_classes,)
        Counts for every class, background (index 0) included.

    Raises
    ------
    ShapeMismatchError
        ``pred`` and ``gt`` differ in shape (a ``ValueError``).
    LabelError
        Non-integer arrays or values outside ``0 .. num_classes-1`` (a ``ValueError``).
    """
    c = _check_num_classes(num_classes)
    p = np.asarray(pred)
    g = np.asarray(gt)
    if p.shape != g.shape:
        raise ShapeMismatchError(
            f"Prediction shape {p.shape} differs from ground-truth shape {g.shape}; "
            "compare masks of the same image."
        )
    for arr, what in ((p, "prediction"), (g, "ground truth")):
        if arr.dtype.kind not in "iub":
            raise LabelError(f"The {what} must be an integer mask, got dtype {arr.dtype}.")
        if arr.size and (arr.min() < 0 or arr.max() >= c):
            raise LabelError(
                f"The {what} holds values {int(arr.min())}..{int(arr.max())}, outside "
                f"0..{c - 1} for {c} classes; check num_classes."
            )
    p = p.astype(np.int64, copy=False).ravel()
    g = g.astype(np.int64, copy=False).ravel()
    confusion = np.bincount(p * c + g, minlength=c * c).reshape(c, c)  # [pred, gt]
    return np.diag(confusion).copy(), confusion.sum(axis=1), confusion.sum(axis=0)


def dice_per_class(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """Foreground Dice of each class for one volume (or slice, or any array).

    Parameters
    ----------
    pred, gt : np.ndarray of int, same shape (any)
        Predicted and ground-truth masks, values ``0 .. num_classes-1``.
    num_classes : int
        Classes including background.

    Returns
    -------
    np.ndarray of float64, shape (num_classes - 1,)
        Dice of classes ``1 .. num_classes-1``; ``NaN`` where a class is absent from both.
    """
    inter, ps, gs = class_counts(pred, gt, num_classes)
    return _dice(inter[1:], ps[1:], gs[1:])


class DiceAccumulator:
    """Accumulate Dice statistics over a set of volumes.

    Parameters
    ----------
    num_classes : int
        Classes including background.

    Notes
    -----
    :meth:`add` may be called several times with the same ``volume_id`` (e.g. one call per
    batch of slices); the counts of that volume are then summed, so its per-volume Dice is the
    Dice of the whole volume.
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = _check_num_classes(num_classes)
        nf = self.num_classes - 1
        self._inter = np.zeros(nf, np.int64)
        self._pred = np.zeros(nf, np.int64)
        self._gt = np.zeros(nf, np.int64)
        self._volumes: dict[Hashable, np.ndarray] = {}  # id -> (3, nf) counts

    def __len__(self) -> int:
        """Number of distinct volumes added."""
        return len(self._volumes)

    def add(
        self, pred: np.ndarray, gt: np.ndarray, volume_id: Hashable | None = None
    ) -> np.ndarray:
        """Add one prediction/ground-truth pair.

        Parameters
        ----------
        pred, gt : np.ndarray of int, same shape (any)
            Masks with values ``0 .. num_classes-1``.
        volume_id : hashable, optional
            The volume these voxels belong to; ``None`` makes the pair a new volume.

        Returns
        -------
        np.ndarray of float64, shape (num_classes - 1,)
            The Dice of this pair alone (NaN for classes absent from both).
        """
        inter, ps, gs = class_counts(pred, gt, self.num_classes)
        counts = np.stack([inter[1:], ps[1:], gs[1:]])
        self._inter += counts[0]
        self._pred += counts[1]
        self._gt += counts[2]
        if volume_id is None:
            volume_id = ("_auto", len(self._volumes))
            while volume_id in self._volumes:
                volume_id = ("_auto", volume_id[1] + 1)
        if volume_id in self._volumes:
            self._volumes[volume_id] = self._volumes[volume_id] + counts
        else:
            self._volumes[volume_id] = counts
        return _dice(*counts)

    def pooled(self) -> np.ndarray:
        """Per-class Dice pooled over all voxels added, shape ``(num_classes - 1,)``."""
        return _dice(self._inter, self._pred, self._gt)

    def per_volume(self) -> dict[Hashable, np.ndarray]:
        """Per-class Dice of each volume, ``{volume_id: (num_classes - 1,) array}``."""
        return {k: _dice(*v) for k, v in self._volumes.items()}

    def summary(self) -> dict[str, Any]:
        """All scores as plain Python values.

        Returns
        -------
        dict
            ``num_volumes`` (int); ``pooled`` (list of ``num_classes - 1`` floats, Dice over
            the whole set); ``pooled_mean`` (foreground mean of ``pooled``, the paper's
            number); ``per_volume`` (list, per class the mean over volumes of the per-volume
            Dice, volumes where the class is absent from both skipped); ``per_volume_mean``
            (foreground mean of ``per_volume``); ``volumes`` (``{str(volume_id): list}``).
            Undefined values are ``float('nan')``.
        """
        pooled = self.pooled()
        vols = self.per_volume()
        nf = self.num_classes - 1
        table = np.stack(list(vols.values())) if vols else np.full((0, nf), np.nan)
        per_vol = _nanmean(table, axis=0) if len(table) else np.full(nf, np.nan)
        return {
            "num_volumes": len(vols),
            "pooled": [float(v) for v in pooled],
            "pooled_mean": float(_nanmean(pooled)),
            "per_volume": [float(v) for v in per_vol],
            "per_volume_mean": float(_nanmean(per_vol)),
            "volumes": {_id_str(k): [float(v) for v in d] for k, d in vols.items()},
        }

    def as_table(self, class_names: Sequence[str] | None = None) -> str:
        """A small markdown table: one row per foreground class and a mean row.

        Parameters
        ----------
        class_names : sequence of str, optional
            Either all ``num_classes`` names (background first; it is dropped) or the
            ``num_classes - 1`` foreground names. Default: ``class 1``, ``class 2``, ...
        """
        nf = self.num_classes - 1
        if class_names is None:
            names = [f"class {i}" for i in range(1, nf + 1)]
        else:
            names = list(class_names)
            if len(names) == self.num_classes:
                names = names[1:]
            if len(names) != nf:
                raise ValueError(
                    f"Expected {self.num_classes} class names (with background) or {nf} "
                    f"(foreground only), got {len(names)}."
                )
        s = self.summary()
        lines = [
            f"| class | pooled Dice | mean per-volume Dice (n={s['num_volumes']}) |",
            "|---|---|---|",
        ]
        for name, p, v in zip(names, s["pooled"], s["per_volume"], strict=True):
            lines.append(f"| {name} | {_fmt(p)} | {_fmt(v)} |")
        lines.append(f"| **mean** | {_fmt(s['pooled_mean'])} | {_fmt(s['per_volume_mean'])} |")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return "n/a" if np.isnan(x) else f"{x:.4f}"


def _id_str(k: Hashable) -> str:
    if isinstance(k, tuple) and len(k) == 2 and k[0] == "_auto":
        return f"volume {k[1]}"
    return str(k)
