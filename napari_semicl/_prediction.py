"""The "prediction" Labels layer and the corrections painted on it. Main thread only.

The view remembers what it last wrote into the prediction layer (``shown``). Any pixel
that differs from it was edited by the user, so before the layer is overwritten (a live
preview of one slice, or the final prediction) those pixels are *harvested*: copied, as
scribbles (class c -> scribble c + 1), into the "corrections" layer. Retrain then trains
on scribbles plus corrections, and nothing the user painted is lost when the network
disagrees. The user's scribble layer itself is never written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_semicl import _layers


class PredictionView:
    """Writes predictions into the viewer and turns prediction edits into corrections."""

    def __init__(self, viewer: Any) -> None:
        self.viewer = viewer
        self.image_layer: Any = None
        self.axis = 0
        self.shown: np.ndarray | None = None

    def bind(self, image_layer: Any, axis: int) -> None:
        """Predictions that follow belong to ``image_layer``, sliced along ``axis``."""
        self.image_layer = image_layer
        self.axis = axis

    def layer(self) -> Any:
        """The prediction layer, or None."""
        return _layers.find_role(self.viewer, _layers.PREDICTION)

    def _region(self, index: int | None, ndim: int) -> tuple:
        sl: list[Any] = [slice(None)] * ndim
        if index is not None and ndim == 3:
            sl[self.axis] = index
        return tuple(sl)

    def _ensure(self, shape: tuple[int, ...]) -> Any:
        layer = self.layer()
        fresh = layer is None or tuple(layer.data.shape) != tuple(shape)
        if fresh or self.shown is None or self.shown.shape != tuple(shape):
            if not fresh:
                self.harvest()
            layer = _layers.ensure_labels(self.viewer, self.image_layer, _layers.PREDICTION, shape)
            self.shown = np.array(layer.data, copy=True)
        return layer

    def harvest(self, index: int | None = None) -> int:
        """Copy edited prediction pixels (whole layer, or one slice) into "corrections"."""
        layer = self.layer()
        if layer is None or self.shown is None or layer.data.shape != self.shown.shape:
            return 0
        region = self._region(index, layer.data.ndim)
        current = np.asarray(layer.data[region])
        changed = current != self.shown[region]
        n = int(np.count_nonzero(changed))
        if n == 0:
            return 0
        corr = _layers.ensure_labels(
            self.viewer, self.image_layer, _layers.CORRECTIONS, self.shown.shape
        )
        target = corr.data[region]
        target[changed] = current[changed].astype(np.int64) + 1
        self.shown[region][changed] = current[changed]
        corr.refresh()
        return n

    def show_slice(self, index: int, mask: np.ndarray) -> None:
        """Show a live preview of one slice (harvesting edits on that slice first)."""
        shape = tuple(self.image_layer.data.shape) if self.image_layer is not None else None
        if shape is None:
            return
        layer = self._ensure(shape)
        self.harvest(index)
        region = self._region(index, len(shape))
        self.shown[region] = mask
        _layers.write_slice(layer, self.axis, index, mask)

    def show_full(self, mask: np.ndarray) -> None:
        """Replace the whole prediction (harvesting every edit first)."""
        layer = self._ensure(mask.shape)
        self.harvest()
        layer.data = np.asarray(mask, dtype=np.uint8).copy()
        self.shown = np.array(layer.data, copy=True)

    def corrections(self, shape: tuple[int, ...]) -> np.ndarray | None:
        """A copy of the corrections layer (scribble convention), if it matches ``shape``."""
        corr = _layers.find_role(self.viewer, _layers.CORRECTIONS)
        if corr is None or tuple(corr.data.shape) != tuple(shape):
            return None
        return np.array(corr.data, copy=True)

    def merged(self, scribbles: np.ndarray) -> np.ndarray:
        """Scribbles with corrections filling unpainted pixels (the user's strokes win)."""
        corr = self.corrections(scribbles.shape)
        if corr is None:
            return scribbles
        out = scribbles.astype(np.promote_types(scribbles.dtype, corr.dtype), copy=True)
        fill = (out == 0) & (corr > 0)
        out[fill] = corr[fill]
        return out

    def toggle(self) -> bool:
        """Show/hide the prediction layer; returns the new visibility."""
        layer = self.layer()
        if layer is None:
            return False
        layer.visible = not layer.visible
        return bool(layer.visible)
