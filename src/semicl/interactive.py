"""Training on one image with a few scribbles: the entry point of the napari plugin.

Qt-free. :func:`training_round` is one whole round as the plugin's Train / Retrain runs
it: validate and build the training data once (normalised once), a "first look" when
pretraining is ahead (its own :class:`Stage`: a pixel forest's overlay of the viewed slice),
pretraining + fine-tuning (or a warm fine-tune from ``init``), then the whole-image
prediction with per-pixel entropy. The
plugin wraps it in a ``thread_worker``, steers it with a :class:`TrainControl`, and
applies the events to layers on the main thread; ``semicl train --image`` and
``benchmarks/scribbles.py`` run the same generator.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from semicl.config import TrainConfig
from semicl.data.normalize import normalize_intensity
from semicl.data.slices import labels_to_slices, to_slices
from semicl.errors import LabelError, ShapeMismatchError
from semicl.events import PreviewEvent, ProgressEvent, Stage
from semicl.inference import check_image, entropy
from semicl.islands import keep_stroked_islands
from semicl.labels import IGNORE_INDEX, check_trainable, painted_slices, scribbles_to_targets
from semicl.pixel_forest import PixelForest
from semicl.prior_weight import prior_weight
from semicl.slice_smoothing import slice_step
from semicl.training.control import TrainControl
from semicl.training.data import TrainingData
from semicl.training.members import train_members
from semicl.training.stages import finetune_steps
from semicl.training.trained_model import TrainedModel

__all__ = ["RoundResult", "TrainControl", "answer_slices", "image_prior_weight",
           "prepare_image_data", "train_on_image", "training_round", "validate_training_input"]

#: the first look's forest learns from at most this many painted slices
FIRST_LOOK_FOREST_SLICES = 8


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


def image_prior_weight(norm: np.ndarray, scribbles: np.ndarray, num_classes: int, axis: int,
                       reach: float, beyond: float = 0.0) -> np.ndarray:
    """The background prior's weights of one image (shape of ``scribbles``): a
    :func:`semicl.prior_weight.prior_weight` whose slice step is read off ``norm``, the
    image normalised (a 2-D image or a one-slice volume: 1)."""
    step = slice_step(norm, axis) if norm.ndim == 3 and norm.shape[axis] > 1 else 1.0
    return prior_weight(scribbles, num_classes, axis=axis, reach=reach, step=step,
                        beyond=beyond)


def answer_slices(previous: np.ndarray, shape: tuple[int, ...], axis: int) -> torch.Tensor:
    """A previous answer, (C, *shape) per-class probabilities of an image of ``shape``,
    sliced along ``axis`` as the image is: (N, C, H, W) float16."""
    previous = np.asarray(previous)
    if previous.ndim != len(shape) + 1 or previous.shape[1:] != tuple(shape):
        raise ShapeMismatchError(
            f"The previous answer has shape {previous.shape}; expected (classes, "
            f"{', '.join(map(str, shape))}).")
    return torch.from_numpy(np.stack([to_slices(p, axis, None)[0].astype(np.float16)
                                      for p in previous], 1))


def _painted(scribbles: np.ndarray, axis: int) -> torch.Tensor:
    """(N,) bool tensor: :func:`semicl.labels.painted_slices`."""
    return torch.from_numpy(painted_slices(scribbles, axis))


def _with_answer(data: TrainingData, previous: np.ndarray, scribbles: np.ndarray,
                 axis: int) -> TrainingData:
    answer = answer_slices(previous, np.shape(scribbles), axis)
    return dataclasses.replace(data, previous=answer[_painted(scribbles, axis)],
                               unlabelled_previous=answer)


def prepare_image_data(
    image: np.ndarray, scribbles: np.ndarray, class_names: Sequence[str], axis: int = 0, *,
    prior_reach: float = 0.0, prior_beyond: float = 0.0, previous: np.ndarray | None = None,
) -> TrainingData:
    """Validate, normalise, slice along ``axis`` (native size): the one builder of an
    image's training data. ``unlabelled`` and ``preview`` hold every slice; ``images`` /
    ``targets`` the slices with scribbles. With ``prior_reach`` or ``prior_beyond`` > 0 the
    background prior's weights (:func:`semicl.prior_weight.prior_weight`, the slice step
    read off the image) come along; otherwise none (the prior weighs every unpainted pixel
    alike). ``previous``: the previous round's answer, (C, *image.shape) probabilities, for
    a warm Retrain to hold on to (:func:`answer_slices`)."""
    targets = validate_training_input(image, scribbles, class_names)
    norm = normalize_intensity(image)
    slices, geometry = to_slices(norm, axis, None)
    target_slices = labels_to_slices(targets, geometry, IGNORE_INDEX)
    painted = _painted(scribbles, axis)
    all_slices = torch.from_numpy(np.ascontiguousarray(slices, dtype=np.float32))[:, None]
    weight = None
    if prior_reach > 0 or prior_beyond > 0:
        weight = torch.from_numpy(to_slices(image_prior_weight(
            norm, scribbles, len(class_names), axis, prior_reach, prior_beyond), axis,
            None)[0])
    data = TrainingData(
        unlabelled=all_slices,
        images=all_slices[painted],
        targets=torch.from_numpy(np.ascontiguousarray(target_slices[painted.numpy()],
                                                      dtype=np.int64)),
        class_names=list(class_names),
        preview=all_slices,
        prior_weight=None if weight is None else weight[painted],
        unlabelled_prior_weight=weight,
    )
    return data if previous is None else _with_answer(data, previous, scribbles, axis)


def _round_config(config: TrainConfig, axis: int) -> TrainConfig:
    return dataclasses.replace(config, slice_axis=axis, image_size=None)


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
    """Train on ``image`` (H, W) or (Z, Y, X) from ``scribbles`` of the same shape: a
    :func:`training_round` without first look or prediction, returning its model.

    Scribbles: 0 = unpainted, 1 = background, k >= 2 = structure k-1. The global stage
    uses every slice along ``axis``; local and fine-tuning stages use painted slices.
    With ``init`` and ``pretrain=False`` only fine-tuning runs (warm start).
    Yields ProgressEvent / PreviewEvent; returns the :class:`TrainedModel`.
    """
    result = yield from training_round(image, scribbles, class_names=class_names,
                                       config=config, axis=axis, init=init, pretrain=pretrain,
                                       control=control, predict=False)
    return result.model


@dataclass
class RoundResult:
    """What one :func:`training_round` hands back."""

    model: TrainedModel  #: the round's model (not fine-tuned when stopped before fine-tuning)
    mask: np.ndarray | None  #: image-shaped prediction (0 = background); None if not fine-tuned
    entropy: np.ndarray | None  #: image-shaped per-pixel entropy (nats); None likewise
    axis: int
    stopped: bool = False  #: a stop was requested during the round
    #: (C, *image shape) float16 probabilities behind ``mask`` (what the person sees; the
    #: next Retrain's ``previous``); None where ``mask`` is
    probs: np.ndarray | None = None


def _first_look(data: TrainingData, config: TrainConfig, control: TrainControl
                ) -> Iterator[object]:
    """The first overlay: a pixel forest (:class:`semicl.pixel_forest.PixelForest`) fitted
    on the strokes of a few painted slices, its prediction of the viewed slice shown as a
    ``Stage.FIRST_LOOK`` preview (step 0) between two progress events, in a second or two.

    Nothing without a viewed slice. A network fine-tuned for 30 steps used to follow, kept
    if Stop came during pretraining: it showed next to nothing on Colin27 and MSD and took
    5-9 s of every Train (docs/performance.md, session 29).
    """
    index = control.preview_slice
    if index is None or data.preview is None or not 0 <= index < len(data.preview) \
            or control.stop_requested:
        return
    start = time.perf_counter()
    yield ProgressEvent(Stage.FIRST_LOOK, 0, 1, message="a pixel forest on your strokes")
    # a few painted slices, evenly spread: seconds, however many are painted
    some = np.unique(np.linspace(0, len(data.images) - 1,
                                 FIRST_LOOK_FOREST_SLICES).round().astype(int))
    forest = PixelForest(zip(data.images[some, 0].numpy(), data.targets[some].numpy()),
                         seed=config.seed)
    yield PreviewEvent(Stage.FIRST_LOOK, 0, index, forest.predict(data.preview[index, 0]
                                                                  .numpy()))
    yield ProgressEvent(Stage.FIRST_LOOK, 1, 1, elapsed_s=time.perf_counter() - start)


def training_round(
    image: np.ndarray,
    scribbles: np.ndarray,
    *,
    class_names: Sequence[str],
    config: TrainConfig,
    axis: int = 0,
    init: TrainedModel | None = None,
    pretrain: bool = True,
    control: TrainControl | None = None,
    first_look: bool = False,
    predict: bool = True,
    keep_islands: bool = False,
    previous: np.ndarray | None = None,
) -> Generator[object, None, RoundResult]:
    """One Train (``init=None``) or Retrain (``init`` = the current model,
    ``pretrain=False``) round on ``image`` (H, W) or (Z, Y, X).

    Builds the training data once; with ``first_look`` and pretraining ahead, the first
    look comes first (``Stage.FIRST_LOOK`` events: a pixel forest's overlay of the viewed
    slice, :func:`_first_look`); then ``config.members`` networks side by side
    (:func:`semicl.training.members.train_members`; one is
    :func:`semicl.training.pipeline.train`), warm from ``init``'s networks; then (if
    ``predict`` and the model is fine-tuned) the whole image is predicted, with entropy;
    with ``keep_islands`` the mask keeps only each structure's connected pieces that touch
    a stroke of it (:func:`semicl.islands.keep_stroked_islands`; the entropy is the
    network's own). A warm Retrain with ``FinetuneConfig.keep_previous`` holds on to the
    previous round's answer, ``previous`` (its :attr:`RoundResult.probs`, what the person
    saw); without one (a model opened from disk) ``init`` works it out first, once
    (``Stage.PREDICT`` events).
    Yields ProgressEvent / PreviewEvent; returns a :class:`RoundResult`.
    """
    control = control if control is not None else TrainControl()
    data = prepare_image_data(image, scribbles, class_names, axis,
                              prior_reach=config.finetune.prior_reach,
                              prior_beyond=config.finetune.prior_beyond)
    ft = config.finetune
    if init is not None and not pretrain and init.finetuned and ft.enabled \
            and ft.keep_previous > 0 and init.num_classes == len(class_names) \
            and ft.from_strokes(data.targets) and finetune_steps(ft, data.targets, fresh=False):
        if previous is None:
            previous = (yield from init.predict_iter(_normalised(data, image, axis), axis=axis,
                                                     normalized=True)).probs
        data = _with_answer(data, previous, scribbles, axis)
    config = _round_config(config, axis)
    pretraining = pretrain and (config.global_stage.enabled or config.local_stage.enabled)
    if first_look and init is None and pretraining:
        yield from _first_look(data, config, control)
    # stopped already: train() returns at once (a model not fine-tuned, no mask)
    model = yield from train_members(data, config, init=init, pretrain=pretrain,
                                     control=control)
    stopped = bool(control.stop_requested)
    if not (predict and model.finetuned):
        return RoundResult(model, None, None, axis, stopped)
    volume = _normalised(data, image, axis)
    del data  # the prior's weights and the previous answer: not needed to predict
    pred = yield from model.predict_iter(volume, axis=axis, normalized=True)
    mask = keep_stroked_islands(pred.mask, scribbles) if keep_islands else pred.mask
    return RoundResult(model, mask, entropy(pred.probs), axis, stopped,
                       pred.probs.astype(np.float16))


def _normalised(data: TrainingData, image: np.ndarray, axis: int) -> np.ndarray:
    """The image as ``data`` holds it, normalised, in the image's own layout."""
    norm = data.preview[:, 0].numpy()
    return np.moveaxis(norm, 0, axis) if np.ndim(image) == 3 else norm[0]
