"""Background jobs: thin generators around the engine, run in napari ``thread_worker``s.

The jobs receive numpy copies and a :class:`~semicl.interactive.TrainControl`, never a
layer; they yield the engine's small events and return a :class:`JobResult`. torch is
imported here, inside the functions, so importing the plugin stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class JobResult:
    """What a finished job hands back to the main thread."""

    model: Any  #: semicl TrainedModel (None for a failed prediction)
    mask: np.ndarray | None  #: image-shaped prediction (0 = background), None if not predicted
    entropy: np.ndarray | None  #: image-shaped per-pixel entropy, None if not predicted
    axis: int


def cap_threads(reserve: int = 1) -> int:
    """Limit torch's CPU threads so the GUI keeps a core; returns the count set."""
    import torch

    n = max(1, (os.cpu_count() or 2) - reserve)
    torch.set_num_threads(n)
    return n


def _predict(model: Any, image: np.ndarray, axis: int) -> Generator[Any, None, tuple]:
    from semicl.inference import entropy

    pred = yield from model.predict_iter(image, axis=axis)
    return pred.mask, entropy(pred.probs).astype(np.float32)


def train_job(
    image: np.ndarray,
    scribbles: np.ndarray,
    *,
    class_names: list[str],
    config: Any,
    axis: int,
    init: Any,
    pretrain: bool,
    control: Any,
) -> Generator[Any, None, JobResult]:
    """Train (or warm-start and fine-tune), then predict the whole image if fine-tuned."""
    from semicl.interactive import train_on_image

    cap_threads()
    model = yield from train_on_image(
        image,
        scribbles,
        class_names=class_names,
        config=config,
        axis=axis,
        init=init,
        pretrain=pretrain,
        control=control,
    )
    if not model.finetuned:
        return JobResult(model, None, None, axis)
    mask, ent = yield from _predict(model, image, axis)
    return JobResult(model, mask, ent, axis)


def predict_job(model: Any, image: np.ndarray, *, axis: int) -> Generator[Any, None, JobResult]:
    """Predict the whole image with an existing model."""
    cap_threads()
    mask, ent = yield from _predict(model, image, axis)
    return JobResult(model, mask, ent, axis)


def start(
    job: Callable[..., Generator],
    *args: Any,
    on_yield: Callable[[Any], None],
    on_return: Callable[[Any], None],
    on_error: Callable[[BaseException], None],
    on_finish: Callable[[], None],
    **kwargs: Any,
) -> Any:
    """Run ``job(*args, **kwargs)`` in a napari generator worker and wire its signals.

    Errors are *not* relayed to napari's traceback dialog (``_ignore_errors``): the
    controller turns them into a notification that says what to do.
    """
    from napari.qt.threading import create_worker

    worker = create_worker(job, *args, _ignore_errors=True, _start_thread=False, **kwargs)
    worker.yielded.connect(on_yield)
    worker.returned.connect(on_return)
    worker.errored.connect(on_error)
    worker.finished.connect(on_finish)
    worker.start()
    return worker
