"""SegmentationNet: the shape matrix of its three paths and their gradients."""

from __future__ import annotations

import pytest
import torch

from semicl.config import ModelConfig
from semicl.models import SegmentationNet
from semicl.stage import TRAINING_STAGES, Stage

SIZES = [(33, 47), (61, 61), (64, 64), (17, 9)]


def _net(in_ch=1, num_classes=3, depth=2, width=4) -> SegmentationNet:
    cfg = ModelConfig(in_channels=in_ch, base_width=width, depth=depth, global_dim=6, local_dim=5)
    return SegmentationNet(cfg, num_classes)


def _finite_grads(params) -> bool:
    return all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in params)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("in_ch, num_classes", [(1, 2), (1, 5), (3, 2), (3, 5)])
def test_shape_matrix_and_gradients(in_ch, num_classes, size, depth):
    torch.manual_seed(0)
    net = _net(in_ch, num_classes, depth)
    assert net.num_classes == num_classes
    x = torch.randn(2, in_ch, *size)

    logits = net(x)
    assert logits.shape == (2, num_classes, *size)
    net.zero_grad(set_to_none=True)
    logits.square().mean().backward()
    assert _finite_grads(net.stage_parameters(Stage.FINETUNE))
    assert all(p.grad is None for p in net.head_parameters("global"))

    net.zero_grad(set_to_none=True)
    g = net.global_embedding(x)
    assert g.shape == (2, 6)
    g.square().mean().backward()
    assert _finite_grads(net.stage_parameters("global"))
    assert all(p.grad is None for p in net.decoder_parameters())

    net.zero_grad(set_to_none=True)
    z = net.local_embedding(x)
    assert z.shape == (2, 5, *size)
    z.square().mean().backward()
    assert _finite_grads(net.stage_parameters("local"))
    assert all(p.grad is None for p in net.head_parameters("seg"))


def test_parameter_groups_partition_the_network():
    net = _net(depth=3)
    groups = [
        *net.encoder_parameters(),
        *net.decoder_parameters(),
        *net.head_parameters("global"),
        *net.head_parameters("local"),
        *net.head_parameters("seg"),
    ]
    assert len({id(p) for p in groups}) == len(groups)
    assert {id(p) for p in groups} == {id(p) for p in net.parameters()}
    with pytest.raises(ValueError):
        net.head_parameters("nope")
    with pytest.raises(ValueError):
        net.stage_parameters("nope")


def _ids(params) -> list[int]:
    return [id(p) for p in params]


def test_stage_parameters_take_the_stage_or_its_value():
    net = _net(depth=3)
    heads = {Stage.GLOBAL: "global", Stage.LOCAL: "local", Stage.FINETUNE: "seg"}
    for stage in TRAINING_STAGES:
        params = _ids(net.stage_parameters(stage))
        assert params == _ids(net.stage_parameters(stage.value))
        assert set(_ids(net.head_parameters(heads[stage]))) <= set(params)
    assert not set(_ids(net.decoder_parameters())) & set(_ids(net.stage_parameters("global")))
    for other in (Stage.PREDICT, Stage.FIRST_LOOK, "predict", "seg"):
        with pytest.raises(ValueError, match="choose one of 'global', 'local', 'finetune'"):
            net.stage_parameters(other)


def test_embeddings_are_not_normalised():
    torch.manual_seed(0)
    net = _net()
    x = torch.randn(2, 1, 16, 16)
    norms = net.local_embedding(x).norm(dim=1)
    assert not torch.allclose(norms, torch.ones_like(norms))
    gnorms = net.global_embedding(x).norm(dim=1)
    assert not torch.allclose(gnorms, torch.ones_like(gnorms))


def test_deterministic_under_seed():
    x = torch.randn(2, 1, 17, 9)
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        net = _net()
        outs.append((net(x), net.global_embedding(x), net.local_embedding(x)))
    for a, b in zip(*outs, strict=True):
        assert torch.equal(a, b)


def test_eval_prediction_independent_of_batch():
    torch.manual_seed(0)
    net = _net(depth=3).eval()
    x = torch.randn(3, 1, 33, 47)
    with torch.no_grad():
        full = net(x)
        alone = net(x[1:2])
        g_full = net.global_embedding(x)
        g_alone = net.global_embedding(x[1:2])
    torch.testing.assert_close(full[1:2], alone, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(g_full[1:2], g_alone, atol=1e-5, rtol=1e-4)


def test_global_embedding_ignores_bottleneck_padding_pixels():
    torch.manual_seed(0)
    net = _net(depth=4)
    # 17 x 9 pads to 32 x 32 (bottleneck 2 x 2); only the left bottleneck column covers it
    x = torch.randn(1, 1, 17, 9)
    feats = net.unet.encode(x)
    assert feats[-1].shape[-2:] == (2, 2)
    valid = net.unet.valid_bottleneck(feats)
    assert valid.shape[-2:] == (2, 1)
    expected = net.global_head(valid)
    torch.testing.assert_close(net.global_embedding(x), expected)
    assert not torch.allclose(net.global_head(feats[-1]), expected)


@pytest.mark.parametrize(
    "shape, match",
    [
        ((1, 2, 16, 16), r"\(1, 2, 16, 16\)"),
        ((16, 16), r"\(16, 16\)"),
        ((1, 1, 1, 8, 8), r"\(1, 1, 1, 8, 8\)"),
    ],
)
def test_wrong_input_raises_value_error_with_shape(shape, match):
    net = _net()
    for fn in (net, net.global_embedding, net.local_embedding):
        with pytest.raises(ValueError, match=match):
            fn(torch.zeros(shape))


def test_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        _net(num_classes=1)


def test_channels_last_and_bf16_autocast():
    torch.manual_seed(0)
    net = _net(depth=3).to(memory_format=torch.channels_last)
    x = torch.randn(2, 1, 61, 61).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = net(x)
        g = net.global_embedding(x)
    assert logits.shape == (2, 3, 61, 61) and g.shape == (2, 6)
    (logits.float().mean() + g.float().mean()).backward()
    assert _finite_grads(net.stage_parameters(Stage.FINETUNE))


def test_evaluating_restores_the_mode_it_found():
    import pytest
    from torch import nn

    from semicl.models.network import evaluating

    net = nn.BatchNorm2d(2)
    with evaluating(net):
        assert not net.training
    assert net.training
    net.eval()
    with evaluating(net):
        pass
    assert not net.training  # an eval-mode network stays in eval mode
    net.train()
    with pytest.raises(RuntimeError), evaluating(net):
        raise RuntimeError("boom")
    assert net.training
