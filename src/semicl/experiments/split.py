"""Training and evaluation on an MSD/nnU-Net dataset folder (the paper's protocol).

A *split* names which volumes are labelled (their masks train the local and
fine-tuning stages), which are unlabelled (images only, global stage) and which are
held out for evaluation. :func:`choose_split` is the one split of the project: the CLI,
``semicl demo`` and the benchmarks all call it, so they test on the same volumes, with
or without the dataset's ``splits.json`` (the project's fixed benchmark split, read by
:func:`semicl.io.msd.load_msd`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from semicl.data.dataset import SliceSet
from semicl.data.normalize import normalize_intensity
from semicl.data.slices import to_slices
from semicl.errors import DatasetError
from semicl.interactive import image_prior_weight
from semicl.io.msd import MsdDataset
from semicl.training.data import TrainingData

#: Share of the volumes held out for evaluation by ``semicl demo`` and the benchmarks
#: (``semicl train --val-fraction``); ``splits.json``, when present, fixes the set instead.
HELD_OUT_FRACTION = 0.2
#: The held-out volumes are drawn with this seed, whatever the run's seed.
HELD_OUT_SEED = 0


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

    * **Held out.** Without ``val_fraction`` none: every volume trains (``semicl train``).
      With it, the ``test`` list of the dataset's ``splits.json``, else
      ``round(val_fraction * n)`` volumes (at least one) drawn with
      :data:`HELD_OUT_SEED`. Either way the held-out set does not depend on ``seed``.
    * **Labelled.** The list ``splits.json`` gives for ``seed`` and ``labelled_fraction``
      (with a held-out set), else the first ``round(labelled_fraction * n_train)``
      training volumes of one order per seed: the seed's listed subsets of
      ``splits.json``, smallest first, then a permutation drawn with ``seed``. So a
      smaller fraction's volumes are among a larger one's, listed or not.

    Raises
    ------
    DatasetError
        A fraction out of range, no labelled volume, or a ``splits.json`` naming cases
        that are not in ``dataset.json``.
    """
    if not 0.0 < labelled_fraction <= 1.0:
        raise DatasetError(
            f"--labelled-fraction must be in (0, 1], got {labelled_fraction}; e.g. 0.1 for 10%."
        )
    if val_fraction is not None and not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"--val-fraction must be in (0, 1), got {val_fraction}.")
    ids = [c.case_id for c in ds.cases]
    splits = ds.splits if val_fraction is not None else None
    listed: dict[float, list[str]] = {}
    if splits is not None:
        listed = _listed_subsets(ds, seed)
        test, train = [str(i) for i in splits["test"]], [str(i) for i in splits["train"]]
    else:
        test = []
        if val_fraction is not None:
            held = np.random.default_rng(HELD_OUT_SEED).permutation(len(ids))
            test = sorted(ids[i] for i in held[: max(1, round(val_fraction * len(ids)))])
        train = sorted(set(ids) - set(test))
    labelled = next((v for f, v in listed.items() if math.isclose(f, labelled_fraction)), None)
    if labelled is not None:
        source = f"splits.json seed {seed} fraction {labelled_fraction:g}"
    else:
        n_lab = round(labelled_fraction * len(train))
        if n_lab < 1:
            raise DatasetError(
                f"A labelled fraction of {labelled_fraction} of {len(train)} training volumes "
                "selects no volume; raise --labelled-fraction."
            )
        labelled = sorted(_labelling_order(ids, train, listed, seed)[:n_lab])
        source = (f"splits.json test set, labelled drawn with seed {seed}" if splits is not None
                  else f"random, seed {seed}" if val_fraction is None
                  else f"random, seed {seed} (held-out volumes: seed {HELD_OUT_SEED})")
    chosen = set(labelled)
    return MsdSplit(labelled, [i for i in train if i not in chosen], test, source)


def _listed_subsets(ds: MsdDataset, seed: int) -> dict[float, list[str]]:
    """``splits.json``'s labelled lists for ``seed`` (fraction -> ids), checked against
    ``dataset.json``; empty when the seed is not listed."""
    splits = ds.splits or {}
    table = splits.get("labelled", {}).get(str(seed), {})
    listed = {float(f): [str(i) for i in v] for f, v in table.items()}
    named = [*splits.get("train", []), *splits.get("test", []), *(i for v in listed.values()
                                                                     for i in v)]
    known = set(ds.case_ids)
    unknown = [i for i in named if i not in known]
    if unknown:
        raise DatasetError(
            f"splits.json in {ds.root} names cases missing from dataset.json: "
            f"{unknown[:5]}; fix or delete splits.json."
        )
    train = {str(i) for i in splits.get("train", [])}
    outside = [i for v in listed.values() for i in v if i not in train]
    if outside:
        raise DatasetError(
            f"splits.json in {ds.root} lists labelled cases that are not in its 'train' list: "
            f"{outside[:5]}; fix or delete splits.json."
        )
    return listed


def _labelling_order(ids: list[str], train: list[str], listed: dict[float, list[str]],
                     seed: int) -> list[str]:
    """Training volumes in the order they become labelled as the fraction grows."""
    perm = np.random.default_rng(seed).permutation(len(ids))
    drawn = [ids[i] for i in perm]
    rank = {cid: r for r, cid in enumerate(drawn)}
    order: list[str] = []
    for f in sorted(listed):
        placed = set(order)
        order += sorted((i for i in listed[f] if i not in placed), key=rank.__getitem__)
    in_train, placed = set(train), set(order)
    return [i for i in order if i in in_train] + [i for i in drawn
                                                  if i in in_train and i not in placed]


def load_training_data(
    ds: MsdDataset,
    split: MsdSplit,
    *,
    axis: int,
    size: tuple[int, int] | None,
    label_transform=None,
    prior_reach: float = 0.0,
) -> TrainingData:
    """Slices of the labelled volumes (with masks) and of all training volumes (images).

    ``label_transform(mask) -> scribbles`` may turn a dense mask into strokes (scribble
    convention; used by the sparse-label benchmark); by default masks are used as is.
    With strokes and ``prior_reach`` > 0 the background prior's weights come along, each
    labelled volume's from its own strokes (:func:`semicl.interactive.image_prior_weight`,
    as for one image); the volumes without labels keep the full prior (weight 1).
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
    painted = SliceSet.from_volumes(lab_imgs, lab_masks, axis=axis, size=size, kind=kind,
                                    num_classes=len(ds.class_names))
    keep = painted.painted()
    labelled = painted.subset(keep)
    everything = SliceSet.from_volumes(lab_imgs + unl_imgs, None, axis=axis, size=size,
                                       kind="mask", num_classes=len(ds.class_names))
    weight = None
    if label_transform is not None and prior_reach > 0:
        weight = _prior_weights(lab_imgs, lab_masks, len(ds.class_names), axis, prior_reach,
                                everything)
    return TrainingData(
        unlabelled=everything.images,
        images=labelled.images,
        targets=labelled.targets,
        class_names=list(ds.class_names),
        prior_weight=None if weight is None else weight[: len(painted)][keep],
        unlabelled_prior_weight=weight,
    )


def _prior_weights(images: list, scribbles: list, num_classes: int, axis: int, reach: float,
                   everything: SliceSet) -> torch.Tensor:
    """``(N, H, W)`` prior weights of ``everything``'s slices, the labelled volumes
    (``images`` with their ``scribbles``) first; slices of other volumes, and pixels the
    slicing pads, keep weight 1."""
    out = torch.ones(everything.images.shape[:1] + everything.images.shape[2:])
    start = 0
    for v, (image, scr) in enumerate(zip(images, scribbles)):
        norm = normalize_intensity(np.asarray(getattr(image, "data", image)))
        w = image_prior_weight(norm, np.asarray(scr), num_classes, axis, reach)
        geometry = everything.geometries[v]
        lifted = 1 - to_slices(1 - w, axis, geometry.size)[0]  # padding: weight 1
        out[start:start + len(lifted)] = torch.from_numpy(lifted)
        start += len(lifted)
    return out


def foreground_share(data: TrainingData) -> float:
    """Share of labelled pixels that are foreground (for logs)."""
    lab = data.targets >= 0
    return float((data.targets > 0).sum()) / max(1, int(lab.sum()))

