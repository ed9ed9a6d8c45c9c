"""Reading from and writing to napari layers. Main thread only.

Workers never see a layer: :func:`image_array` and :func:`scribble_array` return *copies*
(the user keeps painting while the network trains), and every write happens here, in
handlers that run on the main thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from semicl.errors import SemiclError
from semicl.labels import painted_slices

from napari_semicl import _colors, _quiet_add

if TYPE_CHECKING:
    from napari.components import ViewerModel
    from napari.layers import Image, Labels, Layer

ROLE = "semicl_role"  #: layer.metadata key: "scribbles", "corrections", "prediction", "uncertainty"
CLASS_NAMES = "semicl_class_names"  #: layer.metadata key: class names, background first
PREDICTION = "prediction"
CORRECTIONS = "corrections"
UNCERTAINTY = "uncertainty"


class InputError(SemiclError):
    """A layer (or the plugin's state) cannot be used for an action; the message says what
    to do. A :class:`~semicl.errors.SemiclError`, so it is shown as advice, not as a bug."""


def role(layer: Layer | None) -> str | None:
    """The semicl role recorded in ``layer.metadata`` (None for user layers)."""
    return (getattr(layer, "metadata", None) or {}).get(ROLE)


def class_names(layer: Layer | None) -> list[str] | None:
    """The class names kept in a layer's metadata (None when absent or fewer than two)."""
    names = (getattr(layer, "metadata", None) or {}).get(CLASS_NAMES)
    return [str(n) for n in names] if names and len(names) >= 2 else None


def keep_class_names(layer: Layer | None, names: list[str]) -> None:
    """Keep ``names`` with the layer (its metadata), so they come back with the layer when
    the widget is closed and opened again, or when the layer is picked again."""
    if layer is not None and class_names(layer) != list(names):
        layer.metadata = {**(layer.metadata or {}), CLASS_NAMES: list(names)}


def image_array(layer: Image | None) -> np.ndarray:
    """A float-or-int copy of an Image layer's data, checked to be 2-D or 3-D grey."""
    if layer is None:
        raise InputError(
            "No image: open an image or volume (File > Open, or File > Open Sample > "
            "napari-semicl), then pick it under 'Image'."
        )
    if getattr(layer, "rgb", False):
        raise InputError(
            f"'{layer.name}' is an RGB(A) image; the network needs one grey channel. "
            "Convert it to greyscale (or split its channels with Layers > Split RGB) and "
            "pick one channel under 'Image'."
        )
    if getattr(layer, "multiscale", False):
        data = layer.data[0]
    else:
        data = layer.data
    arr = np.asarray(data)
    if arr.ndim not in (2, 3):
        raise InputError(
            f"'{layer.name}' has {arr.ndim} axes (shape {arr.shape}); the plugin trains on a "
            "2-D image or a 3-D volume. Split channels or time points into separate layers "
            "(right-click the layer > Split Stack) and pick one."
        )
    return arr.copy()


def scribble_array(layer: Labels | None, image_shape: tuple[int, ...]) -> np.ndarray:
    """A copy of a scribble Labels layer's data, checked against the image shape."""
    if layer is None:
        raise InputError(
            "No scribbles: press 'New scribbles', then paint a few strokes of background "
            "(label 1) and of each structure (labels 2, 3, ...) on a few slices."
        )
    arr = np.asarray(layer.data)
    if tuple(arr.shape) != tuple(image_shape):
        raise InputError(
            f"The scribble layer '{layer.name}' has shape {arr.shape} but the image has shape "
            f"{tuple(image_shape)}. Press 'New scribbles' to make a matching layer (or pick "
            "the scribble layer that belongs to this image)."
        )
    return arr.copy()


def new_scribble_layer(viewer: ViewerModel, image_layer: Image | None,
                       name: str = "scribbles") -> Labels:
    """Add an empty Labels layer matching the image (shape, scale, translate), painting in 2-D."""
    shape = image_array(image_layer).shape
    assert image_layer is not None  # image_array refuses None
    layer = viewer.add_labels(
        np.zeros(shape, dtype=np.uint8),
        name=name,
        scale=tuple(image_layer.scale),
        translate=tuple(image_layer.translate),
        metadata={ROLE: "scribbles", "semicl_image": image_layer.name},
        opacity=0.8,
    )
    style_scribbles(layer)
    layer.n_edit_dimensions = 2
    layer.brush_size = max(2, min(shape[-2:]) // 20)
    layer.selected_label = 2
    layer.mode = "paint"
    return layer


def style_scribbles(layer: Labels) -> None:
    """Give a Labels layer the shared class colours and 2-D painting."""
    layer.colormap = _colors.scribble_colormap()
    layer.n_edit_dimensions = 2


def find_role(viewer: ViewerModel, name: str) -> Layer | None:
    """The first layer whose metadata role is ``name`` (None if absent)."""
    for layer in viewer.layers:
        if role(layer) == name:
            return layer
    return None


def find_labels(viewer: ViewerModel, name: str) -> Labels | None:
    """The prediction or corrections layer (:func:`find_role`, a Labels layer), or None."""
    from napari.layers import Labels

    layer = find_role(viewer, name)
    return layer if isinstance(layer, Labels) else None


def ensure_labels(viewer: ViewerModel, image_layer: Image, which: str, shape: tuple[int, ...],
                  data: np.ndarray | None = None) -> Labels:
    """The prediction or corrections Labels layer, created or re-shaped as needed.

    A new layer holds ``data`` (zeros when None; uint8, ``shape``) and is added without
    taking the selection or the person's mode (:func:`_quiet_add.add_quietly`).
    """
    from napari.layers import Labels

    layer = find_labels(viewer, which)
    if layer is not None and tuple(layer.data.shape) == tuple(shape):
        return layer
    new = Labels(
        np.zeros(shape, dtype=np.uint8) if data is None else data,
        name=which,
        scale=tuple(image_layer.scale),
        translate=tuple(image_layer.translate),
        metadata={ROLE: which, "semicl_image": image_layer.name},
        opacity=0.5 if which == PREDICTION else 0.7,
        colormap=(_colors.prediction_colormap() if which == PREDICTION
                  else _colors.scribble_colormap()),
    )
    new.n_edit_dimensions = 2
    return _quiet_add.add_quietly(viewer, new, replace=layer)


def write_slice(layer: Labels, axis: int, index: int, values: np.ndarray) -> None:
    """Overwrite slice ``index`` along ``axis`` of a Labels layer in place and redraw."""
    data = layer.data
    if data.ndim == 2:
        data[...] = values
    else:
        sl = [slice(None)] * data.ndim
        sl[axis] = index
        data[tuple(sl)] = values
    layer.refresh()


def set_uncertainty(viewer: ViewerModel, image_layer: Image | None, entropy: np.ndarray | None,
                    show: bool) -> None:
    """Add, update or remove the per-pixel entropy Image layer."""
    layer = find_role(viewer, UNCERTAINTY)
    if not show or entropy is None or image_layer is None:
        if layer is not None:
            viewer.layers.remove(layer)
        return
    if layer is not None and layer.data.shape == entropy.shape:
        layer.data = entropy
        return
    from napari.layers import Image

    _quiet_add.add_quietly(viewer, Image(
        entropy,
        name=UNCERTAINTY,
        scale=tuple(image_layer.scale),
        translate=tuple(image_layer.translate),
        colormap="magma",
        blending="additive",
        opacity=0.6,
        contrast_limits=(0.0, max(float(entropy.max()), 1e-6)),
        metadata={ROLE: UNCERTAINTY},
    ), replace=layer)


def slice_axis(viewer: ViewerModel, layer: Layer) -> int:
    """The layer axis the user slices through (the one not displayed); 0 for 2-D or 3-D view."""
    if layer.ndim < 3:
        return 0
    offset = viewer.dims.ndim - layer.ndim
    displayed = {d - offset for d in viewer.dims.displayed}
    hidden = [a for a in range(layer.ndim) if a not in displayed]
    return hidden[0] if len(hidden) == 1 else 0


def current_slice(viewer: ViewerModel, layer: Layer, axis: int) -> int:
    """Index (data coordinates) along ``axis`` of the slice the viewer shows."""
    if layer.ndim < 3:
        return 0
    pos = layer.world_to_data(viewer.dims.point)
    n = layer.data.shape[axis]
    return int(np.clip(np.round(pos[axis]), 0, n - 1))


def go_to_slice(viewer: ViewerModel, layer: Layer, axis: int, index: int) -> None:
    """Move the viewer to slice ``index`` along ``axis`` of ``layer``."""
    if layer.ndim < 3:
        return
    pos = np.asarray(layer.world_to_data(viewer.dims.point), dtype=float)
    pos[axis] = index
    world = layer.data_to_world(pos)
    offset = viewer.dims.ndim - layer.ndim
    viewer.dims.set_point(offset + axis, float(world[axis]))


def annotated_slices(scribbles: np.ndarray, axis: int) -> set[int]:
    """Indices of slices along ``axis`` with at least one painted pixel (a 2-D image: 0)."""
    return {int(i) for i in np.flatnonzero(painted_slices(scribbles, axis))}
