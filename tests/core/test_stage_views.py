"""The two contrastive views the stages build are never identical (docs/method.md §7.1:
the reference code's two stage-2 views were one buffer), and the local stage's views
stay aligned pixel for pixel (one spatial transform, two intensity draws)."""

from __future__ import annotations

import pytest
import torch

import semicl.training.stages as stages
from semicl.config import FinetuneConfig, GlobalConfig, LocalConfig, ModelConfig
from semicl.data.augment import IntensityAugment
from semicl.events import drive
from semicl.models.network import SegmentationNet
from semicl.training.data import TrainingData

CPU = torch.device("cpu")


def _setup(seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(6, 1, 16, 16, generator=g)
    targets = torch.randint(-1, 3, (3, 16, 16), generator=g)
    data = TrainingData(images, images[:3].clone(), targets, ["bg", "a", "b"])
    torch.manual_seed(seed)
    cfg = ModelConfig(base_width=4, depth=2, global_dim=8, local_dim=8, norm="instance")
    return SegmentationNet(cfg, 3), data, g


def _spy(net, name):
    """Record every batch passed to ``net.<name>`` (the two views, concatenated)."""
    seen, original = [], getattr(net, name)

    def record(x):
        seen.append(x.detach().clone())
        return original(x)

    setattr(net, name, record)
    return seen


def _assert_views_differ(batches):
    assert batches
    for x in batches:
        v1, v2 = x.chunk(2)
        assert (v1 - v2).abs().flatten(1).amax(dim=1).min() > 0  # every sample's views differ


@pytest.mark.parametrize("augment", [True, False])
def test_global_stage_views_differ(augment):
    net, data, g = _setup()
    seen = _spy(net, "global_embedding")
    drive(stages.run_global(net, data, GlobalConfig(steps=2, batch_size=4), device=CPU,
                            amp=False, generator=g, augment=augment))
    assert len(seen) == 2
    _assert_views_differ(seen)


@pytest.mark.parametrize("mode", ["exact", "self"])
def test_local_stage_views_differ_but_share_geometry(mode, monkeypatch):
    net, data, g = _setup()
    seen = _spy(net, "local_embedding")
    intensity_inputs = []

    class RecordingIntensity(IntensityAugment):
        def __call__(self, images, targets=None, generator=None):
            intensity_inputs.append(images.detach().clone())
            return super().__call__(images, targets, generator)

    monkeypatch.setattr(stages, "IntensityAugment", RecordingIntensity)
    cfg = LocalConfig(steps=2, batch_size=2, mode=mode, max_anchors=64)
    drive(stages.run_local(net, data, cfg, device=CPU, amp=False, generator=g))
    assert len(seen) == 2 and len(intensity_inputs) == 4
    _assert_views_differ(seen)
    # one spatial transform per step: both intensity draws start from the same pixels
    for a, b in zip(intensity_inputs[::2], intensity_inputs[1::2]):
        assert torch.equal(a, b)


def test_finetune_geometry_comes_from_the_config(monkeypatch):
    net, data, g = _setup()
    made = []

    class RecordingSpatial(stages.SpatialAugment):
        def __post_init__(self):
            made.append((self.scale, self.rotation_deg, self.crop))
            super().__post_init__()

    monkeypatch.setattr(stages, "SpatialAugment", RecordingSpatial)
    cfg = FinetuneConfig(steps=1, batch_size=2, scale=(1.2, 1.3), rotation_deg=3.0,
                         crop=(0.5, 0.7))
    drive(stages.run_finetune(net, data, cfg, device=CPU, amp=False, generator=g))
    assert made == [((1.2, 1.3), 3.0, (0.5, 0.7))]
