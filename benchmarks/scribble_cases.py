"""Cases of the scribble benchmark (issue #10): one image, strokes on k slices, score the rest.

A case is one volume, the axis its slices are cut along and ``k`` painted slices:

* ``colin27`` — Colin27 T1 + AAL: caudate / putamen / thalamus (left and right merged),
  axial slices (axis 2); k = 3 and 5 slices spread over the structures' extent.
* ``msd:<id>`` — one MSD Task04 hippocampus volume alone (the first five test volumes of
  ``splits.json`` seed 0 by default), slices along axis 0, k = 3.
* ``em`` — the ISBI-2012 EM stack (24 x 512 x 512), membranes; k = 1 and 2 sections.

Strokes come from :mod:`semicl.scribbles` (the one simulator): lines through each
structure, along part of its outline and through the far background. The score is the
per-class Dice pooled over every slice that was *not* painted at the start (slices
without any structure included, so false positives count).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.le_data import data_root, load_colin, load_em
from semicl.experiments.split import HELD_OUT_FRACTION, choose_split
from semicl.io.msd import load_msd
from semicl.labels import mask_to_scribbles
from semicl.metrics import dice_per_class
from semicl.scribbles import choose_slices, scribble_volume

#: case name -> painted slice counts run by default
DEFAULT_CASES = ("colin27:k5", "colin27:k3", "msd:5", "em:k2", "em:k1")


@dataclass
class Case:
    """One image, its ground truth and the strokes of one seed."""

    name: str  #: e.g. "colin27:k5", "msd:hippocampus_017:k3"
    image: np.ndarray
    mask: np.ndarray  #: 0 = background, c = structure c
    class_names: list[str]
    axis: int
    painted: np.ndarray  #: slice indices painted at the start
    scribbles: np.ndarray  #: 0 unpainted, 1 background, c + 1 structure c

    @property
    def rest(self) -> np.ndarray:
        """The slices scored: every slice not painted at the start."""
        return np.setdiff1d(np.arange(self.mask.shape[self.axis]), self.painted)

    def dice(self, pred: np.ndarray) -> list[float]:
        """Per-class Dice (foreground classes) pooled over :attr:`rest`."""
        return self._dice_on(self.rest, pred)

    def dice_painted(self, pred: np.ndarray) -> list[float]:
        """Per-class Dice pooled over the slices painted at the start (every pixel of them):
        how much of a painted slice its strokes get across (session 19)."""
        return self._dice_on(self.painted, pred)

    def _on(self, slices: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
        """The ground truth and each of ``arrays`` (the image's shape) on ``slices``."""
        return [np.take(np.asarray(a), slices, self.axis) for a in (self.mask, *arrays)]

    def _dice_on(self, slices: np.ndarray, pred: np.ndarray) -> list[float]:
        g, p = (a.astype(np.int64) for a in self._on(slices, pred))
        return [float(v) for v in dice_per_class(p, g, len(self.class_names))]

    def whole_slices(self) -> np.ndarray:
        """Scribbles with the painted slices painted completely (every pixel its true
        class) and the others unpainted: the diagnostic that tells what the strokes leave
        out from what the slices between them do."""
        out = np.zeros_like(self.scribbles)
        idx = [slice(None)] * self.mask.ndim
        idx[self.axis] = self.painted
        out[tuple(idx)] = mask_to_scribbles(self.mask[tuple(idx)])
        return out

    def errors_by_zone(self, pred: np.ndarray, zone: np.ndarray) -> list[dict[str, float]]:
        """Each structure's errors on :attr:`rest` inside and outside ``zone`` (bool, the
        image's shape; the benchmark passes the background prior's zone, the pixels within
        a structure's reach of its strokes), as shares of its true voxels there: ``true_in``
        (of the structure inside the zone), ``fp_in`` / ``fp_out`` (painted where it is
        not), ``fn_in`` / ``fn_out`` (missed). Session 21: Colin27's structures lie in the
        zone, what the normalised cut over-paints outside it."""
        g, p, z = self._on(self.rest, pred, np.asarray(zone, bool))
        out = []
        for c in range(1, len(self.class_names)):
            true = g == c
            n = max(1, int(true.sum()))
            fp, fn = (p == c) & ~true, (p != c) & true
            out.append({k: round(float(v.sum()) / n, 3) for k, v in (
                ("true_in", true & z), ("fp_in", fp & z), ("fp_out", fp & ~z),
                ("fn_in", fn & z), ("fn_out", fn & ~z))})
        return out

    def volume_ratio(self, pred: np.ndarray) -> list[float]:
        """Predicted / true voxels of each structure on :attr:`rest` (1 = right amount;
        10 = ten times too much, the over-segmentation strokes alone lead to)."""
        g, p = self._on(self.rest, pred)
        return [round(float((p == c).sum()) / max(1, int((g == c).sum())), 3)
                for c in range(1, len(self.class_names))]


def msd_volumes(root: Path, n: int) -> list[str]:
    """The first ``n`` test volumes of the fixed split (seed 0)."""
    test = choose_split(load_msd(root), 0.05, 0, HELD_OUT_FRACTION).test
    return sorted(test)[:n]


def expand(names: list[str], data: str | None) -> list[str]:
    """``msd:5`` -> five ``msd:<id>:k3`` names; other names pass through."""
    out = []
    for name in names:
        if name.startswith("msd:") and name[4:].isdigit():
            root = data_root("hippocampus", data)
            out += [f"msd:{cid}:k3" for cid in msd_volumes(root, int(name[4:]))]
        else:
            out.append(name)
    return out


def load_case(name: str, seed: int, data: str | None) -> Case:
    """Load case ``name`` and paint its strokes for ``seed`` (deterministic)."""
    parts = name.split(":")
    k = int(parts[-1][1:]) if parts[-1].startswith("k") else 3
    if parts[0] == "colin27":
        image, mask, names, axis = load_colin(data_root("colin27", data))
    elif parts[0] == "em":
        image, mask, names, axis = load_em(data_root("em", data))
        names = ["background", "membrane"]
    elif parts[0] == "msd":
        ds = load_msd(data_root("hippocampus", data))
        img, lab = ds.case(parts[1]).load()
        image, mask = np.asarray(img.data), np.asarray(lab.data).astype(np.uint8)
        names, axis = list(ds.class_names), 0
    else:
        raise SystemExit(f"unknown case {name!r}: colin27:kN, em:kN or msd:<id>:kN")
    painted = choose_slices(mask, axis, k, seed)
    scribbles = scribble_volume(mask, painted, axis, rng=np.random.default_rng([seed, 1]))
    return Case(name, image, mask, names, axis, painted, scribbles)
