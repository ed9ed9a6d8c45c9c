"""Data side of the label-efficiency benchmark (issue #4): splits, sparse strokes, test sets.

Three datasets, one shape of result (:class:`Prepared`):

* ``hippocampus`` — MSD Task04, the paper's protocol: the fixed ``splits.json`` split
  (156 train / 44 test); a labelled fraction F of the 156 training volumes gives its
  masks (``dense``) or a few strokes per class per slice (``sparse``); all 156 volumes
  feed the global stage. Slices along axis 0, padded to one size (``auto_size``).
* ``em`` — ISBI-2012 EM stack (24 x 512 x 512). Mapping: mask 0 = cell interior (label 2,
  the background), mask 1 = membrane (label 1, the thin structure to trace). ``k`` of the
  24 slices are labelled, the other slices are scored, each slice as its own "volume".
* ``colin27`` — Colin27 T1 + AAL, within one volume. Six deep structures merged left/right
  into three classes: 1 caudate (AAL 71/72), 2 putamen (73/74), 3 thalamus (77/78). Axial
  slices (axis 2, RAS); ``k`` slices drawn stratified over the slices holding a structure
  (about 39 of 181) are labelled; every other slice of the volume is scored as one volume.

Within one volume (``em``, ``colin27``) the global stage sees every slice of the volume
(transductive, as in the plugin's use); the labelled slices are never scored.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semicl.experiments.run import auto_size
from semicl.experiments.split import HELD_OUT_FRACTION, MsdSplit, choose_split, load_training_data
from semicl.io.msd import MsdDataset, load_msd
from semicl.labels import mask_to_scribbles, mask_to_targets, scribbles_to_targets
from semicl.scribbles import budget_strokes, choose_slices
from semicl.training.data import TrainingData

DATASETS = ("hippocampus", "em", "colin27")
WITHIN = ("em", "colin27")  # one volume: label k slices, score the rest
FOLDERS = {"hippocampus": "msd_task04_hippocampus", "em": "isbi2012_em", "colin27": "colin27_aal"}
COLIN_CLASSES = {1: (71, 72), 2: (73, 74), 3: (77, 78)}
COLIN_NAMES = ["background", "caudate", "putamen", "thalamus"]
EM_NAMES = ["cell interior", "membrane"]


@dataclass
class TestItem:
    """A volume to predict; ``slices`` (indices along ``axis``) restricts scoring."""

    id: str
    image: np.ndarray
    gt: np.ndarray
    slices: np.ndarray | None = None
    per_slice: bool = False  # score each slice as its own volume (EM)


@dataclass
class Prepared:
    """Everything one (dataset, protocol, fraction, seed) cell needs, loaded once."""

    dataset: str
    class_names: list[str]
    data: TrainingData
    axis: int
    size: tuple[int, int] | None  # slice size for the network; None = native
    tests: list[TestItem]
    rf_pairs: Callable[[], list[tuple[np.ndarray, np.ndarray]]]  # (image, targets -1/0/k)
    info: dict = field(default_factory=dict)  # n_labelled, label_share, split source, ...


# ----------------------------------------------------------------------------- paths
def data_root(dataset: str, data: str | Path | None) -> Path:
    """The dataset folder: ``data`` itself or its known child, else ``$SEMICL_DATA_DIR``
    (or ``../shared/data`` beside the repository) and the child."""
    folder = FOLDERS[dataset]
    cands = []
    if data:
        cands += [Path(data), Path(data) / folder]
    env = os.environ.get("SEMICL_DATA_DIR")
    if env:
        cands += [Path(env), Path(env) / folder]
    cands.append(Path(__file__).resolve().parents[2] / "shared" / "data" / folder)
    marker = {"hippocampus": "dataset.json", "em": "train-volume.tif", "colin27": "ch2.nii.gz"}
    for c in cands:
        if (c / marker[dataset]).is_file():
            return c
    raise FileNotFoundError(f"No {dataset} data ({folder}/) under {cands}; pass --data.")


# ----------------------------------------------------------------------------- sparse strokes
# The sparse protocol's lines come from the project's one stroke simulator.
slice_strokes = budget_strokes


def scribble_strokes(mask: np.ndarray, axis: int = 0, fraction: float = 0.01,
                     rng: np.random.Generator | None = None) -> np.ndarray:
    """Scribble volume from a dense mask: :func:`slice_strokes` on every slice along ``axis``."""
    rng = rng if rng is not None else np.random.default_rng(0)
    m = np.moveaxis(np.asarray(mask), axis, 0)
    out = np.stack([slice_strokes(s, fraction, rng) for s in m])
    return np.moveaxis(out, 0, axis)


def sparse_transform(seed: int, axis: int, fraction: float) -> Callable[[np.ndarray], np.ndarray]:
    """``label_transform`` for :func:`load_training_data`: strokes seeded by (seed, mask
    content), so the network and the random forest get the same strokes in any order."""
    def transform(mask: np.ndarray) -> np.ndarray:
        m = np.ascontiguousarray(mask)
        rng = np.random.default_rng([seed, zlib.crc32(m.tobytes())])
        return scribble_strokes(m, axis, fraction, rng)
    return transform


# ----------------------------------------------------------------------------- hippocampus
class MsdBench:
    """The MSD dataset, its slice size and its test volumes, loaded once per process."""

    axis = 0

    def __init__(self, root: Path):
        self.ds: MsdDataset = load_msd(root)
        import nibabel as nib

        self.shapes = {c.case_id: nib.load(str(c.image_path)).shape for c in self.ds.cases}
        self.size = auto_size(list(self.shapes.values()), self.axis)
        self._tests: list[TestItem] | None = None

    def split(self, fraction: float, seed: int) -> MsdSplit:
        """The split ``semicl demo`` and ``semicl train --val-fraction 0.2`` use."""
        return choose_split(self.ds, fraction, seed, HELD_OUT_FRACTION)

    def tests(self, split: MsdSplit) -> list[TestItem]:
        if self._tests is None or [t.id for t in self._tests] != list(split.test):
            self._tests = []
            for case in self.ds.select(list(split.test)):
                image, gt = case.load()
                self._tests.append(TestItem(case.case_id, np.asarray(image.data),
                                            np.asarray(gt.data).astype(np.int64)))
        return self._tests

    def prepare(self, fraction: float, seed: int, protocol: str,
                sparse_fraction: float = 0.01, prior_reach: float = 0.0) -> Prepared:
        """``prior_reach``: the background prior's weights from the strokes (sparse only)."""
        split = self.split(fraction, seed)
        tf = sparse_transform(seed, self.axis, sparse_fraction) if protocol == "sparse" else None
        tdata = load_training_data(self.ds, split, axis=self.axis, size=self.size,
                                   label_transform=tf, prior_reach=prior_reach)
        cases = self.ds.select(list(split.labelled))

        def rf_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
            pairs = []
            for c in cases:
                image, mask = c.load()
                m = np.asarray(mask.data)
                t = mask_to_targets(m) if tf is None else scribbles_to_targets(tf(m))
                pairs.append((np.asarray(image.data), t))
            return pairs

        painted = int((tdata.targets >= 0).sum()) if tf is not None else None
        voxels = sum(int(np.prod(self.shapes[i])) for i in split.labelled)
        info = {"n_labelled_volumes": len(split.labelled), "n_labelled": len(split.labelled),
                "n_train_volumes": len(split.labelled) + len(split.unlabelled),
                "n_labelled_slices": int(len(tdata.images)),
                "n_unlabelled_slices": int(len(tdata.unlabelled)),
                "label_share": 1.0 if painted is None else painted / max(1, voxels),
                "split": split.source, "slice_size": list(self.size)}
        return Prepared("hippocampus", list(self.ds.class_names), tdata, self.axis, self.size,
                        self.tests(split), rf_pairs, info)


# ----------------------------------------------------------------------------- one volume
def load_em(root: Path) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    import tifffile

    image = tifffile.imread(root / "train-volume.tif")
    labels = tifffile.imread(root / "train-labels.tif")
    return image, (labels == 1).astype(np.uint8), list(EM_NAMES), 0


def load_colin(root: Path) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    import nibabel as nib

    image = np.asarray(nib.load(str(root / "ch2.nii.gz")).dataobj)
    aal = np.asarray(nib.load(str(root / "aal.nii.gz")).dataobj)
    mask = np.zeros(aal.shape, np.uint8)
    for cls, codes in COLIN_CLASSES.items():
        mask[np.isin(aal, codes)] = cls
    return image, mask, list(COLIN_NAMES), 2


class WithinBench:
    """One volume (EM stack or Colin27): label ``k`` slices, score the others."""

    def __init__(self, dataset: str, root: Path):
        loader = load_em if dataset == "em" else load_colin
        self.dataset = dataset
        self.image, self.mask, self.class_names, self.axis = loader(root)

    @property
    def n_slices(self) -> int:
        return int(self.image.shape[self.axis])

    def prepare(self, k: int, seed: int, protocol: str,
                sparse_fraction: float = 0.01, prior_reach: float = 0.0) -> Prepared:
        """``prior_reach``: the background prior's weights from the strokes (sparse only)."""
        from semicl.interactive import prepare_image_data

        chosen = choose_slices(self.mask, self.axis, k, seed)
        scr = np.zeros(self.mask.shape, np.uint8)
        rng = np.random.default_rng([seed, 7])
        for i in chosen:
            sl = np.take(self.mask, i, self.axis)
            val = mask_to_scribbles(sl) if protocol == "dense" else \
                slice_strokes(sl, sparse_fraction, rng)
            idx = [slice(None)] * 3
            idx[self.axis] = int(i)
            scr[tuple(idx)] = val
        tdata = prepare_image_data(self.image, scr, self.class_names, self.axis,
                                   prior_reach=prior_reach if protocol == "sparse" else 0.0)
        tdata.preview = None
        rest = np.setdiff1d(np.arange(self.n_slices), chosen)
        tests = [TestItem(self.dataset, self.image, self.mask.astype(np.int64), rest,
                          per_slice=self.dataset == "em")]
        painted = int((tdata.targets >= 0).sum())
        info = {"n_labelled": int(len(chosen)), "n_labelled_slices": int(len(chosen)),
                "labelled_slices": [int(i) for i in chosen], "n_slices": self.n_slices,
                "n_unlabelled_slices": int(len(tdata.unlabelled)),
                "label_share": painted / max(1, tdata.targets.numel()),
                "split": f"{len(chosen)} of {self.n_slices} slices (axis {self.axis}), seed {seed}",
                "slice_size": list(tdata.images.shape[2:])}
        targets = scribbles_to_targets(scr)
        return Prepared(self.dataset, list(self.class_names), tdata, self.axis, None, tests,
                        lambda: [(self.image, targets)], info)
