"""Background jobs: thin generators around the engine, run in napari ``thread_worker``s.

The jobs receive numpy copies and a :class:`~semicl.interactive.TrainControl`, never a
layer; they yield the engine's small events and return a :class:`JobResult`. torch is
imported here, inside the functions, so importing the plugin stays cheap.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

#: ``ProgressEvent.message`` of the events of the first-look fine-tuning.
FIRST_LOOK = "first look"


@dataclass
class JobResult:
    """What a finished job hands back to the main thread."""

    model: Any  #: semicl TrainedModel (None for a failed prediction)
    mask: np.ndarray | None  #: image-shaped prediction (0 = background), None if not predicted
    entropy: np.ndarray | None  #: image-shaped per-pixel entropy, None if not predicted
    axis: int
    stopped: bool = False  #: the user pressed Stop


_warmed: list[bool] = []


def warm_up() -> None:
    """Import the engine's training modules in a background thread, once per process.

    torch imports ``torch._dynamo`` (about 3 s) the first time an optimiser is built;
    doing it while the user paints makes the first overlay appear that much sooner.
    """
    if _warmed:
        return
    _warmed.append(True)

    def run() -> None:
        try:
            import torch._dynamo  # noqa: F401 - the slow lazy import of torch.optim
            import semicl.interactive  # noqa: F401
        except Exception:  # noqa: BLE001 - a failed warm-up only costs time later
            pass

    import threading

    threading.Thread(target=run, name="semicl-warm-up", daemon=True).start()


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


def _slice(image: np.ndarray, axis: int, index: int) -> np.ndarray:
    return image if image.ndim == 2 else np.take(image, index, axis=axis)


def first_look(
    image: np.ndarray, scribbles: np.ndarray, *, class_names: list[str], config: Any,
    axis: int, control: Any, steps: int,
) -> Generator[Any, None, Any]:
    """A few fine-tuning steps of a fresh network, then a preview of the viewed slice.

    Gives the user an overlay within seconds, long before pretraining ends; its
    events carry ``message == FIRST_LOOK``. Returns the (small) model.
    """
    from semicl.data.normalize import normalize_intensity
    from semicl.interactive import TrainControl, first_look_config, train_on_image
    from semicl.training.events import PreviewEvent, ProgressEvent, Stage

    quick = first_look_config(config, steps)
    inner = TrainControl()  # no engine previews; Stop is forwarded below
    gen = train_on_image(image, scribbles, class_names=class_names, config=quick, axis=axis,
                         control=inner)
    while True:
        try:
            ev = next(gen)
        except StopIteration as done:
            model = done.value
            break
        if control.stop_requested:
            inner.request_stop()
        if isinstance(ev, ProgressEvent):
            yield dataclasses.replace(ev, message=FIRST_LOOK)
    index = control.preview_slice
    if index is not None and model.finetuned:
        plane = _slice(normalize_intensity(image), axis, index)
        yield PreviewEvent(Stage.FINETUNE, steps, index, model.predict(plane).mask)
    return model


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
    first_look_steps: int = 0,
) -> Generator[Any, None, JobResult]:
    """Train (or warm-start and fine-tune), then predict the whole image if fine-tuned.

    With ``first_look_steps`` (a fresh Train that pretrains), a short fine-tune-only
    network runs first so an overlay appears at once; it is also the fallback model when
    the user stops during pretraining.
    """
    from semicl.interactive import train_on_image

    cap_threads()
    look = None
    pretraining = pretrain and (config.global_stage.enabled or config.local_stage.enabled)
    if first_look_steps > 0 and init is None and pretraining:
        look = yield from first_look(image, scribbles, class_names=class_names, config=config,
                                     axis=axis, control=control, steps=first_look_steps)
    model = look
    if not control.stop_requested:
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
    if not model.finetuned and look is not None and look.finetuned:
        model = look  # stopped during pretraining: keep the first-look network
    stopped = bool(control.stop_requested)
    if not model.finetuned:
        return JobResult(model, None, None, axis, stopped)
    mask, ent = yield from _predict(model, image, axis)
    return JobResult(model, mask, ent, axis, stopped)


def predict_job(model: Any, image: np.ndarray, *, axis: int) -> Generator[Any, None, JobResult]:
    """Predict the whole image with an existing model."""
    cap_threads()
    mask, ent = yield from _predict(model, image, axis)
    return JobResult(model, mask, ent, axis)


class JobError(Exception):
    """An exception raised inside a job, carried to the main thread as ``original``.

    superqt's worker swallows ``RuntimeError`` (it takes it for a deleted Qt object) and
    then never emits ``finished``; torch raises RuntimeErrors (CUDA out of memory among
    them), so every job exception is wrapped in this non-RuntimeError type.
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(f"{type(original).__name__}: {original}")
        self.original = original


def guarded(job: Callable[..., Generator], *args: Any, **kwargs: Any) -> Generator:
    """Run ``job`` and re-raise any exception as a :class:`JobError`."""
    try:
        return (yield from job(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - re-raised, wrapped
        raise JobError(exc) from exc


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

    worker = create_worker(guarded, job, *args, _ignore_errors=True, _start_thread=False,
                           **kwargs)
    worker.yielded.connect(on_yield)
    worker.returned.connect(on_return)
    worker.errored.connect(on_error)
    worker.finished.connect(on_finish)
    worker.start()
    return worker
