"""Memory-safe weighted log-sum-exp over anchor rows of a similarity matrix.

This is the expensive half of the pixel-level supervised contrastive loss
(:mod:`semicl.losses.supervised_local`): for every anchor ``m`` of group ``g``

    lse[g, m] = log sum_{k valid, k != self(m)} exp(scale * a[g, m] . c[g, k])

and the result is the weighted sum ``sum_{g, m} w[g, m] * lse[g, m]``. A group is the
whole labelled batch in the exact form, or one block in the block form.

The similarity matrix (anchors x columns) is never held whole: it is built in tiles
of ``chunk_size`` anchor rows against *all* columns of the group, so the extra memory
is ``O(chunk_size * P)`` for ``P`` columns, in the forward and in the backward pass.

Gradient computed in the forward pass
-------------------------------------
Each row of a tile is normalised by a sum over the *complete* row, which the tile
holds, so the softmax ``p_mk = exp(S_mk - lse_m)`` and hence the gradient of the
weighted sum are available in the same pass:

    d/da_m = scale * w_m * sum_k p_mk c_k          (tile @ columns)
    d/dc_k = scale * sum_m w_m p_mk a_m            (tile^T @ weighted anchors)

The forward pass therefore does 3 matrix products per tile (one for the logits, two
for the gradients) and keeps only the two gradient tensors, of the inputs' sizes, for
``backward``, which just scales them by the incoming gradient. Re-computing the tile
in ``backward`` instead (the flash-attention trick) would cost a 4th product. When no
input needs a gradient (e.g. under ``torch.no_grad``) only the logits are computed.
Double backward is not supported.

Numerics: the largest logit of a row is bounded by ``scale * |a_m| * max_k |c_k|``
(Cauchy-Schwarz). That bound is used as the log-sum-exp shift, which saves a max
pass over the tile; it is exact unless the spread of a row could exceed the float
range of ``exp``, in which case the true row maximum is used instead.
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

__all__ = ["weighted_anchor_logsumexp"]

# Largest row spread (2 * bound) for which exp(S - bound) cannot underflow to zero
# for every entry of a row: exp(-60) ~ 1e-26 is a normal float32.
_FAST_SPREAD = {torch.float32: 60.0, torch.float64: 600.0}


def _tiles(groups: int, rows: int, chunk_size: int):
    """Yield ``(g0, g1, r0, r1)`` tiles holding at most ``max(chunk_size, rows)`` rows."""
    if rows >= chunk_size:
        for g in range(groups):
            for r0 in range(0, rows, chunk_size):
                yield g, g + 1, r0, min(rows, r0 + chunk_size)
    else:
        step = max(1, chunk_size // max(rows, 1))
        for g0 in range(0, groups, step):
            yield g0, min(groups, g0 + step), 0, rows


class _WeightedAnchorLogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, anchors, columns, self_index, col_valid, weights, scale, chunk_size):
        need_a, need_c = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        groups, rows, _ = anchors.shape
        grad_a = torch.zeros_like(anchors) if need_a else None
        grad_c = torch.zeros_like(columns) if need_c else None
        total = anchors.new_zeros(())
        if anchors.numel() == 0 or columns.shape[1] == 0:
            ctx.save_for_backward(grad_a, grad_c)
            return total
        c_t = columns.transpose(1, 2)
        a_norm = anchors.norm(dim=-1)
        c_max = columns.norm(dim=-1).amax()
        spread = 2.0 * scale * float(a_norm.amax()) * float(c_max)
        fast = spread < _FAST_SPREAD.get(anchors.dtype, 60.0)
        neg_inf = float("-inf")
        for g0, g1, r0, r1 in _tiles(groups, rows, chunk_size):
            a = anchors[g0:g1, r0:r1]
            w = weights[g0:g1, r0:r1]
            a_s = a * scale
            if fast:
                shift = (a_norm[g0:g1, r0:r1] * (scale * c_max)).unsqueeze(-1)
                tile = torch.baddbmm(-shift, a_s, c_t[g0:g1])  # S - shift
            else:
                tile = torch.bmm(a_s, c_t[g0:g1])
            tile.scatter_(2, self_index[g0:g1, r0:r1].unsqueeze(-1), neg_inf)
            if col_valid is not None:
                tile.masked_fill_(~col_valid[g0:g1].unsqueeze(1), neg_inf)
            if not fast:
                shift = tile.amax(dim=-1, keepdim=True)
                shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
                tile.sub_(shift)
            tile.exp_()
            sumexp = tile.sum(dim=-1)
            used = (w != 0) & (sumexp > 0)
            lse = torch.log(torch.where(used, sumexp, torch.ones_like(sumexp))) + shift[..., 0]
            total = total + torch.where(used, lse * w, torch.zeros_like(lse)).sum()
            if need_a or need_c:
                coef = torch.where(used, w * scale / sumexp.clamp_min(1e-300), torch.zeros_like(w))
                coef = coef.unsqueeze(-1)
                if need_a:
                    grad_a[g0:g1, r0:r1] = torch.bmm(tile, columns[g0:g1]).mul_(coef)
                if need_c:
                    grad_c[g0:g1].baddbmm_(tile.transpose(1, 2), a * coef)
            del tile
        ctx.save_for_backward(grad_a, grad_c)
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        grad_a, grad_c = ctx.saved_tensors
        ga = grad_a * grad_out if grad_a is not None else None
        gc = grad_c * grad_out if grad_c is not None else None
        return ga, gc, None, None, None, None, None


def weighted_anchor_logsumexp(
    anchors: torch.Tensor,
    columns: torch.Tensor,
    self_index: torch.Tensor,
    weights: torch.Tensor,
    scale: float,
    *,
    col_valid: torch.Tensor | None = None,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Weighted sum of per-anchor log-sum-exps of scaled dot products, chunked.

    Parameters
    ----------
    anchors : (G, R, D) float tensor
        Anchor vectors, ``R`` per group (rows with ``weights == 0`` are padding).
    columns : (G, P, D) float tensor, same dtype and device as ``anchors``
        Candidate vectors of each group (the denominator set).
    self_index : (G, R) int64 tensor
        Column of each anchor that is left out of its own sum (the anchor itself),
        in ``[0, P)``; any value for padding rows.
    weights : (G, R) float tensor
        Weight of each anchor's log-sum-exp; ``0`` marks padding rows.
    scale : float
        Multiplier of the dot products (``1 / temperature``), ``> 0``.
    col_valid : (G, P) bool tensor, optional
        ``False`` marks padding columns, left out of every sum. ``None``: all valid.
    chunk_size : int
        Anchor rows per tile; the working memory is about ``chunk_size * P`` values.

    Returns
    -------
    torch.Tensor
        Scalar ``sum_{g, r} weights[g, r] * lse[g, r]``; differentiable w.r.t.
        ``anchors`` and ``columns`` (first order only).

    Raises
    ------
    ValueError
        On inconsistent shapes, a non-positive ``scale`` or ``chunk_size``.
    """
    if anchors.dim() != 3 or columns.dim() != 3:
        raise ValueError(
            f"anchors must be (G, R, D) and columns (G, P, D); got {tuple(anchors.shape)} "
            f"and {tuple(columns.shape)}."
        )
    g, r, d = anchors.shape
    if columns.shape[0] != g or columns.shape[2] != d:
        raise ValueError(
            f"columns {tuple(columns.shape)} do not match anchors {tuple(anchors.shape)}: "
            "expected the same G and D."
        )
    if tuple(self_index.shape) != (g, r) or tuple(weights.shape) != (g, r):
        raise ValueError(
            f"self_index {tuple(self_index.shape)} and weights {tuple(weights.shape)} must be "
            f"(G, R) = {(g, r)}."
        )
    if col_valid is not None and tuple(col_valid.shape) != (g, columns.shape[1]):
        raise ValueError(
            f"col_valid {tuple(col_valid.shape)} must be (G, P) = {(g, columns.shape[1])}."
        )
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale}.")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    weights = weights.to(anchors.dtype)
    return _WeightedAnchorLogSumExp.apply(
        anchors, columns, self_index, col_valid, weights, float(scale), int(chunk_size)
    )
