"""Class colours shared by the scribble, correction and prediction layers.

Scribble value ``v`` (1 = background, k >= 2 = structure k-1) has colour ``PALETTE[v]``.
A prediction of class ``c`` (mask convention, 0 = background) is drawn with the colour of
scribble ``c + 1``, so a structure looks the same whether painted or predicted; predicted
background is transparent so the image stays visible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from semicl.labels import BACKGROUND_CLASS, class_to_scribble

if TYPE_CHECKING:
    from napari.utils.colormaps import DirectLabelColormap

TRANSPARENT = (0.0, 0.0, 0.0, 0.0)

# Index 0 is unused (unpainted); 1 = background scribbles (a muted blue), then distinct hues.
_BASE = [
    (0.00, 0.00, 0.00),
    (0.35, 0.55, 0.95),  # background
    (0.95, 0.25, 0.20),  # structure 1: red
    (0.25, 0.85, 0.30),  # structure 2: green
    (1.00, 0.80, 0.10),  # structure 3: yellow
    (0.80, 0.35, 0.95),  # structure 4: purple
    (0.10, 0.90, 0.90),  # structure 5: cyan
    (1.00, 0.55, 0.10),  # structure 6: orange
    (0.95, 0.45, 0.75),  # structure 7: pink
    (0.60, 0.80, 0.20),  # structure 8: lime
    (0.55, 0.35, 0.20),  # structure 9: brown
    (0.20, 0.45, 0.50),  # structure 10: teal
    (0.85, 0.85, 0.85),  # structure 11: light grey
]

#: Largest scribble value with its own colour entry (values above cycle through the hues).
MAX_VALUE = 255


def scribble_rgba(value: int) -> tuple[float, float, float, float]:
    """RGBA colour (0..1) of scribble ``value`` (0 = unpainted -> transparent)."""
    if value <= 0:
        return TRANSPARENT
    if value < len(_BASE):
        r, g, b = _BASE[value]
    else:
        r, g, b = _BASE[2 + (value - 2) % (len(_BASE) - 2)]
    return (r, g, b, 1.0)


def prediction_rgba(cls: int) -> tuple[float, float, float, float]:
    """RGBA colour of predicted class ``cls`` (0 = background -> transparent)."""
    if cls <= BACKGROUND_CLASS:
        return TRANSPARENT
    return scribble_rgba(class_to_scribble(cls))


def scribble_colormap() -> DirectLabelColormap:
    """A napari ``DirectLabelColormap`` for scribble (and correction) layers."""
    from napari.utils.colormaps import DirectLabelColormap

    colors = {v: scribble_rgba(v) for v in range(1, MAX_VALUE + 1)}
    colors[0] = TRANSPARENT
    colors[None] = TRANSPARENT
    return DirectLabelColormap(color_dict=colors)


def prediction_colormap() -> DirectLabelColormap:
    """A napari ``DirectLabelColormap`` for the prediction layer (background transparent)."""
    from napari.utils.colormaps import DirectLabelColormap

    colors = {c: prediction_rgba(c) for c in range(1, MAX_VALUE)}
    colors[0] = TRANSPARENT
    colors[None] = TRANSPARENT
    return DirectLabelColormap(color_dict=colors)


def swatch_rgb255(value: int) -> tuple[int, int, int]:
    """0..255 RGB of scribble ``value`` for Qt swatches in the class list."""
    r, g, b, _ = scribble_rgba(value)
    return tuple(int(round(255 * x)) for x in (r, g, b))  # type: ignore[return-value]

