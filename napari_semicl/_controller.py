"""The training controller: one background job at a time, its events, and its results.

The widget builds a :class:`Request` from its controls and calls :meth:`Controller.train`,
:meth:`~Controller.predict` or :meth:`~Controller.stop`. Inputs are checked and copied on
the main thread; the job runs in a napari worker; its events come back here (main thread)
and update the progress bar, the live preview and, at the end, the prediction, uncertainty
and session folder. Every problem becomes a notification; the scribble layer is only read.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from qtpy.QtCore import QObject, Signal

from napari_semicl import _layers, _messages, _workers
from napari_semicl._autosave import Autosaver
from napari_semicl._prediction import PredictionView


#: Seconds between two updates of the progress bar and status line (and the stage's end).
PROGRESS_EVERY_S = 0.25


@dataclass
class Request:
    """What the widget's controls say at the moment a button is pressed."""

    image_layer: Any
    scribble_layer: Any
    class_names: list[str]
    config: Any = None  #: semicl TrainConfig (None for prediction only)
    preview_every_s: float = 3.0
    repeat_pretraining: bool = False
    show_uncertainty: bool = False
    first_look_steps: int = 0  #: >0: a quick fine-tune-only preview before pretraining


class Controller(QObject):
    """Runs training/prediction jobs for one viewer and applies their results."""

    busy_changed = Signal(bool)
    model_changed = Signal()
    progressed = Signal(str, str, object)  #: stage key, stage title, semicl ProgressEvent
    status = Signal(str)

    def __init__(self, viewer: Any) -> None:
        super().__init__()
        self.viewer = viewer
        self.view = PredictionView(viewer)
        self.autosave = Autosaver()
        self.model: Any = None  #: last good (fine-tuned) TrainedModel
        self.pretrained: Any = None  #: a model stopped before fine-tuning (Retrain continues it)
        self.entropy: np.ndarray | None = None
        self.worker: Any = None
        self.control: Any = None
        self.job: str | None = None
        self.timings: dict[str, float] = {}
        self._pbar: Any = None
        self._pbar_stage: Any = None
        self._pbar_t = 0.0
        self._in_pbar = False  #: inside a progress-bar call (napari processes events there)
        self._req: Request | None = None
        self._round: dict[str, Any] = {}
        self._closed = False
        viewer.dims.events.current_step.connect(self._on_dims)

    # -- state ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True from the moment a job is accepted until its worker has finished."""
        return self.job is not None

    def _set_busy(self, job: str | None) -> None:
        self.job = job
        self.busy_changed.emit(job is not None)

    # -- starting jobs -------------------------------------------------------------------
    def train(self, req: Request, *, warm: bool = False) -> bool:
        """Start Train (all stages from scratch) or, with ``warm``, Retrain. False if refused."""
        if self.busy:
            _messages.notify("info", "A job is already running: wait for it or press Stop.")
            return False
        try:
            image = _layers.image_array(req.image_layer)
            scribbles = _layers.scribble_array(req.scribble_layer, image.shape)
            axis = _layers.slice_axis(self.viewer, req.image_layer)
            init, pretrain = None, True
            if warm:
                # the current model is the newest network: one stopped in pretraining
                # (after the message that says Retrain fine-tunes it) before an older one
                init = self.pretrained if self.pretrained is not None else self.model
                if init is None:
                    raise _layers.InputError("No model to retrain yet: press Train first.")
                # the network's shape comes from the model being continued (a class added
                # since gets a fresh output layer from the engine)
                req.config.model = copy.deepcopy(init.config.model)
                pretrain = req.repeat_pretraining
            n_painted = int(np.count_nonzero(scribbles))
            self.view.bind(req.image_layer, axis)
            self.view.harvest()  # edits of the prediction become corrections
            targets = self.view.merged(scribbles)
            from semicl.interactive import validate_training_input

            validate_training_input(image, targets, req.class_names)
        except Exception as exc:  # noqa: BLE001 - every refusal becomes a notification
            _messages.report(exc, "Cannot train")
            return False
        from semicl.interactive import TrainControl

        self.control = TrainControl(preview_every_s=req.preview_every_s)
        self.control.preview_slice = _layers.current_slice(self.viewer, req.image_layer, axis)
        self._begin(req, "retrain" if warm else "train", axis)
        self._round.update(pretrain=pretrain, scribbled_pixels=n_painted,
                           corrected_pixels=int(np.count_nonzero(targets)) - n_painted)
        self.autosave.inputs(req, self.view, axis, config=req.config)
        return self._launch(
            _workers.train_job, image, targets, class_names=list(req.class_names),
            config=req.config, axis=axis, init=init, pretrain=pretrain, control=self.control,
            first_look_steps=req.first_look_steps,
        )

    def predict(self, req: Request) -> bool:
        """Predict the whole image with the current model."""
        if self.busy:
            _messages.notify("info", "A job is already running: wait for it or press Stop.")
            return False
        try:
            if self.model is None:
                raise _layers.InputError("No model: press Train, or load a model first.")
            image = _layers.image_array(req.image_layer)
            axis = _layers.slice_axis(self.viewer, req.image_layer)
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Cannot predict")
            return False
        self.control = None
        self._begin(req, "predict", axis)
        return self._launch(_workers.predict_job, self.model, image, axis=axis)

    def _launch(self, job: Any, *args: Any, **kwargs: Any) -> bool:
        try:
            self.worker = _workers.start(
                job, *args, on_yield=self._on_yield, on_return=self._on_return,
                on_error=self._on_error, on_finish=self._on_finish, **kwargs,
            )
        except Exception as exc:  # noqa: BLE001 - e.g. no thread available
            _messages.report(exc, "Could not start the job")
            self.worker, self.control = None, None
            self._set_busy(None)
            return False
        return True

    def _begin(self, req: Request, job: str, axis: int) -> None:
        self._req = req
        self.view.bind(req.image_layer, axis)
        self.timings = {"start": time.perf_counter()}
        self._round = {"kind": job, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self._set_busy(job)
        self.status.emit("Starting…")

    def stop(self) -> None:
        """Stop: training finishes its current step and keeps the model; prediction aborts."""
        if not self.busy:
            return
        if self.control is not None:
            self.control.request_stop()
            self.status.emit("Stopping after the current step…")
        else:
            self.worker.quit()

    # -- job events (main thread) --------------------------------------------------------
    def _on_dims(self, _event: Any = None) -> None:
        if self.control is not None and self._req is not None and not self._closed:
            try:
                self.control.preview_slice = _layers.current_slice(
                    self.viewer, self._req.image_layer, self.view.axis
                )
            except (AttributeError, IndexError, RuntimeError):
                pass

    def _on_yield(self, ev: Any) -> None:
        if self._closed:
            return
        from semicl.training.events import PreviewEvent

        if isinstance(ev, PreviewEvent):
            self.view.show_slice(ev.slice_index, ev.mask)
            self.timings.setdefault("first_overlay", time.perf_counter())
            return
        key, title = ev.stage.value, ev.stage.title
        if ev.loss is not None and self.job != "predict":
            self.autosave.history.append([key, int(ev.step), float(ev.loss)])
        self.progressed.emit(key, title, ev)
        self._progress(key, title, ev)

    def _progress(self, key: str, title: str, ev: Any) -> None:
        from napari.utils import progress

        # napari's progress bars process Qt events when made or updated, so later events of
        # the job, its end included, can run in here: those nested calls are skipped, and a
        # bar made for a job that has ended meanwhile is closed (the status keeps its result)
        if self._in_pbar:
            return
        worker, self._in_pbar = self.worker, True
        try:
            if key != self._pbar_stage:
                self._close_pbar()
                self._pbar = progress(total=max(int(ev.total), 1), desc=title)
                self._pbar_stage = key
            now = time.perf_counter()
            # the bar and the status line are redrawn a few times a second, not per step
            # (each redraw of a widget beside the GL canvas costs milliseconds)
            if self.worker is worker and (now - self._pbar_t >= PROGRESS_EVERY_S
                                          or ev.step >= ev.total):
                self._pbar_t = now
                self._pbar.update(max(0, int(ev.step) - self._pbar.n))
                loss = "" if ev.loss is None else f", loss {ev.loss:.4f}"
                if self.worker is worker:
                    self.status.emit(f"{title}: {ev.step}/{ev.total}{loss}")
        finally:
            self._in_pbar = False
        if self.worker is not worker:
            self._close_pbar()

    def _close_pbar(self) -> None:
        if self._pbar is not None:
            self._pbar.close()
        self._pbar, self._pbar_stage = None, None

    def _on_return(self, result: Any) -> None:
        """A job's ``semicl.interactive.RoundResult`` (main thread)."""
        if self._closed or self._req is None:
            return
        model, req = result.model, self._req
        self._round.update(seconds=round(time.perf_counter() - self.timings["start"], 2))
        if result.mask is None:
            self.pretrained = model
            older = (" The previous model and its prediction stay until then."
                     if self.model is not None else "")
            _messages.notify("info", "Stopped during pretraining, before any fine-tuning: no "
                             "new prediction yet. Press Retrain to fine-tune this network."
                             + older)
        else:
            self.view.bind(req.image_layer, result.axis)
            self.view.show_full(result.mask)
            self.view.layer().metadata.update(
                semicl_class_names=list(model.class_names),
                semicl_source=(req.image_layer.metadata or {}).get("semicl_source"))
            self.timings["done"] = time.perf_counter()
            self.entropy = result.entropy
            _layers.set_uncertainty(self.viewer, req.image_layer, self.entropy,
                                    req.show_uncertainty)
            if self.job != "predict":
                self.model, self.pretrained = model, None
        if self.job != "predict":
            self._round.update(stopped=result.stopped, finetuned=bool(model.finetuned))
            self.autosave.round_done(req, self.view, model, self._round)
            self.model_changed.emit()
            how = "stopped early, kept the last model" if result.stopped else "finished"
            if result.stopped and result.mask is not None:
                _messages.notify("info", "Training stopped: the last model is kept and its "
                                 "prediction shown. Press Retrain to fine-tune further.")
            self.status.emit(f"Training {how}.")
        else:
            self.autosave.prediction(self.view)
            self.status.emit("Prediction done.")

    def _on_error(self, exc: BaseException) -> None:
        exc = getattr(exc, "original", exc)
        if self._closed:
            return
        _messages.report(exc, "Training failed" if self.job != "predict" else "Prediction failed")
        self.status.emit("Failed; see the notification. Your scribbles are untouched.")

    def _on_finish(self) -> None:
        self._close_pbar()
        self.worker, self.control = None, None
        if not self._closed:
            self._set_busy(None)

    # -- other actions -------------------------------------------------------------------
    def show_uncertainty(self, req: Request) -> None:
        """Add or remove the uncertainty layer (needs a full prediction)."""
        if req.show_uncertainty and self.entropy is None:
            _messages.notify("info", "No uncertainty yet: train or predict first.")
        layer = req.image_layer if req.image_layer is not None else self.view.image_layer
        _layers.set_uncertainty(self.viewer, layer, self.entropy, req.show_uncertainty)

    def next_slice(self, req: Request) -> int | None:
        """Jump to the most uncertain slice that has no scribbles or corrections."""
        try:
            if self.entropy is None:
                raise _layers.InputError("No prediction yet: train (or predict) first.")
            if self.entropy.ndim < 3:
                raise _layers.InputError("This is a 2-D image: there is no other slice.")
            from semicl.inference import most_uncertain_slice

            axis = self.view.axis
            done: set[int] = set()
            scribbles = req.scribble_layer
            if scribbles is not None and scribbles.data.shape == self.entropy.shape:
                done |= _layers.annotated_slices(np.asarray(scribbles.data), axis)
            corr = self.view.corrections(self.entropy.shape)
            if corr is not None:
                done |= _layers.annotated_slices(corr, axis)
            idx = int(most_uncertain_slice(self.entropy, axis=axis, exclude=done))
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Next slice")
            return None
        _layers.go_to_slice(self.viewer, self.view.image_layer or req.image_layer, axis, idx)
        return idx

    def export(self, path: str, req: Request) -> bool:
        """Write the prediction layer (with the user's edits) as a mask file."""
        from napari_semicl._writer import write_mask_layer

        layer = self.view.layer()
        try:
            if layer is None:
                raise _layers.InputError("Nothing to export: train or predict first.")
            meta = {"scale": tuple(layer.scale),
                    "metadata": {**layer.metadata, "semicl_class_names": list(req.class_names)}}
            if req.image_layer is not None:
                meta["metadata"].setdefault("semicl_source",
                                            req.image_layer.metadata.get("semicl_source"))
            write_mask_layer(path, np.asarray(layer.data), meta)
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Export failed")
            return False
        _messages.notify("info", f"Saved the mask to {path}")
        return True

    def save_model(self, path: str) -> bool:
        """Save the current model (the `semicl predict` CLI accepts the file)."""
        try:
            if self.model is None:
                raise _layers.InputError("No model to save: train first.")
            self.model.save(path)
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Saving the model failed")
            return False
        _messages.notify("info", f"Saved the model to {path}")
        return True

    def load_model(self, path: str) -> bool:
        """Load a model saved by the plugin or the CLI."""
        if self.busy:
            _messages.notify("info", "Wait for the running job to finish before loading a model.")
            return False
        try:
            from semicl.training.trained_model import TrainedModel

            self.model, self.pretrained = TrainedModel.load(path, device="auto"), None
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Loading the model failed")
            return False
        self.model_changed.emit()
        return True

    def restore(self, folder: str, image_layer: Any) -> Any:
        """Continue the session in ``folder``: its state, shown prediction and model."""
        try:
            self.autosave.set_folder(folder)
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Open session")
            return None
        st = self.autosave.state
        self.view.bind(image_layer, st.axis)
        pred = self.view.layer()
        if pred is not None:
            self.view.shown = np.array(pred.data, copy=True)
        path = self.autosave.session.model_path() if self.autosave.session else None
        if path is not None:
            self.load_model(str(path))
        return st

    def shutdown(self) -> None:
        """Widget or viewer closing: stop the job, keep nothing half-applied."""
        if self._closed:
            return
        self._closed = True
        try:
            self.viewer.dims.events.current_step.disconnect(self._on_dims)
        except (TypeError, ValueError, RuntimeError):
            pass
        if self.control is not None:
            self.control.request_stop()
        if self.worker is not None:
            self.worker.quit()
        self._close_pbar()
        self.autosave.on_folder = None  # the widget may already be gone
        self.autosave.flush()
