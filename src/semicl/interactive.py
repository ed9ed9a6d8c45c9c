"""Training on one image with a few scribbles: the entry point of the napari plugin.

Qt-free: the plugin wraps :func:`train_on_image` in a ``thread_worker``, steers it
with a :class:`TrainControl`, and applies the events to layers on the main thread.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import numpy as np
import torch

from semicl.config import TrainConfig
from semicl.data.normalize import normalize_intensity
from semicl.data.slices import labels_to_slices, to_slices
from semicl.errors import LabelError, ShapeMismatchError
from semicl.inference import check_image
from semicl.labels import IGNORE_INDEX, check_trainable, scribbles_to_targets
from semicl.training.control import TrainControl
from semicl.training.data import TrainingData
from semicl.training.pipeline import train
from semicl.training.trained_model import TrainedModel

__all__ = ["TrainControl", "first_look_config", "prepare_image_data", "train_on_image",
           "validate_training_input"]

#: The "first look": a fresh network fine-tuned for a few steps with small batches and a
#: brisk learning rate, so a rough overlay exists within seconds of pressing Train.
FIRST_LOOK_BATCH = 4
FIRST_LOOK_LR = 3e-3


def validate_training_input(
    image: np.ndarray, scribbles: np.ndarray, class_names: Sequence[str]
) -> np.ndarray:
    """Check image and scribbles (cheap; call it on the GUI thread); return the targets.

    Raises a :class:`~semicl.errors.SemiclError` subclass whose message says what to do.
    """
    image = check_image(image)
    scribbles = np.asarray(scribbles)
    if scribbles.shape != image.shape:
        raise ShapeMismatchError(
            f"Scribbles have shape {scribbles.shape} but the image has {image.shape}; create "
            "the scribble layer from this image ('New scribbles')."
        )
    if len(class_names) < 2:
        raise LabelError("Define at least two classes: background and one structure.")
    targets = scribbles_to_targets(scribbles, len(class_names))
    check_trainable(targets, list(class_names))
    return targets


def first_look_config(config: TrainConfig, steps: int) -> TrainConfig:
    """A fine-tune-only copy of ``config``: ``steps`` steps, batch <= 4, lr >= 3e-3.

    A rough network in seconds, not a good one; the plugin shows it while the full
    pipeline (pretraining included) runs.
    """
    import copy

    quick = copy.deepcopy(config)
    quick.global_stage.enabled = quick.local_stage.enabled = False
    ft = quick.finetune
    ft.enabled = True
    ft.set_steps(steps)
    ft.batch_size, ft.lr = min(ft.batch_size, FIRST_LOOK_BATCH), max(ft.lr, FIRST_LOOK_LR)
    quick.validate()
    return quick


def prepare_image_data(
    image: np.ndarray, scribbles: np.ndarray, class_names: Sequence[str], axis: int = 0
) -> TrainingData:
    """Normalise, slice along ``axis`` (native size) and keep the slices that have scribbles."""
    targets = validate_training_input(image, scribbles, class_names)
    norm = normalize_intensity(image)
    slices, geometry = to_slices(norm, axis, None)
    target_slices = labels_to_slices(targets, geometry, IGNORE_INDEX)
    painted = (target_slices != IGNORE_INDEX).reshape(len(target_slices), -1).any(1)
    all_slices = torch.from_numpy(np.ascontiguousarray(slices, dtype=np.float32))[:, None]
    return TrainingData(
        unlabelled=all_slices,
        images=all_slices[torch.from_numpy(painted)],
        targets=torch.from_numpy(np.ascontiguousarray(target_slices[painted], dtype=np.int64)),
        class_names=list(class_names),
        preview=all_slices,
    )


def train_on_image(
    image: np.ndarray,
    scribbles: np.ndarray,
    *,
    class_names: Sequence[str],
    config: TrainConfig,
    axis: int = 0,
    init: TrainedModel | None = None,
    pretrain: bool = True,
    control: TrainControl | None = None,
) -> Generator[object, None, TrainedModel]:
    """Train on ``image`` (H, W) or (Z, Y, X) from ``scribbles`` of the same shape.

    Scribbles: 0 = unpainted, 1 = background, k >= 2 = structure k-1. The global stage
    uses every slice along ``axis``; local and fine-tuning stages use painted slices.
    With ``init`` and ``pretrain=False`` only fine-tuning runs (warm start).
    Yields ProgressEvent / PreviewEvent; returns the :class:`TrainedModel`.
    """
    import dataclasses

    config = dataclasses.replace(config, slice_axis=axis, image_size=None)
    data = prepare_image_data(image, scribbles, class_names, axis)
    return (yield from train(data, config, init=init, pretrain=pretrain, control=control))
