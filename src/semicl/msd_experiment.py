"""Training and evaluation on an MSD/nnU-Net dataset folder (the paper's protocol).

A *split* names which volumes are labelled (their masks train the local and
fine-tuning stages), which are unlabelled (images only, global stage) and which are
held out for evaluation. ``splits.json`` (the project's fixed benchmark split) is
used when it holds the asked seed and fraction; otherwise volumes are drawn with a
seeded generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from semicl.data.dataset import SliceSet
from semicl.errors import DatasetError
from semicl.io.msd import MsdDataset
from semicl.training.data import TrainingData


@dataclass
class MsdSplit:
    """Case ids of each role, and how the split was made."""

    labelled: list[str]
    unlabelled: list[str]
    test: list[str]
    source: str

    def to_dict(self) -> dict:
        return asdict(self)


def choose_split(
    ds: MsdDataset,
    labelled_fraction: float,
    seed: int = 0,
    val_fraction: float | None = None,
) -> MsdSplit:
    """Pick labelled / unlabelled / held-out volumes.

    Without ``val_fraction`` every volume is used for training (no held-out set), as
    ``semicl train`` does. With ``val_fraction`` a seeded share is held out; when the
    dataset's ``splits.json`` fixes a test set and has ``labelled_fraction`` for
    ``seed``, that published split is used instead (so results are comparable).
    """
    if not 0.0 < labelled_fraction <= 1.0:
        raise DatasetError(
            f"--labelled-fraction must be in (0, 1], got {labelled_fraction}; e.g. 0.1 for 10%."
        )
    ids = [c.case_id for c in ds.cases]
    splits = getattr(ds, "splits", None)
    if val_fraction is not None and splits and str(seed) in splits.get("labelled", {}):
        listed = ds.listed_labelled(seed, labelled_fraction)
        if listed is not None:
            known = set(ids)
            train_ids = [i for i in splits["train"] if i in known]
            labelled = [i for i in listed if i in known]
            test = [i for i in splits["test"] if i in known]
            if labelled and test:
                unlabelled = [i for i in train_ids if i not in set(labelled)]
                return MsdSplit(labelled, unlabelled, test,
                                f"splits.json seed {seed} fraction {labelled_fraction:g}")
    rng = np.random.default_rng(seed)
    order = [ids[i] for i in rng.permutation(len(ids))]
    n_test = 0
    if val_fraction is not None:
        if not 0.0 < val_fraction < 1.0:
            raise DatasetError(f"--val-fraction must be in (0, 1), got {val_fraction}.")
        n_test = max(1, round(val_fraction * len(ids)))
    test, train_ids = order[:n_test], order[n_test:]
    n_lab = round(labelled_fraction * len(train_ids))
    if n_lab < 1:
        raise DatasetError(
            f"A labelled fraction of {labelled_fraction} of {len(train_ids)} training volumes "
            "selects no volume; raise --labelled-fraction."
        )
    return MsdSplit(sorted(train_ids[:n_lab]), sorted(train_ids[n_lab:]), sorted(test),
                    f"random, seed {seed}")


def load_training_data(
    ds: MsdDataset,
    split: MsdSplit,
    *,
    axis: int,
    size: tuple[int, int] | None,
    label_transform=None,
) -> TrainingData:
    """Slices of the labelled volumes (with masks) and of all training volumes (images).

    ``label_transform(mask) -> labels`` may turn a dense mask into sparse targets-like
    scribbles (used by the sparse-label benchmark); by default masks are used as is.
    """
    by_id = {c.case_id: c for c in ds.cases}
    lab_imgs, lab_masks, unl_imgs = [], [], []
    for cid in split.labelled:
        image, mask = by_id[cid].load()
        lab_imgs.append(image.data)
        lab_masks.append(mask.data if label_transform is None else label_transform(mask.data))
    for cid in split.unlabelled:
        image, _ = by_id[cid].load()
        unl_imgs.append(image.data)
    kind = "mask" if label_transform is None else "scribble"
    labelled = SliceSet.from_volumes(lab_imgs, lab_masks, axis=axis, size=size, kind=kind,
                                     num_classes=len(ds.class_names)).labelled()
    everything = SliceSet.from_volumes(lab_imgs + unl_imgs, None, axis=axis, size=size,
                                       kind="mask", num_classes=len(ds.class_names))
    return TrainingData(
        unlabelled=everything.images,
        images=labelled.images,
        targets=labelled.targets,
        class_names=list(ds.class_names),
    )


def foreground_share(data: TrainingData) -> float:
    """Share of labelled pixels that are foreground (for logs)."""
    lab = data.targets >= 0
    return float((data.targets > 0).sum()) / max(1, int(lab.sum()))

