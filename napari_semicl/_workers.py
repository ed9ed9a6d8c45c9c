"""Background jobs: thin generators around the engine, run in napari ``thread_worker``s.

The jobs receive numpy copies and a :class:`~semicl.interactive.TrainControl`, never a
layer; they yield the engine's small events and return a
:class:`~semicl.interactive.RoundResult`. A training round (first look, stages,
prediction) is the engine's :func:`~semicl.interactive.training_round`, the same code as
``semicl train --image`` and the benchmarks. torch is imported here, inside the
functions, so importing the plugin stays cheap.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import numpy as np

if TYPE_CHECKING:
    from napari.qt.threading import GeneratorWorker

    from semicl.config import TrainConfig
    from semicl.events import PreviewEvent, ProgressEvent
    from semicl.interactive import RoundResult, TrainControl
    from semicl.training.trained_model import TrainedModel

P = ParamSpec("P")
Y = TypeVar("Y")
R = TypeVar("R")

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
            # the first overlay's pixel forest (semicl.pixel_forest imports them lazily)
            import skimage.feature  # noqa: F401
            import sklearn.ensemble  # noqa: F401
        except Exception:  # noqa: BLE001 - a failed warm-up only costs time later
            return
        # These imports leave enough new long-lived objects for Python's next *full*
        # garbage collection (every thread stopped 0.3-0.4 s on 2 loaded cores) to come
        # in the middle of the first round, often as its first overlay appears. It is
        # made here instead, before any round (benchmarks/ui_lag.py, "gen 2" row).
        gc.collect()

    import threading

    # not a daemon: Python exiting under a thread still inside torch's import would abort
    # the process (a daemon thread is stopped where it stands); at exit it waits for the
    # import instead, a few seconds at most
    threading.Thread(target=run, name="semicl-warm-up", daemon=False).start()


#: environment variable that sets the worker's torch threads (a whole number >= 1)
THREADS_ENV = "SEMICL_THREADS"


def cap_threads(reserve: int = 1) -> int:
    """Limit torch's CPU threads so the GUI keeps a core (all cores but ``reserve``), or
    to ``$SEMICL_THREADS`` when set; returns the count set. An unusable value is ignored
    with a warning (the job runs with the default)."""
    import warnings

    from semicl.device import set_cpu_threads

    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        if raw.isdigit() and int(raw) >= 1:
            return set_cpu_threads(int(raw))
        warnings.warn(f"{THREADS_ENV}={raw!r} is not a whole number >= 1; using all cores "
                      "but one.", stacklevel=2)
    return set_cpu_threads(max(1, (os.cpu_count() or 2) - reserve))


def train_job(
    image: np.ndarray,
    scribbles: np.ndarray,
    *,
    class_names: list[str],
    config: TrainConfig,
    axis: int,
    init: TrainedModel | None,
    pretrain: bool,
    control: TrainControl,
    first_look: bool = False,
    keep_islands: bool = False,
    previous: np.ndarray | None = None,
) -> Generator[ProgressEvent | PreviewEvent, None, RoundResult]:
    """One Train / Retrain round: :func:`semicl.interactive.training_round` on a capped
    thread count. Yields its events; returns its :class:`~semicl.interactive.RoundResult`
    (mask None when stopped before fine-tuning).
    ``previous``: the probabilities ``init`` gave on this image, shown last (read only).
    """
    from semicl.interactive import training_round

    cap_threads()
    return (yield from training_round(
        image, scribbles, class_names=class_names, config=config, axis=axis, init=init,
        pretrain=pretrain, control=control, first_look=first_look,
        keep_islands=keep_islands, previous=previous,
    ))


def predict_job(
    model: TrainedModel, image: np.ndarray, *, axis: int, scribbles: np.ndarray | None = None,
) -> Generator[ProgressEvent, None, RoundResult]:
    """Predict the whole image with an existing model; returns a ``RoundResult``.

    With ``scribbles`` (a copy, corrections merged: "Keep only painted pieces") each
    structure keeps only its connected pieces that touch a stroke of it
    (:func:`semicl.islands.keep_stroked_islands`); the entropy is the network's own.
    """
    from semicl.inference import entropy
    from semicl.interactive import RoundResult
    from semicl.islands import keep_stroked_islands

    cap_threads()
    pred = yield from model.predict_iter(image, axis=axis)
    mask = pred.mask if scribbles is None else keep_stroked_islands(pred.mask, scribbles)
    return RoundResult(model, mask, entropy(pred.probs), axis,
                       probs=pred.probs.astype(np.float16))


class JobError(Exception):
    """An exception raised inside a job, carried to the main thread as ``original``.

    superqt's worker swallows ``RuntimeError`` (it takes it for a deleted Qt object) and
    then never emits ``finished``; torch raises RuntimeErrors (CUDA out of memory among
    them), so every job exception is wrapped in this non-RuntimeError type.
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(f"{type(original).__name__}: {original}")
        self.original = original


def guarded(job: Callable[P, Generator[Y, None, R]], *args: P.args,
            **kwargs: P.kwargs) -> Generator[Y, None, R]:
    """Run ``job`` and re-raise any exception as a :class:`JobError`."""
    try:
        return (yield from job(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - re-raised, wrapped
        raise JobError(exc) from exc


@functools.cache
def _closing_worker_class() -> type[GeneratorWorker]:
    """napari's generator worker, closing its generator when it stops early.

    On Stop-by-quit (the widget or the viewer closing) napari's worker just stops asking
    its generator for more and ends, leaving the generator suspended: its ``finally``
    blocks never run on the worker's thread. A round with several networks
    (:func:`semicl.training.members.train_members`) trains the others on threads of its
    own and stops and joins them in such a block; left suspended they trained on, and
    when Python exited under them the process aborted ("terminate called without an
    active exception"). Closing the generator here, still on the worker's thread, stops
    every network before the worker reports it has finished (a no-op after a normal end).
    """
    from napari.qt.threading import GeneratorWorker

    class ClosingGeneratorWorker(GeneratorWorker):
        def work(self):  # noqa: ANN202 - superqt's signature
            try:
                return super().work()
            finally:
                self._gen.close()

    return ClosingGeneratorWorker


def start(
    job: Callable[..., Generator[Y, None, R]],
    *args: object,
    on_yield: Callable[[Y], None],
    on_return: Callable[[R], None],
    on_error: Callable[[BaseException], None],
    on_finish: Callable[[], None],
    **kwargs: object,
) -> GeneratorWorker:
    """Run ``job(*args, **kwargs)`` in a napari generator worker and wire its signals.

    Errors are *not* relayed to napari's traceback dialog (``_ignore_errors``): the
    controller turns them into a notification that says what to do.
    """
    from napari.qt.threading import create_worker

    worker = create_worker(guarded, job, *args, _ignore_errors=True, _start_thread=False,
                           _worker_class=_closing_worker_class(), **kwargs)
    worker.yielded.connect(on_yield)
    worker.returned.connect(on_return)
    worker.errored.connect(on_error)
    worker.finished.connect(on_finish)
    worker.start()
    return worker
