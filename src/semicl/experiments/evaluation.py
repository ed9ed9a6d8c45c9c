"""Predict held-out volumes, write their masks, and score them with Dice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from semicl.errors import DatasetError, SemiclError, ShapeMismatchError
from semicl.io.readers import read_image, read_mask
from semicl.io.writers import write_mask
from semicl.islands import keep_stroked_islands
from semicl.metrics import DiceAccumulator
from semicl.training.trained_model import TrainedModel


def output_name(path: Path) -> str:
    """The input's file name (NIfTI in -> NIfTI out; TIFF in -> TIFF out; PNG -> TIFF)."""
    name = path.name
    return name[: -len(path.suffix)] + ".tif" if path.suffix.lower() == ".png" else name


def predict_files(
    model: TrainedModel, inputs: Sequence[Path], out_dir: Path, *,
    axis: int | None = None, log: Callable[[str], None] = print,
    keep_islands: Path | None = None,
) -> list[Path]:
    """Predict each input file and write ``out_dir/<input name>`` (atomically).

    ``keep_islands``: a scribble file of the one input; each structure keeps only its
    connected pieces that touch a stroke of it (:func:`semicl.islands.keep_stroked_islands`).
    """
    if keep_islands is not None and len(inputs) != 1:
        raise SemiclError(f"--keep-islands takes the scribbles of one image; {len(inputs)} "
                          "inputs were given: predict them one at a time.")
    strokes = np.asarray(read_mask(keep_islands).data) if keep_islands is not None else None
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in inputs:
        vol = read_image(path)
        pred = model.predict(vol.data, axis=axis)
        mask = pred.mask if strokes is None else keep_stroked_islands(pred.mask, strokes)
        target = out_dir / output_name(Path(path))
        write_mask(target, mask, like=vol, class_names=model.class_names)
        log(f"wrote {target}")
        written.append(target)
    return written


def evaluate_cases(
    model: TrainedModel, cases: Sequence, *, out_dir: Path | None = None,
    keep: int = 0,
) -> tuple[DiceAccumulator, list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]]:
    """Predict MSD cases (3-D volumes reassembled from slices) and accumulate Dice.

    Returns the accumulator and up to ``keep`` ``(case_id, image, gt, pred)`` examples.
    """
    acc = DiceAccumulator(model.num_classes)
    examples = []
    for case in cases:
        image, gt = case.load()
        pred = model.predict(image.data)
        acc.add(pred.mask, np.asarray(gt.data).astype(np.int64), case.case_id)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            write_mask(out_dir / Path(case.image_path).name, pred.mask, like=image,
                       class_names=model.class_names)
        if len(examples) < keep:
            examples.append((case.case_id, image.data, np.asarray(gt.data), pred.mask))
    return acc, examples


def pair_files(pred: Sequence[Path], gt: Sequence[Path]) -> list[tuple[Path, Path]]:
    """Match predictions to ground truths by file name (folders are listed)."""
    def listing(items: Sequence[Path]) -> dict[str, Path]:
        files: dict[str, Path] = {}
        for p in items:
            p = Path(p)
            for f in sorted(p.iterdir()) if p.is_dir() else [p]:
                if f.is_file() and not f.name.startswith("."):
                    files[f.name] = f
        return files

    p, g = listing(pred), listing(gt)
    common = sorted(set(p) & set(g))
    if not common:
        raise DatasetError("No prediction has a ground-truth file of the same name.")
    return [(p[n], g[n]) for n in common]


def evaluate_files(pairs: Sequence[tuple[Path, Path]], num_classes: int | None) -> DiceAccumulator:
    """Dice of mask files against ground-truth files."""
    loaded = [(read_mask(a).data, read_mask(b).data, b.name) for a, b in pairs]
    n = num_classes or int(max(max(p.max(), g.max()) for p, g, _ in loaded)) + 1
    acc = DiceAccumulator(max(n, 2))
    for p, g, name in loaded:
        if p.shape != g.shape:
            raise ShapeMismatchError(f"{name}: prediction {p.shape} vs ground truth {g.shape}.")
        acc.add(p, g, name)
    return acc
