"""The training controller: one background job at a time, its events, and the file actions.

The widget builds a :class:`Request` from its controls and calls :meth:`Controller.train`,
:meth:`~Controller.predict` or :meth:`~Controller.stop`. Inputs are checked and copied on
the main thread; the job runs in a napari worker; its events come back here (main thread)
and go to the :class:`~napari_semicl._session_model.SessionModel`, which holds the state
(model, prediction, session folder) and tells the widget; the progress bar is drawn here.
Every problem becomes a notification; the scribble layer is only read.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import numpy as np

from napari_semicl import _layers, _messages, _workers
from napari_semicl._session_model import Request, SessionModel

if TYPE_CHECKING:
    from napari.components import ViewerModel
    from napari.layers import Image
    from napari.qt.threading import GeneratorWorker
    from napari.utils import progress

    from semicl.events import PreviewEvent, ProgressEvent
    from semicl.interactive import RoundResult, TrainControl

    from napari_semicl._session import SessionState

#: Seconds between two updates of the progress bar and status line (and the stage's end).
PROGRESS_EVERY_S = 0.25


class Controller:
    """Runs training/prediction jobs for one viewer and hands their results to the session."""

    def __init__(self, viewer: ViewerModel) -> None:
        self.viewer = viewer
        self.session = SessionModel(viewer)
        self.view = self.session.view  #: the prediction layer (benchmarks/ui_lag.py times it)
        self.progressed = self.session.progressed  #: benchmarks/ui_lag.py connects here
        self.worker: GeneratorWorker | None = None
        self.control: TrainControl | None = None
        self._pbar: progress | None = None
        self._pbar_stage: str | None = None
        self._pbar_t = 0.0
        self._in_pbar = False  #: inside a progress-bar call (napari processes events there)
        self._ended: GeneratorWorker | None = None  #: the worker whose result or error came
        self._req: Request | None = None
        self._closed = False
        viewer.dims.events.current_step.connect(self._on_dims)

    @property
    def busy(self) -> bool:
        """True from the moment a job is accepted until its worker has finished."""
        return self.session.busy

    # -- starting jobs -------------------------------------------------------------------
    def train(self, req: Request, *, warm: bool = False) -> bool:
        """Start Train (all stages from scratch) or, with ``warm``, Retrain. False if refused."""
        s = self.session
        if s.busy:
            _messages.notify("info", "A job is already running: wait for it or press Stop.")
            return False
        try:
            image = _layers.image_array(req.image_layer)
            scribbles = _layers.scribble_array(req.scribble_layer, image.shape)
            assert req.image_layer is not None  # image_array refuses None
            assert req.config is not None  # the widget asks for one to train
            axis = _layers.slice_axis(self.viewer, req.image_layer)
            init, pretrain, previous = None, True, None
            if warm:
                # the current model is the newest network: one stopped in pretraining
                # (after the message that says Retrain fine-tunes it) before an older one
                init = s.pretrained if s.pretrained is not None else s.model
                if init is None:
                    raise _layers.InputError("No model to retrain yet: press Train first.")
                # the network's shape comes from the model being continued (a class added
                # since gets a fresh output layer from the engine)
                req.config.model = copy.deepcopy(init.config.model)
                pretrain = req.repeat_pretraining
                previous = s.answer(req.image_layer, init, axis, image.shape)
            n_painted = int(np.count_nonzero(scribbles))
            targets = self._with_corrections(req, scribbles, axis)
            from semicl.interactive import validate_training_input

            validate_training_input(image, targets, req.class_names)
        except Exception as exc:  # noqa: BLE001 - every refusal becomes a notification
            _messages.report(exc, "Cannot train")
            return False
        from semicl.interactive import TrainControl

        control = self.control = TrainControl(preview_every_s=req.preview_every_s)
        control.preview_slice = _layers.current_slice(self.viewer, req.image_layer, axis)
        self._req = req
        s.begin("retrain" if warm else "train", req.image_layer, axis, pretrain=pretrain,
                keep_islands=req.keep_islands, scribbled_pixels=n_painted,
                corrected_pixels=int(np.count_nonzero(targets)) - n_painted)
        s.save_inputs(req, axis, config=req.config)
        return self._launch(
            _workers.train_job, image, targets, class_names=list(req.class_names),
            config=req.config, axis=axis, init=init, pretrain=pretrain, control=control,
            first_look=req.first_look, keep_islands=req.keep_islands,
            previous=previous,
        )

    def predict(self, req: Request) -> bool:
        """Predict the whole image with the current model."""
        s = self.session
        if s.busy:
            _messages.notify("info", "A job is already running: wait for it or press Stop.")
            return False
        try:
            if s.model is None:
                raise _layers.InputError("No model: press Train, or load a model first.")
            image = _layers.image_array(req.image_layer)
            assert req.image_layer is not None  # image_array refuses None
            axis = _layers.slice_axis(self.viewer, req.image_layer)
            strokes = self._strokes(req, image.shape, axis) if req.keep_islands else None
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Cannot predict")
            return False
        self.control = None
        self._req = req
        s.begin("predict", req.image_layer, axis)
        return self._launch(_workers.predict_job, s.model, image, axis=axis, scribbles=strokes)

    def _with_corrections(self, req: Request, scribbles: np.ndarray, axis: int) -> np.ndarray:
        """``scribbles`` merged with the corrections (edits of the prediction since it was
        shown become corrections first): the strokes Train and Predict use."""
        view = self.session.view
        view.bind(req.image_layer, axis)
        view.harvest()
        return view.merged(scribbles)

    def _strokes(self, req: Request, shape: tuple[int, ...], axis: int) -> np.ndarray | None:
        """A copy of the scribbles with the corrections, for Predict with "Keep only painted
        pieces". None without a scribble layer or any stroke: the whole prediction is shown
        then. A scribble layer of another shape is refused."""
        if req.scribble_layer is None:
            return None
        scribbles = _layers.scribble_array(req.scribble_layer, shape)
        strokes = self._with_corrections(req, scribbles, axis)
        return strokes if strokes.any() else None

    def _launch(self, job: Callable[..., Generator[ProgressEvent | PreviewEvent, None,
                                                   RoundResult]],
                *args: object, **kwargs: object) -> bool:
        try:
            self.worker = _workers.start(
                job, *args, on_yield=self._on_yield, on_return=self._on_return,
                on_error=self._on_error, on_finish=self._on_finish, **kwargs,
            )
        except Exception as exc:  # noqa: BLE001 - e.g. no thread available
            _messages.report(exc, "Could not start the job")
            self.worker, self.control = None, None
            self.session.end()
            return False
        return True

    def stop(self) -> None:
        """Stop: training finishes its current step and keeps the model; prediction aborts."""
        if not self.session.busy:
            return
        if self.control is not None:
            self.control.request_stop()
            self.session.status.emit("Stopping after the current step…")
        elif self.worker is not None:
            self.worker.quit()

    # -- job events (main thread) --------------------------------------------------------
    def _on_dims(self, _event: object = None) -> None:
        req = self._req
        if self.control is not None and req is not None and req.image_layer is not None \
                and not self._closed:
            try:
                self.control.preview_slice = _layers.current_slice(
                    self.viewer, req.image_layer, self.session.view.axis
                )
            except (AttributeError, IndexError, RuntimeError):
                pass

    def _on_yield(self, ev: ProgressEvent | PreviewEvent) -> None:
        if self._closed:
            return
        from semicl.events import PreviewEvent

        if isinstance(ev, PreviewEvent):
            self.session.preview(ev)
            return
        self.session.record(ev)
        self._progress(ev.stage.value, ev.stage.title, ev)

    def _progress(self, key: str, title: str, ev: ProgressEvent) -> None:
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
            if self._pbar is not None and self.worker is worker and (
                    now - self._pbar_t >= PROGRESS_EVERY_S or ev.step >= ev.total):
                self._pbar_t = now
                self._pbar.update(max(0, int(ev.step) - self._pbar.n))
                loss = "" if ev.loss is None else f", loss {ev.loss:.4f}"
                if self.worker is worker and self._ended is not worker:
                    self.session.status.emit(f"{title}: {ev.step}/{ev.total}{loss}")
        finally:
            self._in_pbar = False
        if self.worker is not worker or self._ended is worker:
            self._close_pbar()

    def _close_pbar(self) -> None:
        if self._pbar is not None:
            self._pbar.close()
        self._pbar, self._pbar_stage = None, None

    def _on_return(self, result: RoundResult) -> None:
        """A job's ``semicl.interactive.RoundResult`` (main thread)."""
        self._ended = self.worker  # its progress events still queued must not speak after it
        if self._closed or self._req is None:
            return
        self.session.finish(result, self._req)

    def _on_error(self, exc: BaseException) -> None:
        exc = getattr(exc, "original", exc)
        self._ended = self.worker
        if self._closed:
            return
        _messages.report(exc, "Training failed" if self.session.job != "predict"
                         else "Prediction failed")
        self.session.status.emit("Failed; see the notification. Your scribbles are untouched.")

    def _on_finish(self) -> None:
        self._close_pbar()
        self.worker, self.control = None, None
        if not self._closed:
            self.session.end()

    # -- other actions -------------------------------------------------------------------
    def show_uncertainty(self, req: Request) -> None:
        """Add or remove the uncertainty layer (needs a full prediction)."""
        s = self.session
        if req.show_uncertainty and s.entropy is None:
            _messages.notify("info", "No uncertainty yet: train or predict first.")
        layer = req.image_layer if req.image_layer is not None else s.view.image_layer
        _layers.set_uncertainty(self.viewer, layer, s.entropy, req.show_uncertainty)

    def next_slice(self, req: Request) -> int | None:
        """Jump to the most uncertain slice that has no scribbles or corrections."""
        s = self.session
        try:
            entropy = s.entropy
            if entropy is None:
                raise _layers.InputError("No prediction yet: train (or predict) first.")
            if entropy.ndim < 3:
                raise _layers.InputError("This is a 2-D image: there is no other slice.")
            from semicl.inference import most_uncertain_slice

            axis = s.view.axis
            done: set[int] = set()
            scribbles = req.scribble_layer
            if scribbles is not None and scribbles.data.shape == entropy.shape:
                done |= _layers.annotated_slices(np.asarray(scribbles.data), axis)
            corr = s.view.corrections(entropy.shape)
            if corr is not None:
                done |= _layers.annotated_slices(corr, axis)
            idx = int(most_uncertain_slice(entropy, axis=axis, exclude=done))
            layer = s.view.image_layer or req.image_layer
            assert layer is not None  # bound when the prediction was shown
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Next slice")
            return None
        _layers.go_to_slice(self.viewer, layer, axis, idx)
        return idx

    def export(self, path: str, req: Request) -> bool:
        """Write the prediction layer (with the user's edits) as a mask file."""
        from napari_semicl._writer import write_mask_layer

        layer = self.session.view.layer()
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
            if self.session.model is None:
                raise _layers.InputError("No model to save: train first.")
            self.session.model.save(path)
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Saving the model failed")
            return False
        _messages.notify("info", f"Saved the model to {path}")
        return True

    def load_model(self, path: str) -> bool:
        """Load a model saved by the plugin or the CLI."""
        if self.session.busy:
            _messages.notify("info", "Wait for the running job to finish before loading a model.")
            return False
        try:
            from semicl.training.trained_model import TrainedModel

            model = TrainedModel.load(path, device="auto")
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Loading the model failed")
            return False
        self.session.set_model(model)
        return True

    def restore(self, folder: str, image_layer: Image | None) -> SessionState | None:
        """Continue the session in ``folder``: its state, shown prediction and model."""
        try:
            state = self.session.open_folder(folder, image_layer)
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Open session")
            return None
        session = self.session.autosave.session
        path = session.model_path() if session is not None else None
        if path is not None:
            self.load_model(str(path))
        return state

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
        self.session.close()  # the widget may already be gone
