"""The image-gated affinity (local CRF) loss against a slow reference and analytic values."""

import math

import numpy as np
import pytest
import torch

from semicl.errors import ShapeMismatchError
from semicl.losses import AffinityLoss
from semicl.losses.affinity import neighbour_offsets


def weighted_pairs(images, radius, sigma_scale):
    """Every neighbour pair counted once (i before j), pixel by pixel: a list of
    ``(n, y, x, yy, xx, weight)``."""
    im = images.double().numpy()
    b, _, h, w = im.shape
    offs = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
            if 0 < dy * dy + dx * dx <= radius * radius and (dy, dx) > (0, 0)]
    sq = []
    for n in range(b):
        for y in range(h):
            for x in range(w):
                for dy, dx in offs:
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w:
                        sq.append(((n, y, x, yy, xx), ((im[n, :, y, x] - im[n, :, yy, xx]) ** 2).sum()))
    # sigma^2 = scale^2 * mean over offsets of the mean squared difference of that offset
    per_off = {}
    for (n, y, x, yy, xx), v in sq:
        per_off.setdefault((yy - y, xx - x), []).append(v)
    mean_sq = np.mean([np.mean(v) for v in per_off.values()])
    out = []
    for (n, y, x, yy, xx), v in sq:
        d2 = (yy - y) ** 2 + (xx - x) ** 2
        wgt = math.exp(-v / (2 * sigma_scale ** 2 * mean_sq)) * math.exp(-d2 / (2 * radius ** 2))
        out.append((n, y, x, yy, xx, wgt))
    return out


def reference(logits, images, radius, sigma_scale):
    """The Potts cut, from :func:`weighted_pairs`."""
    p = torch.softmax(logits.double(), 1).numpy()
    num = den = 0.0
    for n, y, x, yy, xx, wgt in weighted_pairs(images, radius, sigma_scale):
        num += wgt * (1 - (p[n, :, y, x] * p[n, :, yy, xx]).sum())
        den += wgt
    return num / den


@pytest.mark.parametrize("radius,shape", [(1, (2, 3, 5, 7)), (2, (1, 2, 6, 5)), (3, (1, 4, 7, 9))])
def test_matches_the_slow_reference(radius, shape):
    g = torch.Generator().manual_seed(radius)
    logits = torch.randn(*shape, generator=g)
    images = torch.rand(shape[0], 2, *shape[2:], generator=g)
    got = AffinityLoss(radius, sigma_scale=0.7)(logits, images)
    assert float(got) == pytest.approx(reference(logits, images, radius, 0.7), rel=1e-5)


def test_offsets_cover_each_neighbour_pair_once():
    offs = neighbour_offsets(2)
    assert len(offs) == 6 and len(set(offs)) == 6
    assert all((-dy, -dx) not in offs for dy, dx in offs)


def test_analytic_values():
    images = torch.rand(2, 1, 8, 9)
    one_hot = torch.full((2, 3, 8, 9), -30.0)
    one_hot[:, 1] = 30.0
    assert float(AffinityLoss(2)(one_hot, images)) == pytest.approx(0.0, abs=1e-6)
    uniform = torch.zeros(2, 3, 8, 9)
    assert float(AffinityLoss(2)(uniform, images)) == pytest.approx(1 - 1 / 3, abs=1e-6)


def test_a_cut_along_an_edge_costs_less_than_a_cut_across_a_flat_region():
    images = torch.zeros(1, 1, 16, 16)
    images[..., 8:] = 1.0  # an edge between columns 7 and 8
    images += 0.01 * torch.rand(images.shape, generator=torch.Generator().manual_seed(0))
    along, across = torch.full((1, 2, 16, 16), -20.0), torch.full((1, 2, 16, 16), -20.0)
    along[:, 0, :, :8] = along[:, 1, :, 8:] = 20.0
    across[:, 0, :8] = across[:, 1, 8:] = 20.0  # rows: cuts through both flat halves
    loss = AffinityLoss(2)
    assert float(loss(along, images)) < 0.2 * float(loss(across, images))


def test_gradients_reach_every_pixel_and_autocast_is_float32():
    logits = torch.randn(1, 2, 6, 6, requires_grad=True)
    loss = AffinityLoss(1)(logits, torch.rand(1, 1, 6, 6))
    loss.backward()
    assert loss.dtype == torch.float32 and (logits.grad.abs().sum(1) > 0).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert AffinityLoss(1)(logits.bfloat16(), torch.rand(1, 1, 6, 6)).dtype == torch.float32


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="radius"):
        AffinityLoss(0)
    with pytest.raises(ValueError, match="sigma_scale"):
        AffinityLoss(1, sigma_scale=0)
    with pytest.raises(ValueError, match="ncut"):
        AffinityLoss(1, ncut=-0.1)
    with pytest.raises(ShapeMismatchError, match="share B, H, W"):
        AffinityLoss(1)(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 5))


def reference_ncut(logits, images, radius, sigma_scale, present):
    """Each class's cut over its own degree volume (over the whole volume when absent),
    from :func:`weighted_pairs`."""
    p = torch.softmax(logits.double(), 1).numpy()
    cut, vol = np.zeros(p.shape[1]), np.zeros(p.shape[1])
    for n, y, x, yy, xx, wgt in weighted_pairs(images, radius, sigma_scale):
        a, b_ = p[n, :, y, x], p[n, :, yy, xx]
        cut += wgt * (a * (1 - b_) + b_ * (1 - a))
        vol += wgt * (a + b_)
    return float(np.mean(cut / np.where(present, vol, vol.sum())))


@pytest.mark.parametrize("present", [[True, True, True], [True, False, True]])
def test_normalised_cut_part_matches_the_slow_reference(present):
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 3, 6, 7, generator=g)
    images = torch.rand(2, 1, 6, 7, generator=g)
    potts = float(AffinityLoss(2, sigma_scale=0.7)(logits, images))
    mixed = AffinityLoss(2, sigma_scale=0.7, ncut=0.5)(logits, images, torch.tensor(present))
    want = reference_ncut(logits, images, 2, 0.7, np.array(present))
    assert float(mixed) == pytest.approx(potts + 0.5 * want, rel=1e-5)


def test_normalised_cut_no_longer_pays_a_structure_to_give_up_its_rim():
    """On a flat image the Potts cut is lower for a smaller square (shorter boundary); the
    normalised cut is lower for the larger one (boundary over size)."""
    images = 0.5 + 0.01 * torch.rand(1, 1, 24, 24, generator=torch.Generator().manual_seed(0))

    def square(half):
        logits = torch.full((1, 2, 24, 24), -20.0)
        logits[:, 0] = 20.0
        logits[:, 1, 12 - half:12 + half, 12 - half:12 + half] = 40.0
        return logits

    potts, ncut_only = AffinityLoss(2), AffinityLoss(2, ncut=1.0)
    small, large = square(4), square(6)
    assert float(potts(small, images)) < float(potts(large, images))
    ncut = [float(ncut_only(x, images)) - float(potts(x, images)) for x in (small, large)]
    assert ncut[1] < ncut[0]
    # one class everywhere, the other absent from the batch's strokes: nothing is cut, and
    # the absent class is not measured against its own (vanishing) volume
    assert float(ncut_only(square(0), images, torch.tensor([True, False]))) == \
        pytest.approx(0.0, abs=1e-6)


def test_the_normalised_cut_knows_which_classes_a_batch_paints(monkeypatch):
    """From strokes the affinity term gets the config's normalised-cut weight and, each
    step, the classes painted in the batch (here: background and disk, both painted)."""
    import dataclasses

    from semicl.interactive import prepare_image_data
    from semicl.losses import affinity as affinity_module
    from semicl.models.network import SegmentationNet
    from semicl.training.stages import run_finetune
    from test_step_options import image_with_strokes  # tests/core is on sys.path
    from test_training import collect, tiny_config

    seen = []
    real = affinity_module.AffinityLoss.forward

    def spy(self, logits, images, present=None):
        seen.append((self.ncut, None if present is None else present.tolist()))
        return real(self, logits, images, present)

    monkeypatch.setattr(affinity_module.AffinityLoss, "forward", spy)
    data = prepare_image_data(*image_with_strokes(), ["background", "disk"])
    cfg = dataclasses.replace(tiny_config().finetune, steps=3, epochs=None, min_steps=0,
                              labels="strokes", affinity_weight=1.0, affinity_ncut=0.25)
    net = SegmentationNet(tiny_config().model, data.num_classes)
    collect(run_finetune(net, data, cfg, device=torch.device("cpu"), amp=False,
                         generator=torch.Generator().manual_seed(0)))
    assert seen and all(s == (0.25, [True, True]) for s in seen), seen
