"""SupervisedLocalContrastiveLoss against a slow loop reference, plus invariants."""

from __future__ import annotations

import math

import pytest
import torch

from semicl.losses import SupervisedLocalContrastiveLoss
from semicl.losses.anchor_logsumexp import weighted_anchor_logsumexp

torch.set_num_threads(1)


def reference_loss(emb: torch.Tensor, tgt: torch.Tensor, tau: float) -> torch.Tensor:
    """SupCon L_out on pixels, written from the definition with a loop over anchors.

    emb: (B, D, H, W), tgt: (B, H, W). Returns 0 (connected) without a valid anchor.
    """
    d = emb.shape[1]
    z_all = emb.permute(0, 2, 3, 1).reshape(-1, d)
    y_all = tgt.reshape(-1)
    keep = [n for n in range(y_all.numel()) if int(y_all[n]) != -1]
    z = z_all[keep]
    z = z / z.norm(dim=1, keepdim=True)
    y = [int(y_all[n]) for n in keep]
    terms = []
    for m in range(len(y)):
        if y[m] < 1:
            continue
        positives = [p for p in range(len(y)) if p != m and y[p] == y[m]]
        if not positives:
            continue
        others = [k for k in range(len(y)) if k != m]
        sims = z[others] @ z[m] / tau
        lse = torch.logsumexp(sims, dim=0)
        pos_sims = z[positives] @ z[m] / tau
        terms.append(-(pos_sims - lse).mean())
    if not terms:
        return emb.sum() * 0
    return torch.stack(terms).mean()


def reference_block_loss(emb, tgt, tau, b):
    """Uniform mean of the reference loss over b x b blocks that have a valid anchor."""
    _, _, h, w = emb.shape
    losses = []
    for i0 in range(0, h, b):
        for j0 in range(0, w, b):
            e, t = emb[:, :, i0:i0 + b, j0:j0 + b], tgt[:, i0:i0 + b, j0:j0 + b]
            if _has_anchor(t):
                losses.append(reference_loss(e, t, tau))
    return torch.stack(losses).mean()


def _has_anchor(t: torch.Tensor) -> bool:
    vals, counts = torch.unique(t, return_counts=True)
    return bool(((vals >= 1) & (counts >= 2)).any())


def make_batch(b=2, d=4, h=5, w=7, classes=3, p_unlab=0.4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(b, d, h, w, generator=g, dtype=dtype)
    tgt = torch.randint(0, classes, (b, h, w), generator=g)
    tgt[torch.rand(b, h, w, generator=g) < p_unlab] = -1
    return emb, tgt


def value_and_grad(loss_fn, emb, tgt):
    e = emb.clone().requires_grad_(True)
    val = loss_fn(e, tgt)
    val.backward()
    return val.detach(), e.grad


@pytest.mark.parametrize(
    "shape,classes,seed",
    [((2, 3, 4, 4), 2, 0), ((4, 5, 5, 7), 3, 1), ((2, 8, 7, 5), 4, 2), ((3, 6, 6, 6), 3, 3)],
)
def test_exact_matches_loop_reference_value_and_gradient(shape, classes, seed):
    emb, tgt = make_batch(*shape, classes=classes, seed=seed)
    ref_v, ref_g = value_and_grad(lambda e, t: reference_loss(e, t, 0.1), emb, tgt)
    v, g = value_and_grad(SupervisedLocalContrastiveLoss(0.1, chunk_size=7), emb, tgt)
    torch.testing.assert_close(v, ref_v, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g, ref_g, rtol=1e-9, atol=1e-10)


def test_small_temperature_uses_stable_path():
    emb, tgt = make_batch(2, 4, 5, 5, seed=5)
    for tau in (0.01, 0.002):
        ref_v, ref_g = value_and_grad(lambda e, t, tau=tau: reference_loss(e, t, tau), emb, tgt)
        v, g = value_and_grad(SupervisedLocalContrastiveLoss(tau), emb, tgt)
        assert torch.isfinite(v)
        torch.testing.assert_close(v, ref_v, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(g, ref_g, rtol=1e-7, atol=1e-8)
    v32 = SupervisedLocalContrastiveLoss(0.01)(emb.float(), tgt)
    torch.testing.assert_close(v32.double(), reference_loss(emb, tgt, 0.01), rtol=1e-4, atol=1e-4)


def test_float32_matches_float64_reference():
    emb, tgt = make_batch(3, 8, 6, 5, seed=4)
    ref_v, ref_g = value_and_grad(lambda e, t: reference_loss(e, t, 0.1), emb, tgt)
    v, g = value_and_grad(SupervisedLocalContrastiveLoss(0.1, chunk_size=5), emb.float(), tgt)
    assert v.dtype == torch.float32
    torch.testing.assert_close(v.double(), ref_v, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g.double(), ref_g, rtol=1e-4, atol=1e-6)


def test_gradcheck_custom_function_and_module():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    self_idx = torch.tensor([[0, 2, 4], [1, 3, 0]])
    w = torch.tensor([[0.5, 1.0, 0.0], [0.3, 0.2, 0.7]], dtype=torch.float64)
    valid = torch.tensor([[True] * 5, [True, True, True, True, False]])
    for chunk in (1, 2, 100):
        assert torch.autograd.gradcheck(
            lambda a, c, chunk=chunk: weighted_anchor_logsumexp(
                a, c, self_idx, w, 2.0, col_valid=valid, chunk_size=chunk
            ),
            (a, c),
        )
    emb, tgt = make_batch(2, 3, 4, 3, seed=7)
    loss = SupervisedLocalContrastiveLoss(0.5, chunk_size=3)
    assert torch.autograd.gradcheck(lambda e: loss(e, tgt), (emb.requires_grad_(True),))
    block = SupervisedLocalContrastiveLoss(0.5, block_size=2, chunk_size=2)
    assert torch.autograd.gradcheck(lambda e: block(e, tgt), (emb,))


def test_unlabelled_pixels_take_no_part():
    emb, tgt = make_batch(2, 4, 6, 6, seed=8)
    other = torch.where((tgt == -1)[:, None], torch.randn_like(emb) * 5, emb)
    for loss in (
        SupervisedLocalContrastiveLoss(0.1),
        SupervisedLocalContrastiveLoss(0.1, block_size=3),
        SupervisedLocalContrastiveLoss(0.1, stride=2),
    ):
        v1, g1 = value_and_grad(loss, emb, tgt)
        v2, _ = value_and_grad(loss, other, tgt)
        torch.testing.assert_close(v1, v2, rtol=0, atol=1e-12)
        assert torch.all(g1.permute(0, 2, 3, 1)[tgt == -1] == 0)


def test_chunk_size_and_trivial_strides_blocks_give_exact():
    emb, tgt = make_batch(3, 5, 7, 6, seed=9)
    ref = SupervisedLocalContrastiveLoss(0.2)(emb, tgt)
    for kwargs in (
        {"chunk_size": 1}, {"chunk_size": 3}, {"chunk_size": 10_000}, {"stride": 1},
        {"block_size": 7}, {"block_size": 64, "chunk_size": 2},
    ):
        torch.testing.assert_close(
            SupervisedLocalContrastiveLoss(0.2, **kwargs)(emb, tgt), ref, rtol=1e-12, atol=1e-12
        )


def test_class_id_permutation_invariance():
    emb, tgt = make_batch(2, 4, 6, 5, classes=4, seed=10)
    perm = torch.tensor([0, 3, 1, 7])  # structures 1, 2, 3 -> 3, 1, 7; background stays 0
    tgt2 = torch.where(tgt >= 0, perm[tgt.clamp_min(0)], tgt)
    for kw in ({}, {"block_size": 3}):
        loss = SupervisedLocalContrastiveLoss(0.1, **kw)
        torch.testing.assert_close(loss(emb, tgt2), loss(emb, tgt), rtol=1e-12, atol=1e-12)


def test_stride_equals_exact_on_subsampled_arrays():
    emb, tgt = make_batch(2, 4, 7, 6, seed=11)
    strided = SupervisedLocalContrastiveLoss(0.1, stride=2)
    exact = SupervisedLocalContrastiveLoss(0.1)
    v, g = value_and_grad(strided, emb, tgt)
    sub_e, sub_t = emb[..., ::2, ::2].contiguous(), tgt[..., ::2, ::2].contiguous()
    torch.testing.assert_close(v, exact(sub_e, sub_t), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(v, reference_loss(sub_e, sub_t, 0.1), rtol=1e-10, atol=1e-12)
    off_grid = torch.ones(7, 6, dtype=torch.bool)
    off_grid[::2, ::2] = False
    assert torch.all(g[:, :, off_grid] == 0)


@pytest.mark.parametrize("shape,b", [((2, 3, 6, 6), 3), ((2, 4, 7, 5), 3), ((4, 3, 5, 5), 2)])
def test_block_equals_mean_of_per_block_losses(shape, b):
    emb, tgt = make_batch(*shape, seed=12)
    v, g = value_and_grad(SupervisedLocalContrastiveLoss(0.1, block_size=b), emb, tgt)
    ref_v, ref_g = value_and_grad(lambda e, t: reference_block_loss(e, t, 0.1, b), emb, tgt)
    torch.testing.assert_close(v, ref_v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g, ref_g, rtol=1e-9, atol=1e-12)
    # and by hand with the module's own exact form on each (partial) block
    exact = SupervisedLocalContrastiveLoss(0.1)
    per_block = [
        exact(emb[:, :, i:i + b, j:j + b], tgt[:, i:i + b, j:j + b])
        for i in range(0, shape[2], b) for j in range(0, shape[3], b)
        if _has_anchor(tgt[:, i:i + b, j:j + b])
    ]
    torch.testing.assert_close(v, torch.stack(per_block).mean(), rtol=1e-12, atol=1e-12)


def test_analytic_two_orthogonal_classes():
    # class 1 pixels all equal u1, class 2 all u2, background u0, u0 _|_ u1 _|_ u2:
    # S = 1/tau inside a class, 0 across, so for an anchor of class c with n_c pixels
    # l_c = -(1/tau - log((n_c - 1) e^{1/tau} + (L - n_c))) = log(n_c - 1 + (L - n_c) e^{-1/tau})
    tau = 0.1
    tgt = torch.full((2, 4, 4), -1)
    tgt[0, 0, :3] = 1
    tgt[1, 1, :2] = 1  # n1 = 5
    tgt[0, 2, :] = 2  # n2 = 4
    tgt[1, 3, :2] = 0  # n0 = 2
    basis = torch.eye(3, dtype=torch.float64) * 3.0
    emb = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    for cls, vec in ((0, basis[0]), (1, basis[1]), (2, basis[2])):
        emb.permute(0, 2, 3, 1)[tgt == cls] = vec
    n1, n2, n0 = 5, 4, 2
    total = n1 + n2 + n0
    l1 = math.log(n1 - 1 + (total - n1) * math.exp(-1 / tau))
    l2 = math.log(n2 - 1 + (total - n2) * math.exp(-1 / tau))
    expected = (n1 * l1 + n2 * l2) / (n1 + n2)
    for kw in ({}, {"chunk_size": 2}, {"block_size": 8}):
        val = SupervisedLocalContrastiveLoss(tau, **kw)(emb, tgt)
        assert val.item() == pytest.approx(expected, rel=1e-12)


def test_no_valid_anchor_gives_connected_zero():
    emb = torch.randn(2, 3, 4, 4, requires_grad=True)
    cases = [
        torch.full((2, 4, 4), -1),  # all ignored
        torch.zeros(2, 4, 4, dtype=torch.long),  # background only
    ]
    single = torch.full((2, 4, 4), -1)
    single[0, 1, 1] = 2  # one structure pixel: no positive
    cases.append(single)
    for kw in ({}, {"block_size": 2}, {"stride": 2}, {"max_anchors": 3}):
        for tgt in cases:
            val = SupervisedLocalContrastiveLoss(0.1, **kw)(emb, tgt)
            assert val.item() == 0.0 and val.requires_grad
            val.backward()
            assert torch.all(emb.grad == 0)
            emb.grad = None


def test_max_anchors_subset_is_reproducible_and_exact_when_large():
    emb, tgt = make_batch(2, 4, 6, 6, seed=13)
    full = SupervisedLocalContrastiveLoss(0.1)(emb, tgt)
    big = SupervisedLocalContrastiveLoss(0.1, max_anchors=10_000)
    torch.testing.assert_close(big(emb, tgt), full, rtol=1e-12, atol=1e-12)
    sub = SupervisedLocalContrastiveLoss(0.1, max_anchors=4)
    a = sub(emb, tgt, generator=torch.Generator().manual_seed(1))
    b = sub(emb, tgt, generator=torch.Generator().manual_seed(1))
    assert a.item() == b.item()
    assert torch.isfinite(a) and a.item() != pytest.approx(full.item(), rel=1e-9)


def test_autocast_and_half_inputs_compute_in_float32():
    emb, tgt = make_batch(2, 4, 5, 5, seed=14, dtype=torch.float32)
    ref = SupervisedLocalContrastiveLoss(0.1)(emb, tgt)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        val = SupervisedLocalContrastiveLoss(0.1)(emb, tgt)
    assert val.dtype == torch.float32
    torch.testing.assert_close(val, ref, rtol=1e-6, atol=1e-6)
    e16 = emb.bfloat16().requires_grad_(True)
    v16 = SupervisedLocalContrastiveLoss(0.1)(e16, tgt)
    assert v16.dtype == torch.float32
    v16.backward()
    assert e16.grad is not None and e16.grad.dtype == torch.bfloat16


@pytest.mark.parametrize(
    "emb_shape,tgt_shape",
    [
        ((2, 3, 4, 4), (2, 4, 5)),
        ((2, 3, 4, 4), (1, 4, 4)),
        ((3, 4, 4), (3, 4)),
        ((2, 3, 4, 4), (2, 1, 4, 4)),
    ],
)
def test_bad_shapes_raise(emb_shape, tgt_shape):
    loss = SupervisedLocalContrastiveLoss()
    with pytest.raises(ValueError, match=r"\("):
        loss(torch.randn(emb_shape), torch.zeros(tgt_shape, dtype=torch.long))


def test_bad_labels_and_arguments_raise():
    loss = SupervisedLocalContrastiveLoss()
    with pytest.raises(ValueError, match="-2"):
        loss(torch.randn(1, 2, 3, 3), torch.full((1, 3, 3), -2))
    with pytest.raises(ValueError, match="integer"):
        loss(torch.randn(1, 2, 3, 3), torch.zeros(1, 3, 3))
    for kwargs in (
        {"temperature": 0}, {"temperature": -1.0}, {"temperature": float("nan")},
        {"stride": 0}, {"stride": 1.5}, {"block_size": 0}, {"chunk_size": 0},
        {"max_anchors": 0}, {"stride": True},
    ):
        with pytest.raises(ValueError):
            SupervisedLocalContrastiveLoss(**kwargs)


def test_never_builds_the_pixel_by_pixel_matrix():
    # 204,800 labelled pixels: an N x N float matrix would need ~160 GiB. With a dozen
    # anchors the chunked form only needs anchors x N (a few MiB).
    tgt = torch.zeros(2, 320, 320, dtype=torch.long)
    tgt[0, 5, 5:11] = 1
    tgt[1, 9, 3:9] = 2
    emb = torch.randn(2, 3, 320, 320, requires_grad=True)
    val = SupervisedLocalContrastiveLoss(0.1, chunk_size=4)(emb, tgt)
    val.backward()
    assert torch.isfinite(val) and torch.isfinite(emb.grad).all()


def test_tiles_respect_chunk_size():
    from semicl.losses.anchor_logsumexp import _tiles

    assert list(_tiles(1, 10, 4)) == [(0, 1, 0, 4), (0, 1, 4, 8), (0, 1, 8, 10)]
    assert list(_tiles(5, 3, 7)) == [(0, 2, 0, 3), (2, 4, 0, 3), (4, 5, 0, 3)]
    for g, r, c in ((3, 9, 4), (7, 2, 5), (1, 1, 1)):
        tiles = list(_tiles(g, r, c))
        assert all((g1 - g0) * (r1 - r0) <= max(c, r) for g0, g1, r0, r1 in tiles)
        assert sum((g1 - g0) * (r1 - r0) for g0, g1, r0, r1 in tiles) == g * r
