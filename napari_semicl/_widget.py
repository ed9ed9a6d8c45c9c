"""The dock widget: controls only. Every action is forwarded to the :class:`Controller`.

Sections: input layers, classes, training (preset, advanced, Train / Retrain / Stop, loss
curve), prediction (show/hide, uncertainty, next slice), files (export, model, session).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtCore import QEvent, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from semicl.labels import scribble_to_class

from napari_semicl import _dialogs, _layers, _messages, _shortcuts, _workers
from napari_semicl._class_list import ClassList
from napari_semicl._controller import Controller
from napari_semicl._loss_plot import LossPlot
from napari_semicl._options import RoundOptions
from napari_semicl._pickers import LayerPickers
from napari_semicl._session_model import Request
from napari_semicl._settings import SettingsPanel

if TYPE_CHECKING:
    from napari.components import ViewerModel
    from napari.layers import Image, Labels
    from qtpy.QtGui import QCloseEvent

    from semicl.events import ProgressEvent

#: Autosave waits this long after the last stroke or class edit (milliseconds).
AUTOSAVE_DELAY_MS = 2000


def _button(text: str, tip: str, slot: Callable[[], object]) -> QPushButton:
    b = QPushButton(text)
    b.setToolTip(tip)
    b.clicked.connect(lambda _checked=False: slot())
    return b


class SemiclWidget(QWidget):
    """Paint a few scribbles, train a network in the background, correct, retrain, export."""

    def __init__(self, napari_viewer: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.controller = Controller(napari_viewer)
        self.session = self.controller.session  #: the state the controls follow
        self.pickers = LayerPickers(napari_viewer)
        self._watched: Labels | None = None
        self._closed = False
        self._was_docked = False

        self.new_scribbles_btn = _button(
            "New scribbles", "Add an empty Labels layer matching the image (paints per slice).",
            self.on_new_scribbles)
        inputs = QGroupBox("1. Image and scribbles")
        form = QFormLayout(inputs)
        form.addRow("Image", self.pickers.image)
        form.addRow("Scribbles", self.pickers.scribbles)
        form.addRow(self.new_scribbles_btn)

        self.classes = ClassList()
        classes = QGroupBox("2. Classes (scribble label: name)")
        QVBoxLayout(classes).addWidget(self.classes)

        self.settings = SettingsPanel()
        keys = _shortcuts.help_text()
        self.train_btn = _button("Train", f"Train all stages from scratch.\n\n{keys}",
                                 self.on_train)
        self.retrain_btn = _button(
            "Retrain", "Warm-start from the current model and fine-tune on scribbles plus your "
            "edits of the prediction.", self.on_retrain)
        self.stop_btn = _button("Stop", "Finish the current step and keep the model.", self.on_stop)
        self.options = RoundOptions()  #: Repeat pretraining on Retrain, Keep only painted pieces
        self.status = QLabel("Paint scribbles, then press Train.")
        self.status.setWordWrap(True)
        self.loss_plot = LossPlot()
        train = QGroupBox("3. Train")
        tl = QVBoxLayout(train)
        tl.addWidget(self.settings)
        row = QHBoxLayout()
        for b in (self.train_btn, self.retrain_btn, self.stop_btn):
            row.addWidget(b)
        tl.addLayout(row)
        tl.addWidget(self.options)
        tl.addWidget(self.status)
        tl.addWidget(self.loss_plot)

        self.predict_btn = _button("Predict", "Predict the whole image with the current model.",
                                   self.on_predict)
        self.toggle_btn = _button("Show/hide", "Show or hide the prediction (Shift+H).",
                                  self.on_toggle_prediction)
        self.next_btn = _button("Next slice to annotate",
                                "Jump to the most uncertain slice without scribbles (Shift+N).",
                                self.on_next_slice)
        self.uncertainty = QCheckBox("Show uncertainty (entropy)")
        self.uncertainty.toggled.connect(
            lambda _on: self.controller.show_uncertainty(self.request()))
        pred = QGroupBox("4. Prediction")
        pg = QGridLayout(pred)
        pg.addWidget(self.predict_btn, 0, 0)
        pg.addWidget(self.toggle_btn, 0, 1)
        pg.addWidget(self.next_btn, 1, 0, 1, 2)
        pg.addWidget(self.uncertainty, 2, 0, 1, 2)

        self.export_btn = _button("Export mask…", "Save the prediction as TIFF (or NIfTI): "
                                  "0 = background, 1.. = structures, with voxel spacing.",
                                  self.on_export)
        self.save_model_btn = _button("Save model…", "Save the model (.pt).", self.on_save_model)
        self.load_model_btn = _button("Load model…", "Load a model (.pt).", self.on_load_model)
        self.session_btn = _button("Session folder…", "Choose where the session is autosaved.",
                                   self.on_session_folder)
        self.open_session_btn = _button("Open session…", "Reopen a saved session folder.",
                                        self.on_open_session)
        self.session_label = QLabel()
        self.session_label.setWordWrap(True)
        files = QGroupBox("5. Export, model and session")
        fg = QGridLayout(files)
        fg.addWidget(self.export_btn, 0, 0, 1, 2)
        fg.addWidget(self.save_model_btn, 1, 0)
        fg.addWidget(self.load_model_btn, 1, 1)
        fg.addWidget(self.session_btn, 2, 0)
        fg.addWidget(self.open_session_btn, 2, 1)
        fg.addWidget(self.session_label, 3, 0, 1, 2)

        body = QWidget()
        bl = QVBoxLayout(body)
        for box in (inputs, classes, train, pred, files):
            bl.addWidget(box)
        bl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self._save_timer = QTimer(self)  # autosave once the user pauses
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(AUTOSAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.session.flush)
        s = self.session
        s.busy_changed.connect(self._on_busy_changed)
        s.model_changed.connect(self._on_model_changed)
        s.progressed.connect(self._on_progress)
        s.status.connect(self._on_status)
        s.folder_changed.connect(self._on_folder_changed)
        s.save_requested.connect(self._on_save_requested)
        self.classes.picked.connect(self._on_class_picked)
        self.classes.changed.connect(self._on_classes_changed)
        self.pickers.image_changed.connect(self._on_image_picked)
        self.pickers.scribbles_changed.connect(self._on_scribbles_picked)
        self._keys = _shortcuts.bind(napari_viewer, self)
        _workers.warm_up()
        self.destroyed.connect(self.controller.shutdown)
        self._on_image_picked(self.pickers.image_layer())
        self._on_scribbles_picked(self.pickers.scribble_layer())
        self._update_buttons()

    # -- state -----------------------------------------------------------------------------
    def request(self, with_config: bool = False) -> Request:
        """The current choices as a controller :class:`Request`."""
        return Request(
            image_layer=self.pickers.image_layer(),
            scribble_layer=self.pickers.scribble_layer(),
            class_names=self.classes.names(),
            config=self.settings.config() if with_config else None,
            preview_every_s=self.settings.preview_s.value(),
            repeat_pretraining=self.options.repeat_pretraining.isChecked(),
            keep_islands=self.options.keep_islands.isChecked(),
            show_uncertainty=self.uncertainty.isChecked(),
            first_look=self.settings.first_look.isChecked(),
        )

    def _update_buttons(self) -> None:
        s = self.session
        busy, has_model = s.busy, s.model is not None
        for b in (self.train_btn, self.new_scribbles_btn, self.load_model_btn,
                  self.open_session_btn, self.session_btn):
            b.setEnabled(not busy)
        self.retrain_btn.setEnabled(not busy and s.can_retrain)
        self.predict_btn.setEnabled(not busy and has_model)
        self.stop_btn.setEnabled(busy)
        self.save_model_btn.setEnabled(has_model)
        self.export_btn.setEnabled(s.has_prediction)
        folder = s.folder
        self.session_label.setText(f"Session: {folder}" if folder else
                                   "Session: autosaved when you paint or train.")

    # -- session events ----------------------------------------------------------------------
    def _on_busy_changed(self, _busy: bool) -> None:
        self._update_buttons()

    def _on_folder_changed(self, _folder: Path | None) -> None:
        self._update_buttons()

    def _on_status(self, text: str) -> None:
        self.status.setText(text)

    def _on_save_requested(self) -> None:
        self._save_timer.start()  # (again): the save waits for a pause

    def _on_progress(self, key: str, title: str, ev: ProgressEvent) -> None:
        self.loss_plot.add(key, title, ev.step, ev.loss)

    def _on_model_changed(self) -> None:
        model = self.session.model
        if model is not None and list(model.class_names) != self.classes.names():
            self.classes.set_names(list(model.class_names))
        self._update_buttons()

    # -- layers ------------------------------------------------------------------------------
    def _on_image_picked(self, layer: Image | None) -> None:
        names = _layers.class_names(layer)  # sample data names its classes
        if names and self.classes.names() == ["background", "structure 1"]:
            self.classes.set_names(names)

    def _on_classes_changed(self, names: list[str]) -> None:
        _layers.keep_class_names(self.pickers.scribble_layer(), names)
        self._schedule_autosave()

    def _on_scribbles_picked(self, layer: Labels | None) -> None:
        if self._watched is not None:
            try:
                self._watched.events.paint.disconnect(self._schedule_autosave)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._watched = layer
        if layer is None:
            return
        _layers.style_scribbles(layer)
        layer.events.paint.connect(self._schedule_autosave)
        names = _layers.class_names(layer)  # the classes stay with the scribbles
        if names is None:
            _layers.keep_class_names(layer, self.classes.names())
        elif names != self.classes.names():
            self.classes.blockSignals(True)  # nothing changed that needs saving
            try:
                self.classes.set_names(names)
            finally:
                self.classes.blockSignals(False)
        folder = (layer.metadata or {}).get("semicl_session")
        if folder and Path(folder) != self.session.folder:
            self._restore(folder)

    def _restore(self, folder: str) -> None:
        st = self.controller.restore(folder, self.pickers.image_layer())
        if st is None:
            return
        self.classes.set_names(st.class_names)
        if st.config:
            from semicl.config import TrainConfig

            self.settings.set_config(TrainConfig.from_dict(st.config))
        self._update_buttons()

    def _on_class_picked(self, value: int) -> None:
        layer = self.pickers.scribble_layer()
        if layer is not None:
            layer.selected_label = value
        pred = self.session.view.layer()
        if pred is not None:  # the same class on the prediction, in the mask convention
            pred.selected_label = scribble_to_class(value)

    def _schedule_autosave(self, _event: object = None) -> None:
        req = self.request()
        if req.image_layer is None:
            return
        axis = _layers.slice_axis(self.viewer, req.image_layer)
        self.session.schedule_save(req, axis)
        self._update_buttons()

    # -- actions (buttons and shortcuts) -----------------------------------------------------
    def on_new_scribbles(self) -> None:
        try:
            layer = _layers.new_scribble_layer(self.viewer, self.pickers.image_layer())
        except _layers.InputError as exc:
            _messages.report(exc, "New scribbles")
            return
        self.pickers.pick_scribbles(layer.name)
        self.viewer.layers.selection.active = layer

    def _config_request(self) -> Request | None:
        try:
            return self.request(with_config=True)
        except Exception as exc:  # noqa: BLE001 - invalid advanced settings
            _messages.report(exc, "Settings")
            return None

    def on_train(self) -> None:
        req = self._config_request()
        if req is not None and self.controller.train(req):
            self.loss_plot.clear()

    def on_retrain(self) -> None:
        req = self._config_request()
        if req is not None and self.controller.train(req, warm=True):
            self.loss_plot.clear()

    def on_stop(self) -> None:
        self.controller.stop()

    def on_predict(self) -> None:
        self.controller.predict(self.request())

    def on_toggle_prediction(self) -> None:
        self.session.view.toggle()

    def on_next_slice(self) -> None:
        self.controller.next_slice(self.request())

    def ask_path(self, kind: str) -> str | None:
        """File dialogs (tests replace this method)."""
        return _dialogs.ask_path(self, kind, self.session.folder)

    def on_export(self) -> None:
        path = self.ask_path("export")
        if path:
            self.controller.export(path, self.request())

    def on_save_model(self) -> None:
        path = self.ask_path("save_model")
        if path:
            self.controller.save_model(path)

    def on_load_model(self) -> None:
        path = self.ask_path("load_model")
        if path:
            self.controller.load_model(path)

    def on_session_folder(self) -> None:
        path = self.ask_path("session")
        if path:
            self.session.set_folder(path)
            self._schedule_autosave()
            self._update_buttons()

    def on_open_session(self) -> None:
        path = self.ask_path("session")
        if not path:
            return
        try:
            layers = self.viewer.open(path, plugin="napari-semicl")
        except Exception as exc:  # noqa: BLE001
            _messages.report(exc, "Open session")
            return
        scrib = [lay for lay in layers if _layers.role(lay) == "scribbles"]
        images = [lay for lay in layers if _layers.role(lay) is None]
        if images:
            self.pickers.image.setCurrentText(images[0].name)
        if scrib:
            self.pickers.pick_scribbles(scrib[0].name)

    # -- teardown ----------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the job, unbind shortcuts, stop following the viewer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.controller.shutdown()
        _shortcuts.unbind(self.viewer, self._keys)
        self.pickers.disconnect_viewer()
        if self._watched is not None:
            try:
                self._watched.events.paint.disconnect(self._schedule_autosave)
            except (TypeError, ValueError, RuntimeError):
                pass

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    def event(self, ev: QEvent) -> bool:  # removed from its dock (napari's "close" button)
        if ev.type() == QEvent.Type.ParentChange and self.parent() is None and not self._closed:
            if self._was_docked:
                self.shutdown()
        elif ev.type() == QEvent.Type.ParentChange and self.parent() is not None:
            self._was_docked = True
        return super().event(ev)

