"""The label convention, in one place.

Three integer encodings meet in this project:

* **scribbles** (napari Labels layer the user paints): ``0`` = unpainted (ignored by
  every loss), ``1`` = background, ``k >= 2`` = structure ``k - 1``.
* **targets** (what losses see, int64): ``-1`` = ignored (:data:`IGNORE_INDEX`),
  ``0`` = background, ``k >= 1`` = structure ``k``.
* **masks** (MSD/nnU-Net ground truth, predictions, exports): ``0`` = background,
  ``k >= 1`` = structure ``k``; every pixel is labelled.

So targets and masks share class indices (``class c``), and scribble value = ``c + 1``.
A prediction mask is displayed with the colour of scribble ``c + 1`` for class ``c``
(background, ``c = 0``, is shown transparent).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from semicl.errors import LabelError

UNPAINTED = 0
SCRIBBLE_BACKGROUND = 1
IGNORE_INDEX = -1
BACKGROUND_CLASS = 0


def _check_integer(arr: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise LabelError(
                f"{what} must hold whole numbers; found fractional or NaN values. "
                "Save labels as an integer image (e.g. uint8)."
            )
    elif arr.dtype.kind not in "iub":
        raise LabelError(f"{what} must be an integer array, got dtype {arr.dtype}.")
    return arr


def scribbles_to_targets(scribbles: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Scribbles (0 unpainted, 1 background, k structure k-1) to int64 targets (-1 ignored).

    Raises :class:`LabelError` for negative values or values beyond ``num_classes``.
    """
    s = _check_integer(scribbles, "Scribbles")
    if s.size and s.min() < 0:
        raise LabelError(
            f"Scribbles contain negative value {int(s.min())}; use 0 for unpainted, "
            "1 for background and 2, 3, ... for structures."
        )
    if num_classes is not None and s.size and s.max() > num_classes:
        raise LabelError(
            f"Scribbles contain label {int(s.max())} but only {num_classes} classes "
            f"(scribble values 1..{num_classes}) are defined; add a class or erase those strokes."
        )
    if s.dtype.kind in "iu":
        return np.subtract(s, 1, dtype=np.int64)  # one pass (astype, then - 1: two)
    return s.astype(np.int64) - 1


def mask_dtype(max_value: int) -> type[np.unsignedinteger]:
    """The integer type label images are stored in: uint8 when ``max_value < 256``, else
    uint16 (masks written by :func:`semicl.io.writers.write_mask`, predictions, scribbles).

    Raises :class:`LabelError` when ``max_value`` does not fit in uint16.
    """
    if max_value >= 65536:
        raise LabelError(
            f"Mask value {max_value} does not fit in uint16; at most 65535 classes can be saved."
        )
    return np.uint8 if max_value < 256 else np.uint16


def class_to_scribble(c: int) -> int:
    """The scribble value that paints class ``c`` (``c + 1``; background, class 0, is 1)."""
    return int(c) + 1


def scribble_to_class(value: int) -> int:
    """The class a scribble value paints (``value - 1``): inverse of :func:`class_to_scribble`.

    Raises :class:`LabelError` for ``0`` (unpainted: no class) and negative values.
    """
    value = int(value)
    if value == UNPAINTED:
        raise LabelError(
            "Scribble value 0 means 'unpainted' and stands for no class; pick label 1 for "
            "background or 2, 3, ... for the structures."
        )
    if value < 0:
        raise LabelError(f"Scribble value {value} is negative; scribble values start at 1.")
    return value - 1


def targets_to_scribbles(targets: np.ndarray) -> np.ndarray:
    """Inverse of :func:`scribbles_to_targets` (-1 -> 0, class c -> c + 1), as uint8/uint16."""
    t = np.asarray(targets)
    out = t.astype(np.int64) + 1
    return out.astype(mask_dtype(int(out.max(initial=0))))


def mask_to_targets(mask: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Dense mask (0 background, k structure) to int64 targets; every pixel labelled.

    Raises :class:`LabelError` for negative values or values ``>= num_classes``.
    """
    m = _check_integer(mask, "Mask")
    if m.size and m.min() < 0:
        raise LabelError(f"Mask contains negative value {int(m.min())}; masks use 0 = background.")
    if num_classes is not None and m.size and m.max() >= num_classes:
        raise LabelError(
            f"Mask contains label {int(m.max())} but the task has {num_classes} classes "
            f"(0..{num_classes - 1}); check the dataset's label map."
        )
    return m.astype(np.int64)


def mask_to_scribbles(mask: np.ndarray) -> np.ndarray:
    """Dense mask to scribble values (class c -> c + 1): used when prediction edits become scribbles."""
    m = _check_integer(mask, "Mask")
    return targets_to_scribbles(m.astype(np.int64))


def painted_slices(scribbles: np.ndarray, axis: int = 0) -> np.ndarray:
    """(N,) bool: which of the N slices along ``axis`` hold a painted pixel (any value but
    :data:`UNPAINTED`; a bool array: any True). A 2-D image is one slice.

    >>> painted_slices(np.array([[[0, 0]], [[0, 2]]])).tolist()
    [False, True]
    """
    marks = np.asarray(scribbles) != UNPAINTED
    marks = marks[None] if marks.ndim == 2 else np.moveaxis(marks, axis, 0)
    return marks.reshape(len(marks), -1).any(1)


def default_class_names(num_classes: int) -> list[str]:
    """``['background', 'structure 1', ...]`` for ``num_classes`` classes including background."""
    if num_classes < 2:
        raise LabelError("A segmentation task needs at least 2 classes (background and one structure).")
    return ["background"] + [f"structure {k}" for k in range(1, num_classes)]


def _class_name(c: int, class_names: Sequence[str] | None) -> str:
    return class_names[c] if class_names is not None and c < len(class_names) else f"class {c}"


def check_trainable(targets: np.ndarray, class_names: Sequence[str] | None = None) -> list[int]:
    """Check that targets can train a model; return the sorted classes present.

    Raises :class:`LabelError` when no pixel is labelled, only one class is present, or
    structures are labelled without any background.
    """
    t = np.asarray(targets).ravel()
    if t.dtype.kind in "iub" and t.size and int(t.min()) >= IGNORE_INDEX \
            and int(t.max()) < 65536:
        # a count per value: one pass (np.unique sorts; 0.1 s on a 181 x 217 x 181
        # volume, on the GUI thread when Train is pressed)
        counts = np.bincount(t.astype(np.intp, copy=False) - IGNORE_INDEX)
        present = [int(c) + IGNORE_INDEX for c in np.flatnonzero(counts)
                   if c + IGNORE_INDEX != IGNORE_INDEX]
    else:
        present = sorted(int(c) for c in np.unique(t) if c != IGNORE_INDEX)
    if not present:
        raise LabelError(
            "No labelled pixels: paint a few strokes of background (label 1) and of each "
            "structure (labels 2, 3, ...) before training."
        )
    if len(present) < 2:
        raise LabelError(
            f"Only one class is labelled ({_class_name(present[0], class_names)}); paint at "
            "least background and one structure so the network has something to tell apart."
        )
    if BACKGROUND_CLASS not in present:
        names = ", ".join(_class_name(c, class_names) for c in present)
        raise LabelError(
            f"No background is labelled, only structures ({names}). Paint a few strokes of "
            "background (label 1) around the structures and away from them: without them "
            "the network has no example of 'not structure' and would mark every pixel as a "
            "structure."
        )
    return present
