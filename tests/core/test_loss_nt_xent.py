"""NTXentLoss against a loop reference written from the SimCLR formula."""

from __future__ import annotations

import math

import pytest
import torch

from semicl.losses import NTXentLoss

torch.set_num_threads(1)


def reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """-(1/2B) sum_i log(exp(s_i,j(i)) / sum_{k != i} exp(s_ik)), explicit loops."""
    b = z1.shape[0]
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True)
    total = z.new_zeros(())
    for i in range(2 * b):
        j = i + b if i < b else i - b
        denom = z.new_zeros(())
        for k in range(2 * b):
            if k != i:
                denom = denom + torch.exp(z[i] @ z[k] / tau)
        total = total - torch.log(torch.exp(z[i] @ z[j] / tau) / denom)
    return total / (2 * b)


@pytest.mark.parametrize("b,d,tau", [(2, 3, 0.5), (5, 8, 0.5), (4, 16, 0.1), (3, 2, 1.7)])
def test_matches_loop_reference_value_and_gradient(b, d, tau):
    g = torch.Generator().manual_seed(b * 100 + d)
    z1 = torch.randn(b, d, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(b, d, generator=g, dtype=torch.float64, requires_grad=True)
    ref = reference_nt_xent(z1, z2, tau)
    ref_g = torch.autograd.grad(ref, (z1, z2))
    val = NTXentLoss(tau)(z1, z2)
    val_g = torch.autograd.grad(val, (z1, z2))
    torch.testing.assert_close(val, ref, rtol=1e-12, atol=1e-12)
    for a, r in zip(val_g, ref_g):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)


def test_identical_embeddings_analytic_value():
    for b in (1, 2, 7):
        z = torch.ones(b, 4, dtype=torch.float64)
        val = NTXentLoss(0.3)(z, 3 * z)
        assert val.item() == pytest.approx(math.log(2 * b - 1), abs=1e-12)


def test_symmetry():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    loss = NTXentLoss()
    torch.testing.assert_close(loss(a, b), loss(b, a), rtol=1e-6, atol=1e-7)


def test_batch_of_one_is_zero_with_zero_gradient():
    z1 = torch.randn(1, 4, requires_grad=True)
    z2 = torch.randn(1, 4, requires_grad=True)
    val = NTXentLoss()(z1, z2)
    assert val.item() == 0.0
    val.backward()
    assert torch.all(z1.grad == 0) and torch.all(z2.grad == 0)


def test_float32_and_autocast():
    g = torch.Generator().manual_seed(4)
    z1, z2 = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    ref = reference_nt_xent(z1.double(), z2.double(), 0.5)
    val = NTXentLoss()(z1, z2)
    assert val.dtype == torch.float32
    torch.testing.assert_close(val.double(), ref, rtol=1e-5, atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v_ac = NTXentLoss()(z1, z2)
    assert v_ac.dtype == torch.float32
    torch.testing.assert_close(v_ac, val, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("temperature", [0, -0.5, float("inf"), float("nan"), True, "0.5"])
def test_invalid_temperature_raises(temperature):
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature)


@pytest.mark.parametrize(
    "s1,s2", [((3, 4), (3, 5)), ((3, 4), (2, 4)), ((4,), (4,)), ((0, 4), (0, 4))]
)
def test_bad_shapes_raise(s1, s2):
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        NTXentLoss()(torch.randn(s1), torch.randn(s2))
