"""Keep the islands a person painted: the pieces of a mask that touch a stroke of their class.

A 2-D network trained from strokes on a few slices of a volume also marks look-alike
tissue on slices far from any stroke, often beyond the structure's extent (Colin27 k5:
two thirds of the thalamus's false voxels lay 8 or more slices from a painted slice,
where there is no thalamus). When each structure is one object (or a few) that the
strokes touch — organs, nuclei of the brain, the hippocampus — keeping only the connected
pieces of each class that contain a stroke of that class removes them; 3D Slicer's
"Islands" effect ("keep selected island") does the same by a click. For many separate
objects (cells, membranes cut into pieces) it would remove objects nobody painted, so it
is a choice the person makes, off by default (``training_round(keep_islands=...)``, the
plugin's "Keep only painted pieces").
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from semicl.errors import ShapeMismatchError
from semicl.labels import class_to_scribble

__all__ = ["keep_stroked_islands"]


def keep_stroked_islands(mask: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
    """A copy of ``mask`` where each structure keeps only its connected pieces that hold
    at least one pixel painted with that structure in ``scribbles``; the rest becomes 0.

    mask: (H, W) or (Z, Y, X) integer, 0 = background, c = structure c (a prediction).
    scribbles: same shape, 0 unpainted, 1 background, c + 1 structure c.
    Pieces are connected through faces, edges and corners (8-connectivity in 2-D, 26 in
    3-D). A structure without any stroke keeps nothing.
    """
    m, s = np.asarray(mask), np.asarray(scribbles)
    if m.shape != s.shape:
        raise ShapeMismatchError(f"mask {m.shape} and scribbles {s.shape} must have one shape "
                                 "to keep the painted pieces.")
    out = np.zeros_like(m)
    if m.size == 0:
        return out
    structure = ndi.generate_binary_structure(m.ndim, m.ndim)
    for c in (int(v) for v in np.unique(m) if v > 0):
        pieces, n = ndi.label(m == c, structure)
        painted = np.unique(pieces[s == class_to_scribble(c)])
        painted = painted[painted > 0]
        if len(painted):
            keep = np.zeros(n + 1, dtype=bool)
            keep[painted] = True
            out[keep[pieces]] = c
    return out
