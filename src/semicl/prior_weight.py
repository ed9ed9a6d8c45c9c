"""Where the background prior may speak: not next to a structure's own strokes.

From strokes, fine-tuning adds a weak cross-entropy toward background on every unpainted
pixel (``FinetuneConfig.background_prior``): most of an image is background, and without
it the network paints structure far from any stroke (Colin27's thalamus outside the head,
issue #10). Next to a structure's strokes the assumption is wrong: a person paints a line
through the *middle* of a structure, so the structure's own rim, the rest of it on the
painted slice and its continuation on the slices beside are all unpainted, and the prior
pulls them toward background. That is the error the scribble benchmark finds everywhere
(docs/benchmarks.md, session 10: 60-88 % of each structure's 1-pixel rim missed, 27-46 %
of a structure missed on the painted slices themselves).

:func:`prior_weight` lifts the prior within a structure's reach of its strokes. The reach
is read off the strokes themselves: a line through a structure's middle is about as long
as the structure is wide, so each class's reach is ``reach`` times the median half-length
(half the bounding-box diagonal) of its stroke pieces on a slice. Distances are measured
in 3-D, one slice counting as :func:`semicl.slice_smoothing.slice_step` in-plane pixels
(an MRI's slice is about a pixel; serial EM sections 16 or more, so a zone barely reaches
the next section). Background strokes, which a person paints just outside a structure,
still bound it inside the zone; the affinity term and the network decide the rest.

Beyond the painted slices the prior may also grow (``beyond`` > 0, :func:`beyond_factor`):
a person paints slices spread over the structures' extent along the axis, so a slice
more than one painted spacing past the outermost painted slice is unlikely to hold any,
and the farther it lies the stronger the prior there. Without it the network paints
structure on such slices wherever they look like the strokes (Colin27 with three painted
slices: 99 % of the caudate's false positives outside the zone lie beyond the painted
range, 20-90 slices from it; docs/benchmarks.md, session 22).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from semicl.labels import class_to_scribble, painted_slices

__all__ = ["beyond_factor", "prior_weight", "stroke_radius"]


def _painted(strokes: np.ndarray) -> np.ndarray:
    """Indices of the slices of ``strokes`` (Z, Y, X) bool holding a stroke pixel."""
    return np.flatnonzero(painted_slices(strokes))


def stroke_radius(strokes: np.ndarray) -> float:
    """Median over the connected pieces of ``strokes`` (Z, Y, X) bool, each slice on its
    own, of half the piece's bounding-box diagonal (pixels); 0 if nothing is painted."""
    radii = []
    for z in _painted(strokes):
        labelled, _ = ndi.label(strokes[z])
        for box in ndi.find_objects(labelled):
            radii.append(0.5 * np.hypot(box[0].stop - box[0].start, box[1].stop - box[1].start))
    return float(np.median(radii)) if radii else 0.0


def beyond_factor(painted: np.ndarray, n: int, slope: float, cap: float) -> np.ndarray:
    """Factor of the prior on each of ``n`` slices given the sorted indices ``painted`` of
    the slices holding a structure's strokes -> float32 (n,): 1 up to ``g`` slices past
    the outermost painted slices, ``g`` their mean spacing, then ``1 + slope * (d - g) /
    g`` at ``d`` slices past them, at most ``cap``. All 1 with fewer than two painted
    slices (no spacing to read) or ``slope`` 0."""
    out = np.ones(n, np.float32)
    if slope <= 0 or len(painted) < 2 or painted[-1] == painted[0]:
        return out
    g = (painted[-1] - painted[0]) / (len(painted) - 1)
    z = np.arange(n)
    past = np.maximum(np.maximum(painted[0] - z, z - painted[-1]), 0)
    ramp = 1 + slope * np.maximum(past - g, 0) / g
    return np.minimum(ramp, max(cap, 1.0)).astype(np.float32)


def prior_weight(scribbles: np.ndarray, num_classes: int, *, axis: int = 0, reach: float = 1.0,
                 step: float = 1.0, beyond: float = 0.0, beyond_cap: float = 4.0) -> np.ndarray:
    """Weight of the background prior on each pixel of an image's scribbles.

    scribbles (H, W) or (Z, Y, X) uint (0 unpainted, 1 background, k >= 2 structure k-1),
    ``axis`` the slice axis of a volume, ``step`` the in-plane pixels one slice counts as
    -> float32 array of the same shape: 0 within ``reach`` x :func:`stroke_radius` of a
    structure class's strokes (each class its own radius), 1 elsewhere, times
    :func:`beyond_factor` (``beyond`` its slope, ``beyond_cap`` its cap) on the slices of a
    volume past those with structure strokes. ``reach`` 0: no zone.
    """
    scr = np.asarray(scribbles)
    if reach < 0 or step <= 0 or beyond < 0:
        raise ValueError(f"reach and beyond must be >= 0 and step > 0, got {reach}, {beyond} "
                         f"and {step}")
    weight = np.ones(scr.shape, np.float32)
    vol = scr[None] if scr.ndim == 2 else np.moveaxis(scr, axis, 0)
    out = weight[None] if scr.ndim == 2 else np.moveaxis(weight, axis, 0)  # a view
    if beyond > 0 and scr.ndim == 3:
        structure = vol >= class_to_scribble(1)
        out *= beyond_factor(_painted(structure), len(vol), beyond, beyond_cap)[:, None, None]
    if reach == 0:
        return weight
    for c in range(1, num_classes):
        strokes = vol == class_to_scribble(c)
        radius = reach * stroke_radius(strokes)
        if radius <= 0:
            continue
        # strokes lie on painted slices: the 3-D distance to them is, for each slice, the
        # nearest of the painted slices' 2-D distances lifted by the slices between
        across = int(np.floor(radius / step))  # slices a zone reaches on either side
        for p in _painted(strokes):
            in_plane = ndi.distance_transform_edt(~strokes[p]) ** 2
            for z in range(max(0, p - across), min(len(vol), p + across + 1)):
                out[z][in_plane + ((z - p) * step) ** 2 <= radius ** 2] = 0.0
    return weight
