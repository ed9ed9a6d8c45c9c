"""Adding the plugin's layers while the person works: quickly, and without taking the
selection. Main thread only.

The prediction, corrections and uncertainty layers appear in the middle of a round: a
worker is training beside the GUI thread and the person may be painting. napari's usual
way (``viewer.add_labels``, then set the colormap) froze the window 0.4-1 s there
(``benchmarks/ui_lag.py``). Where the time went, and what is done instead:

* napari builds the vispy visuals of a Labels layer's two drawing overlays (polygon,
  brush stroke) as soon as the layer is added: over half of the freeze. They are hidden
  until the layer first leaves pan/zoom mode, so napari builds them on that click.
* napari selects a new layer (layer controls, key bindings and status follow), and the
  person's selection and mode had to be put back: a layer is now inserted unselected.
* the colormap and first data are given to the constructor, not set (and redrawn) after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from napari_semicl._proxy import unwrapped

if TYPE_CHECKING:
    from napari.components import ViewerModel
    from napari.layers import Layer
    from napari.utils.events import Event

L = TypeVar("L", bound="Layer")

#: napari's drawing overlays of a Labels layer (``Layer._overlays`` keys), made lazily
DRAWING_OVERLAYS = ("polygon", "brush_stroke")


@contextmanager
def unselected(viewer: ViewerModel) -> Iterator[None]:
    """Add (or replace) layers without selecting them.

    napari makes a new layer the only selected (active) one; a person painting while the
    network trains must stay on their layer, in their mode. Inside this block napari does
    not select what is inserted (where its layer list allows that); on exit the selection,
    the active layer and its mode are restored in any case (if all of it was removed,
    napari's choice stays).
    """
    sel = viewer.layers.selection
    before, active = list(sel), sel.active
    mode = getattr(active, "mode", None)
    # napari hands plugins a proxy that warns on private attributes: use the list itself
    layers = unwrapped(viewer.layers)
    flag = getattr(layers, "_activate_on_insert", None)
    if flag is not None:
        layers._activate_on_insert = False
    try:
        yield
    finally:
        if flag is not None:
            layers._activate_on_insert = flag
        kept = [lay for lay in before if lay in viewer.layers]
        if active is not None and active in viewer.layers:
            sel.active = active
            if mode is not None and active.mode != mode:
                active.mode = mode
        elif (kept or not before) and set(kept) != set(sel):
            sel.clear()
            sel.update(kept)


def defer_drawing_overlays(layer: Layer) -> None:
    """Hide a new Labels layer's drawing overlays until it first leaves pan/zoom mode.

    Painting needs them, looking does not; napari creates an overlay's visual when it
    becomes visible. Without napari's private overlay table this does nothing.
    """
    overlays = getattr(layer, "_overlays", None) or {}
    hidden = [overlays[k] for k in DRAWING_OVERLAYS if k in overlays and overlays[k].visible]
    if not hidden:
        return
    for overlay in hidden:
        overlay.visible = False

    def show(_event: Event | None = None) -> None:
        if str(layer.mode) in ("pan_zoom", "transform"):
            return
        layer.events.mode.disconnect(show)
        for overlay in hidden:
            overlay.visible = True

    layer.events.mode.connect(show)


def add_quietly(viewer: ViewerModel, layer: L, replace: Layer | None = None) -> L:
    """Insert ``layer`` (a napari layer built by the caller) without selecting it,
    removing ``replace`` first; the person's selection and mode stay. Returns ``layer``."""
    defer_drawing_overlays(layer)
    with unselected(viewer):
        if replace is not None and replace in viewer.layers:
            viewer.layers.remove(replace)
        viewer.layers.append(layer)
    return layer
