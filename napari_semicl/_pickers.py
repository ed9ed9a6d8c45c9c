"""Image and scribble layer pickers that follow the viewer's layer list.

Combos hold layer names (napari keeps them unique) and are rebuilt whenever a layer is
added, removed, renamed or reordered; the current choice is kept when it still exists.
The prediction, corrections and uncertainty layers are never offered as inputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QComboBox

from napari_semicl import _layers

if TYPE_CHECKING:
    from napari.components import ViewerModel
    from napari.layers import Image, Labels, Layer
    from napari.utils.events import Event

_OUTPUT_ROLES = {_layers.PREDICTION, _layers.CORRECTIONS, _layers.UNCERTAINTY}


class LayerPickers(QObject):
    """Two combos (image, scribbles) kept in sync with ``viewer.layers``."""

    image_changed = Signal(object)  #: the picked Image layer (or None)
    scribbles_changed = Signal(object)  #: the picked Labels layer (or None)

    def __init__(self, viewer: ViewerModel) -> None:
        super().__init__()
        self.viewer = viewer
        self.image = QComboBox()
        self.image.setToolTip("The 2-D image or 3-D volume to segment.")
        self.scribbles = QComboBox()
        self.scribbles.setToolTip("The Labels layer you paint on (0 = unpainted).")
        self._picked: dict[str, Layer | None] = {"image": None, "scribbles": None}
        self.image.currentTextChanged.connect(lambda t: self._changed("image", t))
        self.scribbles.currentTextChanged.connect(lambda t: self._changed("scribbles", t))
        ev = viewer.layers.events
        for emitter in (ev.inserted, ev.removed, ev.moved, ev.reordered):
            emitter.connect(self.refresh)
        ev.inserted.connect(self._watch_name)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        self.refresh()

    def _watch_name(self, event: Event) -> None:
        event.value.events.name.connect(self.refresh)

    def disconnect_viewer(self) -> None:
        """Stop following the viewer (the widget is closing)."""
        ev = self.viewer.layers.events
        for emitter in (ev.inserted, ev.removed, ev.moved, ev.reordered):
            emitter.disconnect(self.refresh)
        ev.inserted.disconnect(self._watch_name)
        for layer in self.viewer.layers:
            layer.events.name.disconnect(self.refresh)

    def _layers(self, kind: str) -> list[Layer]:
        import napari

        cls = napari.layers.Image if kind == "image" else napari.layers.Labels
        return [lay for lay in self.viewer.layers
                if isinstance(lay, cls) and _layers.role(lay) not in _OUTPUT_ROLES]

    def _changed(self, which: str, name: str) -> None:
        layer = self._get(name)
        self._picked[which] = layer
        (self.image_changed if which == "image" else self.scribbles_changed).emit(layer)

    def _current_name(self, which: str, combo: QComboBox) -> str:
        """The picked layer's name now (it follows renames), else the combo text."""
        layer = self._picked[which]
        if layer is not None and layer in self.viewer.layers:
            return layer.name
        return combo.currentText()

    @staticmethod
    def _fill(combo: QComboBox, names: list[str], prefer: str | None, current: str) -> None:
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(names)
        pick = current if current in names else (prefer if prefer in names else None)
        if pick is None and names:
            pick = names[-1]  # the newest layer (top of the layer list)
        if pick is not None:
            combo.setCurrentText(pick)
        combo.blockSignals(False)

    def refresh(self, _event: Event | None = None) -> None:
        """Rebuild both combos from the viewer's layers."""
        images = [lay.name for lay in self._layers("image")]
        self._fill(self.image, images, None, self._current_name("image", self.image))
        labels = self._layers("labels")
        own = [lay.name for lay in labels if _layers.role(lay) == "scribbles"]
        self._fill(self.scribbles, [lay.name for lay in labels], own[-1] if own else None,
                   self._current_name("scribbles", self.scribbles))
        for which, combo in (("image", self.image), ("scribbles", self.scribbles)):
            layer = self._get(combo.currentText())
            if layer != self._picked[which]:
                self._changed(which, combo.currentText())

    def _get(self, name: str) -> Layer | None:
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    def image_layer(self) -> Image | None:
        """The picked Image layer, or None."""
        return self._get(self.image.currentText())  # type: ignore[return-value]

    def scribble_layer(self) -> Labels | None:
        """The picked scribble Labels layer, or None."""
        return self._get(self.scribbles.currentText())  # type: ignore[return-value]

    def pick_scribbles(self, name: str) -> None:
        """Select ``name`` in the scribble combo."""
        self.refresh()
        self.scribbles.setCurrentText(name)
