"""The moving average of a network's weights over a fine-tuning run (``FinetuneConfig.ema_decay``).

From strokes the network kept is not the last step's but the bias-corrected exponential
moving average of the weights (as Adam corrects its moments): after ``t`` weights it is
``sum_i (1 - decay) decay**(t - i) w_i / (1 - decay**t)`` — no extra weight on the first
step's weights, and ``decay`` itself once ``t`` is large (docs/benchmarks.md, "Why (6)").

This is what ``torch.optim.swa_utils.AveragedModel`` with a ``multi_avg_fn`` computes, and
what the engine used until session 26. Its update walks the modules and detaches every
tensor on every call, and keeps its count as a tensor that it copies to the device each
call; the bias correction needs that count on the host, so on a GPU each fine-tuning
step waited for the device (docs/performance.md §4, the profile of session 26). Here the
tensor lists are taken once, the count lives on the host, and a step is one ``foreach``
lerp (on a CPU the same per-tensor ``lerp_`` as before, so the weights are the same to the
bit; ``tests/core/test_weight_average.py`` holds ``AveragedModel`` as the reference).
"""

from __future__ import annotations

import copy
import itertools

import torch

__all__ = ["WeightAverage", "ema_weight", "kept_share"]


def ema_weight(decay: float, t: int) -> float:
    """The share the bias-corrected average keeps when the ``t``-th weights (``t`` >= 2)
    come in."""
    return decay * (1.0 - decay ** (t - 1)) / (1.0 - decay ** t)


def kept_share(decay: float, t: int, recent: float = 0.0) -> float:
    """The share the average keeps when the ``t``-th weights (``t`` >= 2) come in:
    :func:`ema_weight`, and with ``recent`` = eta > 0 at most ``(t - 1) / (t + eta)``.

    That bound alone is polynomial-decay averaging (Shamir & Zhang, ICML 2013): the
    ``i``-th weights count about as ``(i / t) ** eta``, so the average reaches back over
    the last ~``1 / (1 + eta)`` of the steps so far (eta = 1: weights in proportion to
    ``i``). Early in a run, when the network still improves fast, the plain average lags
    behind it with its first steps; with the bound it follows, and once ``decay`` keeps
    less (``t`` past ~``eta / (1 - decay)``) it is the plain average's decay again.
    """
    kept = ema_weight(decay, t)
    return min(kept, (t - 1) / (t + recent)) if recent > 0 else kept


def _tensors(net: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach() for t in itertools.chain(net.parameters(), net.buffers())]


class WeightAverage:
    """``module``: a copy of ``net`` that :meth:`update` keeps at the moving average of
    ``net``'s parameters and buffers (batch-norm statistics included), each update keeping
    :func:`kept_share` of it. The first update copies ``net``'s weights; ``net`` must keep
    its tensors (updated in place, as an optimiser does) between updates."""

    def __init__(self, net: torch.nn.Module, decay: float, recent: float = 0.0):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        if recent < 0:
            raise ValueError(f"recent must be >= 0, got {recent}")
        self.module = copy.deepcopy(net)
        self.decay, self.recent = decay, recent
        self.count = 0  # weights averaged so far
        pairs = list(zip(_tensors(self.module), _tensors(net), strict=True))
        floats = [(a, c) for a, c in pairs if a.is_floating_point()]
        self._avg = [a for a, _ in floats]
        self._cur = [c for _, c in floats]
        # integer buffers (BatchNorm's num_batches_tracked), as AveragedModel treats them
        self._other = [(a, c) for a, c in pairs if not a.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        """Take the network's current weights into the average."""
        self.count += 1
        if self.count == 1:
            for a, c in itertools.chain(zip(self._avg, self._cur, strict=True), self._other):
                a.copy_(c)
            return
        d = kept_share(self.decay, self.count, self.recent)
        if self._avg:
            torch._foreach_lerp_(self._avg, self._cur, 1.0 - d)
        for a, c in self._other:
            a.copy_(a * d + c * (1.0 - d))
