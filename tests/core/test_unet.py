"""The U-Net backbone: shapes for any size, padding, widths, precision, determinism."""

from __future__ import annotations

import pytest
import torch

from semicl.errors import InvalidImageError
from semicl.models.unet import UNet

SIZES = [(33, 47), (61, 61), (64, 64), (17, 9), (1, 1)]


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("size", SIZES)
def test_encode_decode_shapes(depth, size):
    torch.manual_seed(0)
    net = UNet(in_channels=1, base_width=4, depth=depth)
    x = torch.randn(2, 1, *size)
    feats = net.encode(x)
    assert len(feats) == depth + 1
    hp, wp = net.padded_size(*size)
    assert hp % 2**depth == 0 and wp % 2**depth == 0
    assert hp >= size[0] and wp >= size[1]
    for i, f in enumerate(feats):
        assert f.shape == (2, 4 * 2**i, hp // 2**i, wp // 2**i)
    assert feats[-1].shape[1] == net.bottleneck_channels == 4 * 2**depth
    assert min(feats[-1].shape[-2:]) >= 2  # instance statistics stay defined
    out = net.decode(feats)
    assert out.shape == (2, 4, *size)
    # without the recorded input size decode returns the padded map, or crops on request
    plain = list(feats)
    assert net.decode(plain).shape == (2, 4, hp, wp)
    assert net.decode(plain, size=size).shape == (2, 4, *size)
    vh, vw = net.bottleneck_valid_size(*size)
    assert net.valid_bottleneck(feats).shape[-2:] == (vh, vw)


def test_no_padding_when_already_a_multiple():
    net = UNet(1, 4, 3)
    assert net.padded_size(64, 40) == (64, 40)
    assert net.padded_size(65, 8) == (72, 16)


def test_param_count_scales_with_width_squared():
    n16 = sum(p.numel() for p in UNet(1, 16, 4).parameters())
    n64 = sum(p.numel() for p in UNet(1, 64, 4).parameters())
    assert 15.0 < n64 / n16 < 16.5
    # the paper's U-Net (base 64, 4 levels) has about 31 M parameters
    assert 29e6 < n64 < 33e6


def test_deterministic_under_seed():
    x = torch.randn(1, 1, 20, 24)
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        outs.append(UNet(1, 4, 2)(x))
    assert torch.equal(outs[0], outs[1])
    torch.manual_seed(124)
    assert not torch.equal(UNet(1, 4, 2)(x), outs[0])


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_eval_output_independent_of_batch(norm):
    torch.manual_seed(0)
    net = UNet(1, 4, 3, norm).eval()
    x = torch.randn(4, 1, 24, 20)
    with torch.no_grad():
        batch = net(x)
        single = net(x[2:3])
        other = net(torch.cat([x[2:3], 10 * torch.randn(3, 1, 24, 20)]))
    torch.testing.assert_close(batch[2:3], single, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(other[:1], single, atol=1e-5, rtol=1e-4)


def _trained_a_little(norm: str) -> UNet:
    torch.manual_seed(0)
    net = UNet(1, 4, 3, norm)
    with torch.no_grad():  # batch statistics: a few training-mode passes
        for _ in range(3):
            net(torch.rand(4, 1, 64, 64))
    return net.eval()


def test_batch_norm_output_ignores_air_beyond_the_receptive_field():
    """With batch norm a pixel's prediction does not depend on how much empty air its slice
    holds (the Colin27 failure of instance norm); with instance norm it does."""
    torch.manual_seed(1)
    head = torch.rand(1, 1, 128, 128)
    with_air = torch.cat([head, torch.zeros(1, 1, 128, 128)], dim=3)
    outs = {}
    for norm in ("batch", "instance"):
        net = _trained_a_little(norm)
        with torch.no_grad():
            outs[norm] = (net(head)[..., :48], net(with_air)[..., :128][..., :48])
    torch.testing.assert_close(*outs["batch"], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(*outs["instance"], atol=1e-3)


def test_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="norm"):
        UNet(1, 4, 2, "group")


def test_channels_last_matches_contiguous():
    torch.manual_seed(0)
    net = UNet(1, 4, 3)
    x = torch.randn(2, 1, 33, 47)
    ref = net(x)
    net_cl = net.to(memory_format=torch.channels_last)
    out = net_cl(x.to(memory_format=torch.channels_last))
    assert out.shape == (2, 4, 33, 47)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_bf16_autocast_on_cpu():
    torch.manual_seed(0)
    net = UNet(1, 4, 3)
    x = torch.randn(2, 1, 33, 47, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    assert out.shape == (2, 4, 33, 47)
    assert torch.isfinite(out.float()).all()
    out.float().square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize(
    "shape, match",
    [((1, 16, 16), r"\(1, 16, 16\)"), ((2, 3, 16, 16), "3 channels"), ((16, 16), r"\(16, 16\)")],
)
def test_bad_input_shape(shape, match):
    net = UNet(1, 4, 2)
    with pytest.raises(InvalidImageError, match=match):
        net(torch.zeros(shape))
    assert issubclass(InvalidImageError, ValueError)


def test_bad_constructor_args():
    with pytest.raises(ValueError):
        UNet(1, 0, 2)
    with pytest.raises(ValueError):
        UNet(1, 4, 0)
