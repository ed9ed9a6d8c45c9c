"""Scribbles simulated from a dense mask, as a person paints them (tests and benchmarks).

The project's one stroke simulator. A person painting in napari draws *lines*, not
regions: one brush line through the middle of each structure, a line along part of a
structure's outline just outside it (the boundary the network must learn), and a line
through the far background. :func:`user_strokes` imitates that from ground truth for one
2-D slice; :func:`scribble_volume` paints chosen slices of a volume; :func:`correction_strokes`
is the simulated user of a correction round (strokes on the largest wrong regions).
:func:`budget_strokes` is the benchmark's "sparse protocol": the same kinds of line with a
pixel budget. :func:`strokes_from_mask` (whole eroded structures + background rings) is the
older, much denser simulation kept for the plugin's GUI tests.

Scribble values follow :mod:`semicl.labels`: 0 unpainted, 1 background, c + 1 structure c.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy import ndimage as ndi

from semicl.labels import (
    IGNORE_INDEX,
    SCRIBBLE_BACKGROUND,
    class_to_scribble,
    targets_to_scribbles,
)

__all__ = ["bfs_stroke", "budget_strokes", "choose_slices", "correction_strokes",
           "painted_share", "scribble_volume", "strokes_from_mask", "user_strokes"]


def strokes_from_mask(mask2d: np.ndarray, *, ring: int = 3, line_every: int = 6,
                      line_offset: int = 2, far: int = 6) -> np.ndarray:
    """Dense scribbles for one (H, W) slice: eroded structures, a background ring just
    outside them and background rows far away (deterministic; GUI tests)."""
    m = _slice2d(mask2d)
    out = np.full(m.shape, IGNORE_INDEX, np.int64)  # targets convention while building
    for c in range(1, int(m.max(initial=0)) + 1):
        region = m == c
        if not region.any():
            continue
        core = ndi.binary_erosion(region)
        out[core if core.sum() > 5 else region] = c
    fg = m > 0
    out[ndi.binary_dilation(fg, iterations=ring) & ~ndi.binary_dilation(fg, iterations=ring - 1)] = 0
    rows = np.zeros_like(fg)
    rows[line_offset::line_every] = True
    out[rows & ~ndi.binary_dilation(fg, iterations=far)] = 0
    return targets_to_scribbles(out).astype(np.uint8)


def _slice2d(mask2d: np.ndarray) -> np.ndarray:
    m = np.asarray(mask2d)
    if m.ndim != 2:
        raise ValueError(f"expected one 2-D mask slice, got shape {m.shape}")
    return m


# ----------------------------------------------------------------------------- lines
def _skeleton(region: np.ndarray) -> np.ndarray:
    """Skeleton of ``region`` (the region itself when it is too thin to have one)."""
    from skimage.morphology import skeletonize

    sk = skeletonize(region)
    return sk if sk.any() else region


def _bfs(candidates: np.ndarray, start: tuple[int, int], limit: int | None = None
         ) -> tuple[list[tuple[int, int]], dict]:
    """Breadth-first order (8-neighbours) over ``candidates`` from ``start``; parents."""
    h, w = candidates.shape
    parent = {start: None}
    queue, order = deque([start]), []
    while queue and (limit is None or len(order) < limit):
        y, x = queue.popleft()
        order.append((y, x))
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                p = (y + dy, x + dx)
                if 0 <= p[0] < h and 0 <= p[1] < w and candidates[p] and p not in parent:
                    parent[p] = (y, x)
                    queue.append(p)
    return order, parent


def bfs_stroke(candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A connected piece of at most ``n`` pixels of ``candidates`` (2-D bool), grown
    breadth-first from a random pixel: a short stroke along a skeleton."""
    out = np.zeros(candidates.shape, bool)
    pts = np.argwhere(candidates)
    if n <= 0 or len(pts) == 0:
        return out
    start = tuple(int(v) for v in pts[rng.integers(len(pts))])
    order, _ = _bfs(candidates, start, n)  # a BFS prefix is connected
    ys, xs = zip(*order)
    out[list(ys), list(xs)] = True
    return out


def _long_path(line: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    """The longest geodesic path (two BFS passes) of one connected piece of ``line``."""
    pts = np.argwhere(line)
    start = tuple(int(v) for v in pts[rng.integers(len(pts))])
    order, _ = _bfs(line, start)
    order, parent = _bfs(line, order[-1])
    path, p = [], order[-1]
    while p is not None:
        path.append(p)
        p = parent[p]
    return path


def _brush(path: list[tuple[int, int]], shape: tuple[int, int], radius: int) -> np.ndarray:
    out = np.zeros(shape, bool)
    if path:
        ys, xs = zip(*path)
        out[list(ys), list(xs)] = True
    return ndi.binary_dilation(out, iterations=radius) if radius > 0 else out


def _middle(path: list, share: float) -> list:
    """The middle ``share`` of a path (at least one pixel)."""
    n = len(path)
    keep = max(1, int(round(share * n)))
    lo = (n - keep) // 2
    return path[lo:lo + keep]


def _line_through(region: np.ndarray, rng: np.random.Generator, share: float,
                  radius: int) -> np.ndarray:
    """A brush line along the middle ``share`` of the longest path through ``region``
    (its geodesic diameter, kept ``radius + 1`` px off the edge where it is thick enough),
    inside ``region``."""
    if not region.any():
        return np.zeros(region.shape, bool)
    core = region
    for it in range(radius + 1, 0, -1):
        eroded = ndi.binary_erosion(region, iterations=it)
        if eroded.sum() >= 3:
            core = eroded
            break
    labels, n = ndi.label(core, structure=np.ones((3, 3)))
    sizes = ndi.sum(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    piece = labels == (1 + int(np.argmax(sizes)))
    path = _middle(_long_path(piece, rng), share)
    return _brush(path, region.shape, radius) & region


def _components(region: np.ndarray, min_pixels: int, most: int) -> list[np.ndarray]:
    """The ``most`` largest connected components of ``region`` with >= ``min_pixels``."""
    labels, n = ndi.label(region)
    if n == 0:
        return []
    sizes = ndi.sum(region, labels, index=np.arange(1, n + 1))
    order = np.argsort(sizes)[::-1][:most]
    return [labels == (i + 1) for i in order if sizes[i] >= min_pixels]


def user_strokes(mask2d: np.ndarray, rng: np.random.Generator, *, radius: int = 1,
                 share: float = 0.7, outline_share: float = 0.4, gap: int = 2,
                 far: int = 8, per_class: int = 2) -> np.ndarray:
    """Scribbles a person would paint on one (H, W) mask slice.

    * each structure: a brush line (``radius`` px thick) along the middle ``share`` of the
      longest path through each of its ``per_class`` largest pieces;
    * background: a line along ``outline_share`` of the outline ``gap`` px outside the
      structures, and a line along the skeleton of the background farther than ``far`` px
      from any structure (on a slice without structure, that line alone).

    Returns uint8 scribbles (0 unpainted, 1 background, c + 1 structure c).
    """
    m = _slice2d(mask2d)
    out = np.zeros(m.shape, np.uint8)
    fg = m > 0
    for c in (int(v) for v in np.unique(m) if v > 0):
        for piece in _components(m == c, 1, per_class):
            out[_line_through(piece, rng, share, radius)] = class_to_scribble(c)
    bg = ~fg
    far_bg = bg & ~ndi.binary_dilation(fg, iterations=far) if fg.any() else bg
    if fg.any():
        ring = ndi.binary_dilation(fg, iterations=gap + 1) & ~ndi.binary_dilation(fg, iterations=gap)
        ring &= bg
        if ring.any():
            n_ring = max(3, int(outline_share * ring.sum()))
            arc = bfs_stroke(_skeleton(ring), n_ring, rng)
            out[ndi.binary_dilation(arc, iterations=radius) & bg & (out == 0)] = SCRIBBLE_BACKGROUND
    region = far_bg if far_bg.any() else bg
    if region.any():
        out[_line_through(region, rng, share, radius) & (out == 0)] = SCRIBBLE_BACKGROUND
    return out


def budget_strokes(mask2d: np.ndarray, fraction: float, rng: np.random.Generator, *,
                   min_len: int = 3, ring: int = 2) -> np.ndarray:
    """Lines with a pixel budget (the benchmark's sparse protocol): ``max(fraction *
    pixels, min_len per stroke)`` shared by one stroke along the skeleton of each structure
    present, one along a ring ``ring`` px outside the structures and one along the
    skeleton of the far background (only the last on a slice without structure)."""
    from skimage.morphology import disk

    sl = _slice2d(mask2d)
    out = np.zeros(sl.shape, np.uint8)
    classes = [int(c) for c in np.unique(sl) if c > 0]
    fg = sl > 0
    n_strokes = len(classes) + (2 if classes else 1)
    per = max(min_len, int(round(fraction * sl.size / n_strokes)))
    for k in classes:
        out[bfs_stroke(_skeleton(sl == k), per, rng)] = class_to_scribble(k)
    far = ~ndi.binary_dilation(fg, disk(ring + 2)) if classes else np.ones(sl.shape, bool)
    bg_parts = [_skeleton(far) if far.any() else ~fg]
    if classes:
        band = ndi.binary_dilation(fg, disk(ring + 1)) & ~ndi.binary_dilation(fg, disk(ring))
        bg_parts.insert(0, band if band.any() else ~fg)
    for cand in bg_parts:
        cand = cand & ~fg & (out == 0)
        out[bfs_stroke(cand, per, rng)] = SCRIBBLE_BACKGROUND
    return out


# ----------------------------------------------------------------------------- volumes
def choose_slices(mask: np.ndarray, axis: int, k: int, seed: int) -> np.ndarray:
    """``k`` slice indices along ``axis``: one drawn at random in each of ``k`` equal bins
    of the slices that hold a structure (all slices if none does), sorted."""
    m = np.moveaxis(np.asarray(mask), axis, 0)
    cand = np.flatnonzero(m.reshape(len(m), -1).any(1))
    cand = cand if len(cand) else np.arange(len(m))
    k = int(min(max(1, k), len(cand)))
    rng = np.random.default_rng(seed)
    bins = np.array_split(cand, k)
    return np.array(sorted(int(b[rng.integers(len(b))]) for b in bins), dtype=np.int64)


def scribble_volume(mask: np.ndarray, slices, axis: int = 0, *,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """A volume of scribbles painted on ``slices`` (along ``axis``) of a dense 3-D mask.

    With ``rng``: :func:`user_strokes` (lines); without: :func:`strokes_from_mask`.
    """
    m = np.moveaxis(np.asarray(mask), axis, 0)
    out = np.zeros(m.shape, np.uint8)
    for k in slices:
        out[k] = strokes_from_mask(m[k]) if rng is None else user_strokes(m[k], rng)
    return np.moveaxis(out, 0, axis)


def correction_strokes(mask: np.ndarray, pred: np.ndarray, scribbles: np.ndarray, axis: int,
                       rng: np.random.Generator, *, slices: int = 3, per_slice: int = 2,
                       radius: int = 1, min_pixels: int = 4) -> np.ndarray:
    """The simulated user's correction round: new scribbles (a copy) with lines painted
    on the ``per_slice`` largest wrong regions of the ``slices`` worst slices.

    ``mask`` and ``pred`` use 0 = background, c = structure c; a wrong region is a
    connected piece of pixels of one true class that the prediction got wrong; its
    line is painted with the true class (the person knows what it should be).
    """
    gt, pr = np.asarray(mask), np.asarray(pred)
    if gt.shape != pr.shape or gt.shape != np.asarray(scribbles).shape:
        raise ValueError(f"mask {gt.shape}, pred {pr.shape} and scribbles "
                         f"{np.asarray(scribbles).shape} must have one shape")
    out = np.array(scribbles, dtype=np.uint8, copy=True)
    if gt.ndim == 2:
        gt, pr, out_v = gt[None], pr[None], out[None]
    else:
        gt, pr, out_v = (np.moveaxis(a, axis, 0) for a in (gt, pr, out))
    wrong = gt != pr
    worst = np.argsort(wrong.reshape(len(wrong), -1).sum(1))[::-1][:slices]
    for k in worst:
        pieces = []
        for c in np.unique(gt[k][wrong[k]]):
            for piece in _components(wrong[k] & (gt[k] == c), min_pixels, per_slice):
                pieces.append((int(piece.sum()), int(c), piece))
        pieces.sort(key=lambda t: -t[0])
        for _, c, piece in pieces[:per_slice]:
            out_v[k][_line_through(piece, rng, 0.8, radius)] = class_to_scribble(c)
    return out


def painted_share(scribbles: np.ndarray) -> float:
    """Share of pixels painted (non-zero)."""
    s = np.asarray(scribbles)
    return float((s > 0).sum()) / max(1, s.size)
