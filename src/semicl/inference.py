"""Slice-wise prediction of 2-D images and 3-D volumes, with class probabilities.

Volumes are normalised like the training data, cut into 2-D slices along ``axis``,
padded to the training size (or larger, when a slice is larger), predicted in
batches, and reassembled to the input's shape.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from semicl.data.normalize import normalize_intensity
from semicl.data.slices import from_slices, to_slices
from semicl.device import release_memory
from semicl.errors import InvalidImageError
from semicl.events import ProgressEvent, Stage, drive
from semicl.labels import mask_dtype
from semicl.models.network import evaluating


@dataclass
class Prediction:
    """``mask``: input-shaped uint8 (0 = background, k = structure k);
    ``probs``: (C, *input.shape) float32 softmax probabilities."""

    mask: np.ndarray
    probs: np.ndarray


def check_image(image: np.ndarray) -> np.ndarray:
    """Accept 2-D or 3-D single-channel images; raise :class:`InvalidImageError` otherwise."""
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise InvalidImageError(
            f"Expected a 2-D image or a 3-D volume, got shape {image.shape}. Split 4-D data "
            "(time or channels) into separate volumes, and convert RGB images to grayscale."
        )
    if image.dtype.kind not in "uif" and image.dtype.kind != "b":
        raise InvalidImageError(f"Image dtype {image.dtype} is not numeric.")
    return image


def slice_size(train_size: tuple[int, int] | None, shape: tuple[int, ...], axis: int):
    """The size slices are padded to: the training size, grown to fit larger slices."""
    if train_size is None:
        return None
    plane = [s for i, s in enumerate(shape) if i != (axis % len(shape))] if len(shape) == 3 else shape
    return (max(train_size[0], plane[0]), max(train_size[1], plane[1]))


#: slices a prediction batch holds at most
MAX_BATCH = 16
#: on a CPU, a prediction batch holds at most this many pixels (at least one slice): the
#: round's two networks predicted Colin27 (181 x 217 x 181) in 0.53-0.58 of the time with
#: 1-2 slices a batch as with 16, whose feature maps lie far out of cache; MSD's small
#: slices keep 16 (``benchmarks/predict_speed.py``, ``results/predict_speed_cpu.md``)
CPU_BATCH_PIXELS = 3 * 2**15


def prediction_batch(height: int, width: int, device: torch.device) -> int:
    """Slices of ``height`` x ``width`` a prediction batch holds: :data:`MAX_BATCH` on a
    GPU; on a CPU as many as fit in :data:`CPU_BATCH_PIXELS`, between 1 and
    :data:`MAX_BATCH`."""
    if device.type != "cpu":
        return MAX_BATCH
    return max(1, min(MAX_BATCH, CPU_BATCH_PIXELS // max(1, height * width)))


def predict_iter(
    net: torch.nn.Module,
    image: np.ndarray,
    *,
    axis: int = 0,
    size: tuple[int, int] | None = None,
    batch_size: int | None = None,
    device: torch.device | None = None,
    normalized: bool = False,
) -> Generator[ProgressEvent, None, Prediction]:
    """Predict ``image`` (H, W) or (Z, Y, X) slice by slice; yields one event per batch.

    ``batch_size``: slices a batch; None = :func:`prediction_batch` of the slice size.
    ``normalized=True``: ``image`` is already :func:`normalize_intensity`'s output (an
    interactive round normalises once, for training and prediction alike).
    """
    image = check_image(image)
    device = device or next(net.parameters()).device
    norm = np.asarray(image, np.float32) if normalized else normalize_intensity(image)
    slices, geometry = to_slices(norm, axis, slice_size(size, image.shape, axis))
    n = slices.shape[0]
    if batch_size is None:
        batch_size = prediction_batch(*slices.shape[-2:], device)
    elif batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 or None, got {batch_size}.")
    total = (n + batch_size - 1) // batch_size
    chunks: list[np.ndarray] = []
    t0 = time.perf_counter()
    try:
        with evaluating(net):
            for b, start in enumerate(range(0, n, batch_size)):
                x = torch.from_numpy(np.ascontiguousarray(slices[start : start + batch_size]))
                with torch.no_grad():
                    logits = net(x[:, None].to(device))
                    chunks.append(torch.softmax(logits.float(), 1).cpu().numpy())
                yield ProgressEvent(Stage.PREDICT, b + 1, total, None, time.perf_counter() - t0)
    finally:
        release_memory(device)  # the batches' cached GPU memory
    probs = from_slices(np.concatenate(chunks), geometry).astype(np.float32, copy=False)
    mask = probs.argmax(0).astype(mask_dtype(probs.shape[0] - 1))
    return Prediction(mask=mask, probs=probs)


def predict(net: torch.nn.Module, image: np.ndarray, **kw) -> Prediction:
    """Blocking form of :func:`predict_iter`."""
    return drive(predict_iter(net, image, **kw))


def entropy(probs: np.ndarray) -> np.ndarray:
    """Per-pixel entropy (nats) of (C, ...) probabilities; 0 = certain, log C = uniform."""
    p = np.clip(np.asarray(probs, dtype=np.float32), 1e-8, 1.0)
    return -(p * np.log(p)).sum(0).astype(np.float32)


def most_uncertain_slice(
    uncertainty: np.ndarray, axis: int = 0, exclude: Iterable[int] = ()
) -> int:
    """Index along ``axis`` of the slice with the highest mean uncertainty, skipping ``exclude``.

    Raises :class:`InvalidImageError` for 2-D input or when every slice is excluded.
    """
    u = np.asarray(uncertainty)
    if u.ndim != 3:
        raise InvalidImageError("Choosing a slice needs a 3-D volume.")
    scores = np.moveaxis(u, axis, 0).reshape(u.shape[axis], -1).mean(1)
    skip = set(int(i) for i in exclude)
    order = [int(i) for i in np.argsort(-scores, kind="stable") if int(i) not in skip]
    if not order:
        raise InvalidImageError("Every slice is already annotated.")
    return order[0]
