"""SelfSupervisedLocalLoss (Chaitanya et al. L^R) against a loop reference."""

from __future__ import annotations

import math

import pytest
import torch

from semicl.losses import SelfSupervisedLocalLoss

torch.set_num_threads(1)


def reference_local(e1, e2, tau, r, tops, lefts):
    """Explicit loops over images, views and regions; regions mean-pooled."""
    total, count = e1.new_zeros(()), 0
    for b in range(e1.shape[0]):
        views = []
        for e in (e1, e2):
            vecs = []
            for t in tops:
                for left in lefts:
                    v = e[b, :, t:t + r, left:left + r].mean(dim=(1, 2))
                    vecs.append(v / v.norm())
            views.append(vecs)
        n_reg = len(views[0])
        for va in range(2):
            own, other = views[va], views[1 - va]
            for i in range(n_reg):
                pos = torch.exp(own[i] @ other[i] / tau)
                neg = e1.new_zeros(())
                for j in range(n_reg):
                    if j != i:
                        neg = neg + torch.exp(own[i] @ own[j] / tau)
                        neg = neg + torch.exp(own[i] @ other[j] / tau)
                total = total - torch.log(pos / (pos + neg))
                count += 1
    return total / count


@pytest.mark.parametrize(
    "shape,r,grid,tau",
    [((2, 4, 8, 8), 3, 2, 0.1), ((3, 5, 9, 7), 3, (3, 2), 0.5), ((1, 6, 12, 12), 2, 4, 0.2),
     ((2, 3, 5, 5), 5, (1, 1 + 1), 0.3)],
)
def test_matches_loop_reference(shape, r, grid, tau):
    g = torch.Generator().manual_seed(sum(shape))
    e1 = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    e2 = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    loss = SelfSupervisedLocalLoss(tau, region_size=r, grid=grid)
    tops, lefts = loss.region_origins(shape[2], shape[3])
    ref = reference_local(e1, e2, tau, r, tops, lefts)
    val = loss(e1, e2)
    torch.testing.assert_close(val, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(val, (e1, e2)), torch.autograd.grad(ref, (e1, e2))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_region_layout_covers_edges():
    loss = SelfSupervisedLocalLoss(region_size=3, grid=(3, 2))
    assert loss.region_origins(10, 7) == ([0, 4, 7], [0, 4])
    assert SelfSupervisedLocalLoss(region_size=3, grid=(1, 2)).region_origins(9, 9) == ([3], [0, 6])


def test_analytic_cases():
    tau = 0.1
    # constant maps: every similarity is 1/tau, so l = log(2R - 1)
    e = torch.ones(2, 3, 8, 8, dtype=torch.float64)
    assert SelfSupervisedLocalLoss(tau, 3, 2)(e, 2 * e).item() == pytest.approx(math.log(7))
    # four non-overlapping regions holding orthogonal vectors, identical views:
    # s+ = 1/tau, every negative s = 0 -> l = log(1 + 2 (R - 1) e^{-1/tau})
    e = torch.zeros(1, 4, 6, 6, dtype=torch.float64)
    loss = SelfSupervisedLocalLoss(tau, region_size=3, grid=2)
    tops, lefts = loss.region_origins(6, 6)
    k = 0
    for t in tops:
        for left in lefts:
            e[0, k, t:t + 3, left:left + 3] = 1.0
            k += 1
    expected = math.log(1 + 2 * 3 * math.exp(-1 / tau))
    assert loss(e, e).item() == pytest.approx(expected, rel=1e-12)


def test_symmetric_in_views_and_autocast():
    g = torch.Generator().manual_seed(1)
    e1, e2 = torch.randn(2, 4, 9, 9, generator=g), torch.randn(2, 4, 9, 9, generator=g)
    loss = SelfSupervisedLocalLoss()
    torch.testing.assert_close(loss(e1, e2), loss(e2, e1), rtol=1e-6, atol=1e-7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v = loss(e1, e2)
    assert v.dtype == torch.float32
    torch.testing.assert_close(v, loss(e1, e2), rtol=1e-6, atol=1e-6)


def test_invalid_arguments_and_shapes_raise():
    for kwargs in ({"temperature": 0}, {"region_size": 0}, {"grid": 1}, {"grid": (0, 3)}):
        with pytest.raises(ValueError):
            SelfSupervisedLocalLoss(**kwargs)
    loss = SelfSupervisedLocalLoss(region_size=3)
    with pytest.raises(ValueError, match=r"\(B, D, h, w\)"):
        loss(torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 7))
    with pytest.raises(ValueError, match=r"\(B, D, h, w\)"):
        loss(torch.randn(4, 8, 8), torch.randn(4, 8, 8))
    with pytest.raises(ValueError, match="region_size"):
        loss(torch.randn(1, 2, 2, 8), torch.randn(1, 2, 2, 8))
