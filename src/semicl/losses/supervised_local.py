"""Supervised local (pixel-level) contrastive loss of Hu et al. (MICCAI 2021).

SupCon ``L_out`` (Khosla et al., 2020) applied to the pixels of a batch of dense
embedding maps, pooled over all anchors of the batch, as in the paper's code.
Three forms: exact (full resolution), stride (fixed sub-grid) and block (tiles).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semicl.errors import LabelError, ShapeMismatchError
from semicl.losses.anchor_logsumexp import weighted_anchor_logsumexp
from semicl.losses.checks import check_targets, check_temperature

__all__ = ["SupervisedLocalContrastiveLoss"]


class SupervisedLocalContrastiveLoss(nn.Module):
    r"""Pixel-level supervised contrastive loss (Hu et al. 2021, SupCon ``L_out``).

    Let ``z_n`` be the L2-normalised embedding of labelled pixel ``n`` (all images and
    both views of the batch together), ``y_n`` its class and ``S_mn = z_m . z_n / tau``.
    For an anchor ``m`` (a *structure* pixel, ``y_m >= 1``)::

        A(m) = {n != m : y_n != -1}              (denominator: every other labelled pixel)
        P(m) = {n != m : y_n == y_m}             (positives: same class, any image/view)
        l_m  = -1/|P(m)| * sum_{p in P(m)} [ S_mp - logsumexp_{k in A(m)} S_mk ]
        loss = mean of l_m over the anchors with |P(m)| >= 1

    Targets ``-1`` (unlabelled) take no part at all: neither anchor, positive nor
    negative, and their embeddings get an exactly zero gradient. Background (``0``)
    pixels are negatives for structures and positives of each other inside
    denominators, but never anchors (as in the paper's code).

    Forms
    -----
    * **exact** (``stride=1``, ``block_size=None``): all labelled pixels at full
      resolution. The ``N x N`` similarity matrix is never materialised; the maths
      allows three shortcuts, which give the same value and gradients as the naive form:

      1. only rows of valid structure anchors are needed (background/unlabelled rows
         are multiplied by zero in the naive form);
      2. the positive term uses per-class sums,
         ``sum_{p in P(m)} S_mp = z_m . (sum_{y_p = y_m} z_p - z_m) / tau``, which
         costs ``O(N D)``;
      3. ``logsumexp_{k in A(m)} S_mk = log(sum_k exp(S_mk) - exp(S_mm))`` is computed
         over tiles of ``chunk_size`` anchor rows x all labelled columns, the self
         term masked with ``-inf``, by the custom autograd function of
         :mod:`semicl.losses.anchor_logsumexp` (gradients formed in the same pass).
         Extra memory: ``O(chunk_size * N)`` forward *and* backward.

    * **stride** ``s > 1``: the fixed grid ``[..., ::s, ::s]`` of embeddings and targets
      (offsets 0, as in the paper's code), then the exact form on those points. The
      points are gathered straight from the full map (no copy of the sub-grid).
    * **block** ``b``: the (sub-sampled) map is tiled into ``b x b`` blocks; the loss is
      computed inside each block over all ``B`` images at that block position and
      averaged *uniformly* over the blocks with at least one valid anchor (as the
      paper's code). Unlike the paper's code, partial blocks at the right/bottom edges
      (``H % b != 0``) are kept, not dropped. Blocks are batched (padded, grouped by
      size) into a few calls of the same chunked function; no per-pixel loop.

    With both ``stride`` and ``block_size`` set, blocks tile the sub-sampled grid.

    ``max_anchors``: when set and a batch has more valid anchors, a uniform random
    subset of that many anchors is used (drawn with ``generator``, or the global RNG
    when ``None``); denominators and positive sets still use every labelled pixel. In
    the block form the subset is drawn over the whole batch before the block mean.

    No valid anchor (no labelled structure pixel with a same-class partner): the loss
    is ``embeddings.sum() * 0``, a zero still connected to the graph so that
    ``backward()`` works and gives zero gradients (NaN if the embeddings hold NaN/inf).

    Precision: half/bfloat16 embeddings, or calls under ``torch.autocast``, are computed
    in float32 (autocast is disabled inside); float64 stays float64. The result follows
    the device of the inputs.

    Parameters
    ----------
    temperature : float
        ``tau > 0`` (0.1 in the paper).
    stride : int
        Sub-sampling step ``>= 1`` (paper: 4). ``1`` = full resolution.
    block_size : int or None
        Block side ``>= 1`` (paper: 16) or ``None`` for no blocks.
    chunk_size : int
        Anchor rows per tile of the similarity matrix (memory ``~ 4 * chunk_size * N``
        bytes in float32 for ``N`` labelled pixels).
    max_anchors : int or None
        Cap on the number of anchors per call (random subset), ``None`` = all (exact).
    """

    def __init__(
        self,
        temperature: float = 0.1,
        stride: int = 1,
        block_size: int | None = None,
        chunk_size: int = 1024,
        max_anchors: int | None = None,
    ) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)
        for name, value, allow_none in (
            ("stride", stride, False),
            ("block_size", block_size, True),
            ("chunk_size", chunk_size, False),
            ("max_anchors", max_anchors, True),
        ):
            if value is None and allow_none:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
        self.stride = stride
        self.block_size = block_size
        self.chunk_size = chunk_size
        self.max_anchors = max_anchors

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, stride={self.stride}, "
            f"block_size={self.block_size}, chunk_size={self.chunk_size}, "
            f"max_anchors={self.max_anchors}"
        )

    def forward(
        self,
        embeddings: torch.Tensor,
        targets: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Compute the loss.

        Parameters
        ----------
        embeddings : (B, D, H, W) float tensor
            Dense embeddings of both views stacked along ``B`` (not normalised; the
            loss L2-normalises over ``D``).
        targets : (B, H, W) integer tensor, same device
            ``-1`` unlabelled, ``0`` background, ``k >= 1`` structure ``k``.
        generator : torch.Generator, optional
            Random source for the ``max_anchors`` subset.

        Returns
        -------
        torch.Tensor
            Scalar loss (float32, or float64 for float64 embeddings).

        Raises
        ------
        ShapeMismatchError (a ValueError)
            Wrong ranks, or ``targets`` not ``(B, H, W)`` of ``embeddings``.
        LabelError (a ValueError)
            Non-integer targets or values below ``-1``.
        """
        _check_inputs(embeddings, targets)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            emb = embeddings
            if emb.dtype not in (torch.float32, torch.float64):
                emb = emb.float()
            z, y, block, n_blocks = self._labelled_points(emb, targets)
            loss = _pooled_loss(
                z, y, block, n_blocks, 1.0 / self.temperature, self.chunk_size,
                self.max_anchors, generator,
            )
            return loss if loss is not None else emb.sum() * 0

    def _labelled_points(self, emb: torch.Tensor, targets: torch.Tensor):
        """Labelled points of the (strided) grid, gathered without copying the map.

        ``emb`` (B, D, H, W) float, ``targets`` (B, H, W) int. Returns ``z`` (L, D)
        L2-normalised, ``y`` (L,) int64, block ids (L,) int64 or ``None``, #blocks.
        """
        b_sz, d, h, w = emb.shape
        s = self.stride
        sub = targets[:, ::s, ::s]
        b_idx, i, j = torch.nonzero(sub >= 0, as_tuple=True)
        y = sub[b_idx, i, j].long()
        flat = emb.reshape(b_sz, d, h * w)
        z = F.normalize(flat[b_idx, :, (i * s) * w + j * s], dim=1)
        if self.block_size is None:
            return z, y, None, 1
        bs = self.block_size
        nbh, nbw = -(-sub.shape[1] // bs), -(-sub.shape[2] // bs)
        return z, y, (i // bs) * nbw + (j // bs), nbh * nbw


def _check_inputs(embeddings: torch.Tensor, targets: torch.Tensor) -> None:
    if not isinstance(embeddings, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise ShapeMismatchError("embeddings and targets must be torch tensors.")
    if embeddings.dim() != 4:
        raise ShapeMismatchError(
            f"embeddings must be (B, D, H, W), got shape {tuple(embeddings.shape)}."
        )
    if not embeddings.is_floating_point():
        raise ShapeMismatchError(f"embeddings must be a float tensor, got {embeddings.dtype}.")
    check_targets(targets, embeddings, "embeddings")
    if targets.numel() and int(targets.min()) < -1:
        raise LabelError(
            f"targets hold {int(targets.min())}; use -1 for unlabelled, 0 for background "
            "and k >= 1 for structures."
        )


def _pooled_loss(z, y, block, n_blocks, scale, chunk_size, max_anchors, generator):
    """Pooled SupCon loss of labelled points, or ``None`` when there is no valid anchor.

    Shapes: ``z`` (L, D) L2-normalised embeddings of the labelled points, ``y`` (L,)
    int64 classes (``>= 0``), ``block`` (L,) int64 block ids in ``[0, n_blocks)`` or
    ``None`` for one block (the exact form).
    """
    if y.numel() == 0:
        return None
    if block is not None:
        order = torch.argsort(block, stable=True)
        z, y, block = z[order], y[order], block[order]
        key = block * (int(y.max()) + 1) + y
    else:
        key = y
    _, key_inv, key_cnt = torch.unique(key, return_inverse=True, return_counts=True)
    class_sum = z.new_zeros(key_cnt.shape[0], z.shape[1]).index_add_(0, key_inv, z)
    n_same = key_cnt[key_inv]  # |class of n inside its block|
    a_idx = torch.nonzero((y >= 1) & (n_same >= 2)).squeeze(1)
    if max_anchors is not None and a_idx.numel() > max_anchors:
        dev = generator.device if generator is not None else a_idx.device
        pick = torch.randperm(a_idx.numel(), generator=generator, device=dev)[:max_anchors]
        a_idx = a_idx[torch.sort(pick.to(a_idx.device)).values]
    if a_idx.numel() == 0:
        return None
    za = z[a_idx]
    # shortcut 2: sum_{p in P(m)} z_m . z_p = z_m . (class sum - z_m)
    pos = (za * (class_sum[key_inv[a_idx]] - za)).sum(1) * scale / (n_same[a_idx] - 1)
    if block is None:
        weights = torch.full_like(pos, 1.0 / a_idx.numel())
        lse = weighted_anchor_logsumexp(
            za[None], z[None], a_idx[None], weights[None], scale, chunk_size=chunk_size
        )
        return lse - (weights * pos).sum()
    return _block_loss(z, block, n_blocks, za, a_idx, pos, scale, chunk_size)


def _block_loss(z, block, n_blocks, za, a_idx, pos, scale, chunk_size):
    """Uniform mean over blocks of the per-block anchor mean.

    Shapes: ``z`` (L, D) labelled points sorted by block, ``block`` (L,) their block
    ids (non-decreasing), ``za`` (M, D) the anchors ``z[a_idx]``, ``a_idx`` (M,)
    increasing indices into ``z``, ``pos`` (M,) each anchor's mean positive logit.
    Blocks are grouped by (log2 #columns, log2 #anchors) and padded within a group.
    """
    a_block = block[a_idx]
    kept, a_inv, a_cnt = torch.unique_consecutive(a_block, return_inverse=True, return_counts=True)
    n_kept = kept.numel()
    weights = 1.0 / (a_cnt[a_inv].to(z.dtype) * n_kept)
    loss = -(weights * pos).sum()
    col_cnt = torch.bincount(block, minlength=n_blocks)
    col_start = torch.cumsum(col_cnt, 0) - col_cnt
    self_pos = a_idx - col_start[a_block]  # column of each anchor inside its block
    a_start = torch.cumsum(a_cnt, 0) - a_cnt
    p_k, r_k = col_cnt[kept], a_cnt
    # group blocks of similar size (powers of two of columns and anchors) to limit padding
    # (float32: exact for counts < 2**24, and available on every backend incl. MPS)
    bucket = torch.ceil(torch.log2(p_k.float())).long() * 64 + torch.ceil(
        torch.log2(r_k.float())
    ).long()
    for bval in torch.unique(bucket).tolist():
        sel = torch.nonzero(bucket == bval).squeeze(1)
        pb, rb = int(p_k[sel].max()), int(r_k[sel].max())
        ar_p = torch.arange(pb, device=z.device)
        col_ok = ar_p[None, :] < p_k[sel, None]
        col_idx = torch.where(col_ok, col_start[kept[sel], None] + ar_p[None, :], 0)
        ar_r = torch.arange(rb, device=z.device)
        a_ok = ar_r[None, :] < r_k[sel, None]
        a_rows = torch.where(a_ok, a_start[sel, None] + ar_r[None, :], 0)
        loss = loss + weighted_anchor_logsumexp(
            za[a_rows],
            z[col_idx],
            torch.where(a_ok, self_pos[a_rows], 0),
            torch.where(a_ok, weights[a_rows], 0),
            scale,
            col_valid=None if bool(col_ok.all()) else col_ok,
            chunk_size=chunk_size,
        )
    return loss
