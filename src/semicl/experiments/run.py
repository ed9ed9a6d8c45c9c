"""Training runs that write a run folder: model.pt, config.json, split.json, history.csv."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from semicl.config import TrainConfig
from semicl.errors import SemiclError
from semicl.experiments.reporting import drive_with_progress
from semicl.experiments.split import MsdSplit, choose_split, foreground_share, load_training_data
from semicl.io.atomic import atomic_path
from semicl.io.download import find_or_fetch_msd
from semicl.io.msd import load_msd
from semicl.training.pipeline import train
from semicl.training.trained_model import TrainedModel


def write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=1) + "\n")


def write_history(path: str | Path, history: Iterable[Sequence]) -> Path:
    """The loss-history CSV (``stage,step,loss``, one row per training step), atomically.

    ``history``: ``(stage, step, loss)`` rows, as ``TrainedModel.history`` holds them (a
    run folder's ``history.csv``) or a plugin session collects them over its rounds.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        lines = ["stage,step,loss"] + [f"{s},{i},{v:.6g}" for s, i, v in history]
        Path(tmp).write_text("\n".join(lines) + "\n")
    return path


def auto_size(shapes: Sequence[tuple[int, ...]], axis: int, multiple: int = 16) -> tuple[int, int]:
    """The smallest multiple-of-16 slice size that holds every slice (no cropping)."""
    planes = [[s for i, s in enumerate(shape) if i != axis % len(shape)] if len(shape) == 3
              else list(shape) for shape in shapes]
    h = max(p[0] for p in planes)
    w = max(p[1] for p in planes)
    return (math.ceil(h / multiple) * multiple, math.ceil(w / multiple) * multiple)


def save_run(out: Path, model: TrainedModel, split: MsdSplit | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = model.save(out / "model.pt")
    write_json(out / "config.json", model.config.to_dict())
    if split is not None:
        write_json(out / "split.json", split.to_dict())
    write_history(out / "history.csv", model.history)
    return path


def msd_setup(data: str | Path | None, config: TrainConfig, labelled_fraction: float,
              val_fraction: float | None, size: tuple[int, int] | None):
    """Load the dataset, choose the split and the slice size, and gather the slices."""
    ds = load_msd(find_or_fetch_msd(data))
    split = choose_split(ds, labelled_fraction, config.seed, val_fraction)
    if size is None:
        import nibabel as nib

        shapes = [nib.load(str(c.image_path)).shape for c in ds.cases]
        size = auto_size(shapes, config.slice_axis)
    config.image_size = size
    tdata = load_training_data(ds, split, axis=config.slice_axis, size=size)
    print(f"{ds.name}: {len(split.labelled)} labelled, {len(split.unlabelled)} unlabelled, "
          f"{len(split.test)} held-out volumes ({split.source}); {len(tdata.images)} labelled "
          f"slices, {len(tdata.unlabelled)} slices in all, size {size}, "
          f"foreground {100 * foreground_share(tdata):.1f}% of labelled pixels")
    return ds, split, tdata


def train_from_msd(data: str | Path | None, config: TrainConfig, labelled_fraction: float,
                   val_fraction: float | None, size: tuple[int, int] | None, out: Path,
                   init: Path | None = None) -> TrainedModel:
    _, split, tdata = msd_setup(data, config, labelled_fraction, val_fraction, size)
    start = TrainedModel.load(init, config.device) if init else None
    model = drive_with_progress(train(tdata, config, init=start))
    save_run(out, model, split)
    return model


def train_from_images(image: Path, scribbles: Path, config: TrainConfig,
                      class_names: Sequence[str] | None, out: Path,
                      init: Path | None = None) -> TrainedModel:
    """``semicl train --image``: one :func:`~semicl.interactive.training_round`, as the
    plugin's Train runs it (no first look, no prediction), saved as a run folder."""
    from semicl.interactive import RoundResult, training_round
    from semicl.io.readers import read_image, read_mask
    from semicl.labels import default_class_names

    img, scr = read_image(image), read_mask(scribbles)
    if class_names is None:
        class_names = default_class_names(max(2, int(scr.data.max())))
    start = TrainedModel.load(init, config.device) if init else None
    gen = training_round(img.data, scr.data, class_names=list(class_names), config=config,
                         axis=config.slice_axis, init=start, pretrain=True, predict=False)
    result = drive_with_progress(gen)
    if not isinstance(result, RoundResult):
        raise SemiclError("Training ended without a model.")
    save_run(out, result.model)
    return result.model
