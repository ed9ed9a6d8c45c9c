"""The session model: everything the plugin knows about one viewer's session, without Qt.

One plain object owns the state that outlives a click: the current (fine-tuned) model and a
model stopped during pretraining, the last prediction's entropy, the job running, its
timings and the round it trains, the prediction shown (:class:`PredictionView`) and the
session folder with its loss history (:class:`Autosaver`). Its methods change that state
and emit psygnal signals; the widget subscribes to them (buttons, status line, loss curve,
session label), and the controller calls the methods as a job starts, reports and ends.
Nothing here imports Qt (napari's ``ViewerModel`` stands in for the window in
``tests/test_session_model.py``, which runs without a display).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from psygnal import Signal

from napari_semicl import _layers, _messages
from napari_semicl._autosave import Autosaver
from napari_semicl._prediction import PredictionView
from napari_semicl._proxy import unwrapped

if TYPE_CHECKING:
    import numpy as np
    from napari.components import ViewerModel
    from napari.layers import Image, Labels

    from semicl.config import TrainConfig
    from semicl.events import PreviewEvent, ProgressEvent
    from semicl.interactive import RoundResult
    from semicl.training.trained_model import TrainedModel

    from napari_semicl._session import SessionState


#: The background jobs: Train (all stages), Retrain (warm start), Predict.
Job = Literal["train", "retrain", "predict"]


@dataclass
class Request:
    """What the widget's controls say at the moment a button is pressed."""

    image_layer: Image | None
    scribble_layer: Labels | None
    class_names: list[str]
    config: TrainConfig | None = None  #: None for prediction only
    preview_every_s: float = 3.0
    repeat_pretraining: bool = False
    #: keep each structure's pieces that touch a stroke of it (Train, Retrain and Predict)
    keep_islands: bool = False
    show_uncertainty: bool = False
    first_look: bool = False  #: Train shows a pixel forest's overlay of the viewed slice first


class SessionModel:
    """The state of one viewer's segmentation session (main thread only)."""

    busy_changed = Signal(bool)  #: a job started (True) or its worker finished (False)
    model_changed = Signal()  #: a round ended or a model was loaded
    progressed = Signal(str, str, object)  #: stage key, stage title, semicl ProgressEvent
    status = Signal(str)  #: one line on what is happening
    folder_changed = Signal(object)  #: the session folder (a Path) is now another one
    save_requested = Signal()  #: inputs changed: save them once the user pauses (flush)

    def __init__(self, viewer: ViewerModel) -> None:
        self.viewer = viewer
        self.view = PredictionView(viewer)
        self.autosave = Autosaver(self.view, on_folder=self._folder_changed)
        self.model: TrainedModel | None = None  #: last good (fine-tuned) model
        #: a model stopped before fine-tuning (Retrain continues it)
        self.pretrained: TrainedModel | None = None
        self.entropy: np.ndarray | None = None  #: of the last full prediction
        #: the last full prediction's probabilities, with the (image layer, model, axis)
        #: they are of: the answer a Retrain of that model on that image holds on to
        self._answer: tuple[object, object, int, np.ndarray] | None = None
        self.job: Job | None = None
        self.timings: dict[str, float] = {}  #: perf_counter of start, first_overlay, done
        self.round_info: dict[str, object] = {}  #: the round being trained (session.json)

    # -- what the buttons follow ---------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True from the moment a job is accepted until its worker has finished."""
        return self.job is not None

    @property
    def can_retrain(self) -> bool:
        """A model to continue: the current one, or one stopped during pretraining."""
        return self.model is not None or self.pretrained is not None

    @property
    def has_prediction(self) -> bool:
        """A prediction layer is there to export."""
        return self.view.layer() is not None

    @property
    def folder(self) -> Path | None:
        """The session folder (None until the first save)."""
        return self.autosave.folder

    def _folder_changed(self) -> None:
        self.folder_changed.emit(self.folder)

    # -- a job's life ----------------------------------------------------------------------
    def begin(self, job: Job, image_layer: Image | None, axis: int,
              **round_info: object) -> None:
        """A job is accepted: predictions that follow belong to ``image_layer``."""
        self.view.bind(image_layer, axis)
        self.timings = {"start": time.perf_counter()}
        self.round_info = {"kind": job, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                           **round_info}
        self._set_job(job)
        self.status.emit("Starting…")

    def end(self) -> None:
        """The job's worker has finished (or never started)."""
        self._set_job(None)

    def _set_job(self, job: Job | None) -> None:
        self.job = job
        self.busy_changed.emit(job is not None)

    def record(self, ev: ProgressEvent) -> None:
        """A progress event: training losses join the history; listeners are told."""
        key, title = ev.stage.value, ev.stage.title
        if ev.loss is not None and self.job != "predict":
            self.autosave.history.append([key, int(ev.step), float(ev.loss)])
        self.progressed.emit(key, title, ev)

    def preview(self, ev: PreviewEvent) -> None:
        """A live preview of one slice."""
        self.view.show_slice(ev.slice_index, ev.mask)
        self.timings.setdefault("first_overlay", time.perf_counter())

    def finish(self, result: RoundResult, req: Request) -> None:
        """A job's result: show the prediction, keep the model, save, say how it ended."""
        model = result.model
        self.round_info.update(seconds=round(time.perf_counter() - self.timings["start"], 2))
        if result.mask is None:
            self.pretrained = model
            self.view.undo_previews()  # the first look's overlay was not the network's
            older = (" The previous model and its prediction stay until then."
                     if self.model is not None else "")
            _messages.notify("info", "Stopped during pretraining, before any fine-tuning: no "
                             "new prediction yet. Press Retrain to fine-tune this network."
                             + older)
        else:
            self._show(result, req)
            if self.job != "predict":
                self.model, self.pretrained = model, None
        if self.job == "predict":
            self.autosave.prediction()
            self.status.emit("Prediction done.")
            return
        self.round_info.update(stopped=result.stopped, finetuned=bool(model.finetuned))
        self.autosave.round_done(req, model, self.round_info)
        self.model_changed.emit()
        how = "stopped early, kept the last model" if result.stopped else "finished"
        if result.stopped and result.mask is not None:
            _messages.notify("info", "Training stopped: the last model is kept and its "
                             "prediction shown. Press Retrain to fine-tune further.")
        self.status.emit(f"Training {how}.")

    def _show(self, result: RoundResult, req: Request) -> None:
        """The full prediction and its uncertainty."""
        assert result.mask is not None
        self.view.bind(req.image_layer, result.axis)
        self.view.show_full(result.mask)
        layer = self.view.layer()
        assert layer is not None  # show_full made it
        image = req.image_layer
        source = (image.metadata or {}).get("semicl_source") if image is not None else None
        layer.metadata.update(semicl_class_names=list(result.model.class_names),
                              semicl_source=source)
        self.timings["done"] = time.perf_counter()
        self.entropy = result.entropy
        self._answer = None if result.probs is None else (
            req.image_layer, result.model, result.axis, result.probs)
        _layers.set_uncertainty(self.viewer, req.image_layer, self.entropy,
                                req.show_uncertainty)

    def answer(self, image_layer: Image | None, model: TrainedModel | None, axis: int,
               shape: tuple[int, ...]) -> np.ndarray | None:
        """The probabilities shown last, if ``model`` gave them on ``image_layer`` sliced
        along ``axis``, with its data still of ``shape``; else None (the engine then works
        the answer out itself)."""
        if self._answer is None or model is None:
            return None
        layer, of, along, probs = self._answer
        same = unwrapped(layer) is unwrapped(image_layer) and probs.shape[1:] == shape
        return probs if same and of is model and along == axis else None

    # -- models and folders ----------------------------------------------------------------
    def set_model(self, model: TrainedModel) -> None:
        """Use ``model`` (a loaded one) from now on."""
        self.model, self.pretrained = model, None
        self.model_changed.emit()

    def set_folder(self, folder: str | Path) -> None:
        """Autosave to ``folder`` from now on (an existing session there is continued)."""
        self.autosave.set_folder(folder)

    def open_folder(self, folder: str | Path, image_layer: Image | None) -> SessionState:
        """Continue the session in ``folder``: its state, and the prediction shown as the
        network's (edits from now on become corrections). Raises if it cannot be read."""
        self.set_folder(folder)
        state = self.autosave.state
        self.view.bind(image_layer, state.axis)
        self.view.adopt()
        return state

    def save_inputs(self, req: Request, axis: int, config: TrainConfig | None = None) -> None:
        """Save scribbles, corrections, class names and config now."""
        self.autosave.inputs(req, axis, config=config)

    def schedule_save(self, req: Request, axis: int) -> None:
        """Scribbles or classes changed: save them when the user pauses."""
        if self.autosave.schedule(req, axis):
            self.save_requested.emit()

    def flush(self) -> None:
        """Write a pending save now."""
        self.autosave.flush()

    def close(self) -> None:
        """The widget is going: nobody listens any more; a pending save is written."""
        for signal in (self.busy_changed, self.model_changed, self.progressed, self.status,
                       self.folder_changed, self.save_requested):
            signal.disconnect()
        self.flush()
