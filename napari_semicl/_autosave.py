"""Autosave of the session folder: inputs when painting stops or training starts, models after
each round. Saving never interrupts the user: a failure becomes one warning notification.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QTimer

from napari_semicl import _messages
from napari_semicl._reader import remember_session_folder
from napari_semicl._session import Session, SessionState, default_folder


def image_file(layer: Any) -> str | None:
    """The file an Image layer was read from, if any (our reader/sample data, or napari's)."""
    src = (layer.metadata or {}).get("semicl_source")
    if not src:
        src = getattr(getattr(layer, "source", None), "path", None)
    return str(src) if src and Path(src).is_file() else None


class Autosaver:
    """Keeps one :class:`Session` in sync with the viewer (main thread only)."""

    def __init__(self, debounce_ms: int = 2000) -> None:
        self.enabled = True
        self.session: Session | None = None
        self.state = SessionState()
        self.history: list[list[Any]] = []
        self._pending: tuple | None = None
        self._warned = False
        self._remembered: Path | None = None  #: the folder napari opens with our reader
        self.on_folder: Any = None  #: called (no arguments) when the session folder changes
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self.flush)

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

    def _ensure(self, image_layer: Any) -> Session:
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

    def _guard(self, what: str, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - autosave must never break the session
            if not self._warned:
                self._warned = True
                _messages.notify("warning", f"Autosave failed ({what}): {_messages.describe(exc)} "
                                 "Choose another session folder in the widget.")

    # -- what is saved when ----------------------------------------------------------------
    def inputs(self, req: Any, view: Any, axis: int, config: Any = None) -> None:
        """Save scribbles, corrections, class names and config (e.g. when Train is pressed)."""
        if not self.enabled or req.image_layer is None:
            return
        self._timer.stop()
        self._pending = None
        self._guard("inputs", self._save_inputs, req, view, axis, config)

    def _save_inputs(self, req: Any, view: Any, axis: int, config: Any) -> None:
        session = self._ensure(req.image_layer)
        img = req.image_layer
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
        if st.image_path is None and session.load_array("image") is None:
            session.save_array("image", np.asarray(img.data), scale)
        if req.scribble_layer is not None:
            session.save_array("scribbles", np.asarray(req.scribble_layer.data), scale)
        session.save_array("corrections", view.corrections(tuple(st.image_shape)), scale)
        session.save_state(st)
        if self._remembered != session.folder:  # File > Open Folder: no reader question
            remember_session_folder(session.folder)
            self._remembered = session.folder

    def schedule(self, req: Any, view: Any, axis: int) -> None:
        """Scribbles or classes changed: save a couple of seconds after the user stops."""
        if self.enabled and req.image_layer is not None:
            self._pending = (req, view, axis)
            self._timer.start()

    def flush(self) -> None:
        """Write a pending save now."""
        if self._pending is not None:
            req, view, axis = self._pending
            self.inputs(req, view, axis)

    def round_done(self, req: Any, view: Any, model: Any, info: dict) -> None:
        """After a training round: inputs, prediction, model and checkpoint."""
        if not self.enabled or req.image_layer is None:
            return
        self.state.rounds.append(info)
        self._guard("round", self._save_round, req, view, model)

    def _save_round(self, req: Any, view: Any, model: Any) -> None:
        self._save_inputs(req, view, self.state.axis, model.config)
        session = self._ensure(req.image_layer)
        session.save_model(model, len(self.state.rounds))
        self._save_prediction(view)

    def prediction(self, view: Any) -> None:
        """Save the shown prediction."""
        if self.enabled and self.session is not None:
            self._guard("prediction", self._save_prediction, view)

    def _save_prediction(self, view: Any) -> None:
        layer = view.layer()
        if layer is not None and self.session is not None:
            self.session.save_array("prediction", np.asarray(layer.data), self.state.scale)
