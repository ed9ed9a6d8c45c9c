"""Autosave of the session folder: inputs when painting stops or training starts, models after
each round. Saving never interrupts the user: a failure becomes one warning notification.

Qt-free: "when painting stops" is the widget's timer. :meth:`Autosaver.schedule` only
remembers what to save (and says so); :meth:`Autosaver.flush` saves it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_semicl import _messages
from napari_semicl._reader import remember_session_folder
from napari_semicl._session import HistoryRow, Session, SessionState, default_folder

if TYPE_CHECKING:
    from napari.layers import Image, Layer

    from semicl.config import TrainConfig
    from semicl.training.trained_model import TrainedModel

    from napari_semicl._prediction import PredictionView
    from napari_semicl._session_model import Request


def image_file(layer: Layer) -> str | None:
    """The file an Image layer was read from, if any (our reader/sample data, or napari's)."""
    src = (layer.metadata or {}).get("semicl_source")
    if not src:
        src = getattr(getattr(layer, "source", None), "path", None)
    return str(src) if src and Path(src).is_file() else None


class Autosaver:
    """Keeps one :class:`Session` folder in sync with the viewer (main thread only): the
    folder, its :class:`SessionState` and the loss history of every round."""

    def __init__(self, view: PredictionView,
                 on_folder: Callable[[], None] | None = None) -> None:
        self.view = view  #: the prediction and corrections that are saved
        self.enabled = True
        self.session: Session | None = None
        self.state = SessionState()
        self.history: list[HistoryRow] = []
        self._pending: tuple[Request, int] | None = None
        self._warned = False
        self._remembered: Path | None = None  #: the folder napari opens with our reader
        self.on_folder = on_folder  #: called (no arguments) when the session folder changes

    @property
    def folder(self) -> Path | None:
        return self.session.folder if self.session is not None else None

    def set_folder(self, folder: str | Path) -> None:
        """Use ``folder`` from now on (an existing session there is continued)."""
        self.session = Session(folder)
        if self.session.folder.joinpath("session.json").is_file():
            self.state = self.session.load_state()
            self.history = list(self.state.history)
        self._folder_changed()

    def _folder_changed(self) -> None:
        if self.on_folder is not None:
            self.on_folder()

    def _ensure(self, image_layer: Image) -> Session:
        """The session in use; a new folder (never an existing session) the first time."""
        if self.session is None:
            base = default_folder(image_layer.name)
            folder, n = base, 1
            while folder.exists():  # an earlier session is only continued when reopened
                n += 1
                folder = base.with_name(f"{base.name}-{n}")
            self.session = Session(folder)
            self._folder_changed()
        return self.session

    def _guard(self, what: str, fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - autosave must never break the session
            if not self._warned:
                self._warned = True
                _messages.notify("warning", f"Autosave failed ({what}): {_messages.describe(exc)} "
                                 "Choose another session folder in the widget.")

    # -- what is saved when ----------------------------------------------------------------
    def inputs(self, req: Request, axis: int, config: TrainConfig | None = None) -> None:
        """Save scribbles, corrections, class names and config (e.g. when Train is pressed)."""
        if not self.enabled or req.image_layer is None:
            return
        self._pending = None
        self._guard("inputs", self._save_inputs, req, axis, config)

    def _save_inputs(self, req: Request, axis: int, config: TrainConfig | None) -> None:
        img = req.image_layer
        assert img is not None  # checked by the callers
        session = self._ensure(img)
        st = self.state
        st.image_name = img.name
        st.image_path = image_file(img)
        st.image_shape = [int(s) for s in np.shape(img.data)]
        st.scale = [float(s) for s in img.scale]
        st.translate = [float(t) for t in img.translate]
        st.class_names = list(req.class_names)
        st.axis = int(axis)
        if config is not None:
            st.config = config.to_dict()
        st.history = self.history
        scale = st.scale
        if st.image_path is None and not session.has_array("image"):
            session.save_image(np.asarray(img.data), scale)
        if req.scribble_layer is not None:
            session.save_labels("scribbles", np.asarray(req.scribble_layer.data), scale)
        session.save_labels("corrections", self.view.corrections(tuple(st.image_shape)), scale)
        session.save_state(st)
        if self._remembered != session.folder:  # File > Open Folder: no reader question
            remember_session_folder(session.folder)
            self._remembered = session.folder

    def schedule(self, req: Request, axis: int) -> bool:
        """Scribbles or classes changed: remember to save them (the caller waits until the
        user stops, then calls :meth:`flush`). True when a save is pending."""
        if self.enabled and req.image_layer is not None:
            self._pending = (req, axis)
            return True
        return False

    def flush(self) -> None:
        """Write a pending save now."""
        if self._pending is not None:
            req, axis = self._pending
            self.inputs(req, axis)

    def round_done(self, req: Request, model: TrainedModel, info: dict[str, object]) -> None:
        """After a training round: inputs, prediction, model and checkpoint."""
        if not self.enabled or req.image_layer is None:
            return
        self.state.rounds.append(info)
        self._guard("round", self._save_round, req, model)

    def _save_round(self, req: Request, model: TrainedModel) -> None:
        self._save_inputs(req, self.state.axis, model.config)
        assert self.session is not None  # made by _save_inputs
        self.session.save_model(model, len(self.state.rounds))
        self._save_prediction()

    def prediction(self) -> None:
        """Save the shown prediction."""
        if self.enabled and self.session is not None:
            self._guard("prediction", self._save_prediction)

    def _save_prediction(self) -> None:
        layer = self.view.layer()
        if layer is not None and self.session is not None:
            self.session.save_labels("prediction", np.asarray(layer.data), self.state.scale)
