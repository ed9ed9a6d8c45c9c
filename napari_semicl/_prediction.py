"""The "prediction" Labels layer and the corrections painted on it. Main thread only.

The view remembers what it last wrote into the prediction layer (``shown``). Any pixel
that differs from it was edited by the user, so before the layer is overwritten (a live
preview of one slice, or the final prediction) those pixels are *harvested*: copied, as
scribbles (class c -> scribble c + 1), into the "corrections" layer. Retrain then trains
on scribbles plus corrections, and nothing the user painted is lost when the network
disagrees. Every refresh of the prediction then puts the corrections back on top of the
network's mask (scribble c + 1 -> class c), so an edit stays where it was painted, and an
export right after a refresh contains it. The user's scribble layer itself is never written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from semicl.labels import IGNORE_INDEX, UNPAINTED, mask_to_scribbles, scribbles_to_targets

from napari_semicl import _layers

if TYPE_CHECKING:
    from napari.components import ViewerModel
    from napari.layers import Image, Labels

Region = tuple[slice | int, ...]


class PredictionView:
    """Writes predictions into the viewer and turns prediction edits into corrections."""

    def __init__(self, viewer: ViewerModel) -> None:
        self.viewer = viewer
        self.image_layer: Image | None = None
        self.axis = 0
        self.shown: np.ndarray | None = None
        #: since the last bind: each previewed slice's values before its first preview,
        #: and whether a preview made the layer (what :meth:`undo_previews` restores)
        self._before: dict[int, np.ndarray] = {}
        self._made = False

    def bind(self, image_layer: Image | None, axis: int) -> None:
        """Predictions that follow belong to ``image_layer``, sliced along ``axis``."""
        self.image_layer = image_layer
        self.axis = axis
        self._before, self._made = {}, False

    def layer(self) -> Labels | None:
        """The prediction layer, or None."""
        return _layers.find_labels(self.viewer, _layers.PREDICTION)

    def adopt(self) -> None:
        """The prediction layer as it is now is what was shown (a reopened session's)."""
        layer = self.layer()
        if layer is not None:
            self.shown = np.array(layer.data, copy=True)

    def _region(self, index: int | None, ndim: int) -> Region:
        sl: list[slice | int] = [slice(None)] * ndim
        if index is not None and ndim == 3:
            sl[self.axis] = index
        return tuple(sl)

    def _current(self, shape: tuple[int, ...]) -> Labels | None:
        """The prediction layer if it has ``shape`` (``shown`` then tracks it), else None."""
        layer = self.layer()
        if layer is None or tuple(layer.data.shape) != tuple(shape):
            return None
        if self.shown is None or self.shown.shape != tuple(shape):
            self.shown = np.array(layer.data, copy=True)
        return layer

    def _create(self, data: np.ndarray) -> Labels:
        """A new prediction layer holding ``data`` (it replaces one of another shape)."""
        assert self.image_layer is not None  # callers return early without one
        layer = _layers.ensure_labels(self.viewer, self.image_layer, _layers.PREDICTION,
                                      data.shape, data=data)
        self.shown = np.array(data, copy=True)
        return layer

    def _with_edits(self, region: Region, mask: np.ndarray,
                    shape: tuple[int, ...]) -> np.ndarray:
        """``mask`` (the network's values for ``region``, in the engine's integer type) with
        the corrections on top: a pixel the user edited keeps the class they gave it."""
        out = np.array(mask, copy=True)
        corr = self.corrections_layer(shape)
        if corr is None:
            return out
        edits = scribbles_to_targets(np.asarray(corr.data[region]))
        painted = edits != IGNORE_INDEX
        if painted.any():
            out[painted] = edits[painted]
        return out

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
        target[changed] = mask_to_scribbles(current[changed])
        self.shown[region][changed] = current[changed]
        corr.refresh()
        return n

    def show_slice(self, index: int, mask: np.ndarray) -> None:
        """Show a live preview of one slice (harvesting edits on that slice first; the
        edited pixels keep the user's values)."""
        if self.image_layer is None:
            return
        shape = tuple(self.image_layer.data.shape)
        region = self._region(index, len(shape))
        layer = self._current(shape)
        if layer is not None:
            self.harvest(index)
        values = self._with_edits(region, mask, shape)
        if layer is None:  # the first preview: the new layer is made with it
            data = np.zeros(shape, dtype=values.dtype)
            data[region] = values
            self._create(data)
            self._made = True
            return
        self._before.setdefault(index, np.array(self.shown[region], copy=True))
        self.shown[region] = values
        _layers.write_slice(layer, self.axis, index, values)

    def undo_previews(self) -> None:
        """A round ended without a prediction: the slices previewed since the last bind go
        back to what they showed before (a layer a preview made goes), the user's edits
        kept (harvested into "corrections" first, and on top of the restored values)."""
        layer = self.layer()
        if layer is not None and self.image_layer is not None:
            if self._made:
                self.harvest()
                self.viewer.layers.remove(layer)
                self.shown = None
            elif self._current(tuple(self.image_layer.data.shape)) is not None:
                for index, values in list(self._before.items()):
                    self.show_slice(index, values)  # harvests that slice, keeps its edits
        self._before, self._made = {}, False

    def show_full(self, mask: np.ndarray) -> None:
        """Replace the whole prediction (harvesting every edit first; the edited pixels
        keep the user's values)."""
        shape = tuple(mask.shape)
        layer = self._current(shape)
        if layer is not None:
            self.harvest()
        values = self._with_edits(self._region(None, len(shape)), mask, shape)
        self._before, self._made = {}, False  # the previews are superseded
        if layer is None:
            self._create(values)
            return
        layer.data = values
        self.shown = np.array(values, copy=True)

    def corrections_layer(self, shape: tuple[int, ...]) -> Labels | None:
        """The corrections layer if it has ``shape``, else None."""
        corr = _layers.find_labels(self.viewer, _layers.CORRECTIONS)
        if corr is None or tuple(corr.data.shape) != tuple(shape):
            return None
        return corr

    def corrections(self, shape: tuple[int, ...]) -> np.ndarray | None:
        """A copy of the corrections layer (scribble convention), if it matches ``shape``."""
        corr = self.corrections_layer(shape)
        return None if corr is None else np.array(corr.data, copy=True)

    def merged(self, scribbles: np.ndarray) -> np.ndarray:
        """Scribbles with corrections filling unpainted pixels (the user's strokes win)."""
        corr = self.corrections(scribbles.shape)
        if corr is None:
            return scribbles
        out = scribbles.astype(np.promote_types(scribbles.dtype, corr.dtype), copy=True)
        fill = (out == UNPAINTED) & (corr != UNPAINTED)
        out[fill] = corr[fill]
        return out

    def toggle(self) -> bool:
        """Show/hide the prediction layer; returns the new visibility."""
        layer = self.layer()
        if layer is None:
            return False
        layer.visible = not layer.visible
        return bool(layer.visible)
