"""A warm Retrain may hold on to its starting network's answer (FinetuneConfig.keep_previous)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from semicl.events import Stage
from semicl.interactive import prepare_image_data
from semicl.models.network import SegmentationNet
from semicl.training import pipeline
from semicl.training.stages import run_finetune
from test_step_options import image_with_strokes  # tests/core is on sys.path (no package)
from test_training import collect, tiny_config

CLASSES = ["background", "disk"]


def says_disk_everywhere(data) -> SegmentationNet:
    """A network whose answer is 'disk' (about 0.99) on every pixel, whatever it sees."""
    net = SegmentationNet(tiny_config().model, data.num_classes)
    with torch.no_grad():
        net.seg_head.conv.weight.zero_()
        net.seg_head.conv.bias.copy_(torch.tensor([-2.5, 2.5]))
    return net.eval().requires_grad_(False)


def finetuned(data, *, keep: float, teacher=None, steps: int = 4, prior: float = 0.0,
              augment: bool = True):
    cfg = dataclasses.replace(tiny_config().finetune, steps=steps, epochs=None, min_steps=0,
                              labels="strokes", ema_decay=0.0, background_prior=prior, lr=1e-2,
                              affinity_weight=0.0, keep_previous=keep)
    torch.manual_seed(0)
    net = SegmentationNet(tiny_config().model, data.num_classes)
    collect(run_finetune(net, data, cfg, device=torch.device("cpu"), amp=False,
                         generator=torch.Generator().manual_seed(0), teacher=teacher,
                         augment=augment))
    return net


def weights(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def disk_share_unpainted(net, data) -> float:
    """Mean 'disk' probability over the painted slices' unpainted pixels."""
    with torch.no_grad():
        p = torch.softmax(net.eval()(data.images), 1)[:, 1]
    return float(p[data.targets < 0].mean())


def test_no_teacher_or_no_weight_changes_nothing():
    data = prepare_image_data(*image_with_strokes(), CLASSES)
    plain = weights(finetuned(data, keep=0.0))
    torch.testing.assert_close(weights(finetuned(data, keep=1.0)), plain)  # a Train: no teacher
    # the unpainted windows are drawn only where a term needs them: with keep 0 they are not
    assert torch.equal(weights(finetuned(data, keep=0.0, teacher=says_disk_everywhere(data))),
                       plain)


def test_the_teacher_pulls_unpainted_pixels_toward_its_answer():
    data = prepare_image_data(*image_with_strokes(), CLASSES)
    teacher = says_disk_everywhere(data)
    alone = disk_share_unpainted(finetuned(data, keep=0.0, steps=30), data)
    held = disk_share_unpainted(finetuned(data, keep=3.0, teacher=teacher, steps=30), data)
    assert held > alone + 0.2, (held, alone)
    # the painted pixels still speak: the background line stays background
    net = finetuned(data, keep=3.0, teacher=teacher, steps=30)
    with torch.no_grad():
        pred = net.eval()(data.images).argmax(1)
    painted_bg = data.targets == 0
    assert (pred[painted_bg] == 0).float().mean() > 0.9


def test_no_hold_where_the_prior_is_lifted_near_strokes():
    data = prepare_image_data(*image_with_strokes(), CLASSES)
    teacher = says_disk_everywhere(data)

    def with_weights(value):
        return dataclasses.replace(
            data, prior_weight=torch.full_like(data.targets, value, dtype=torch.float32),
            unlabelled_prior_weight=torch.full_like(data.unlabelled[:, 0], value))

    # weights of 0 (every pixel near a structure's strokes): the teacher has no say; a
    # negligible prior makes the weights count, without geometry no pixel comes from outside
    zeros = with_weights(0.0)
    silent = weights(finetuned(zeros, keep=3.0, teacher=teacher, prior=1e-12, augment=False))
    torch.testing.assert_close(
        silent, weights(finetuned(zeros, keep=0.0, teacher=teacher, prior=1e-12, augment=False)))
    ones = with_weights(1.0)  # weights of 1: as without weights
    torch.testing.assert_close(
        weights(finetuned(ones, keep=3.0, teacher=teacher, prior=1e-12, augment=False)),
        weights(finetuned(data, keep=3.0, teacher=teacher, prior=1e-12, augment=False)))
    assert not torch.allclose(silent, weights(finetuned(ones, keep=3.0, teacher=teacher,
                                                        prior=1e-12, augment=False)))
    # weights over 1 (the prior grown past the painted slices) hold no harder than 1
    torch.testing.assert_close(
        weights(finetuned(with_weights(3.0), keep=3.0, teacher=teacher, prior=1e-12,
                          augment=False)),
        weights(finetuned(ones, keep=3.0, teacher=teacher, prior=1e-12, augment=False)))


@pytest.fixture()
def teachers(monkeypatch) -> list:
    """The ``teacher`` each fine-tuning of ``pipeline.train`` is given, in order: None, or
    (its weights, whether it is in training mode)."""
    seen = []
    real = pipeline.STAGE_RUNNERS[Stage.FINETUNE]

    def spy(net, on_device, cfg, **kw):
        teacher = kw.get("teacher")
        seen.append(None if teacher is None else (weights(teacher), teacher.training))
        return real(net, on_device, cfg, **kw)

    monkeypatch.setitem(pipeline.STAGE_RUNNERS, Stage.FINETUNE, spy)
    return seen


@pytest.mark.parametrize("keep", [0.0, 0.5])
def test_only_a_warm_retrain_gets_its_starting_network_as_teacher(keep, teachers):
    data = prepare_image_data(*image_with_strokes(), CLASSES)
    seen = teachers
    cfg = tiny_config()
    cfg.finetune.keep_previous = keep
    cfg.finetune.labels = "strokes"
    first = collect(pipeline.train(data, cfg))[1]
    assert seen == [None]  # Train: nothing to hold on to
    second = collect(pipeline.train(data, cfg, init=first, pretrain=False))[1]
    if keep == 0:
        assert seen[1] is None
    else:
        taught, training = seen[1]
        assert not training
        torch.testing.assert_close(taught, weights(first.net))  # where the Retrain started
        assert not torch.equal(weights(second.net), taught)  # and the student moved on


def test_no_teacher_when_the_classes_changed(teachers):
    """A new class re-makes the segmentation head: the starting network has no answer."""
    seen = teachers
    cfg = tiny_config()
    cfg.finetune.labels = "strokes"
    image, scribbles = image_with_strokes()
    first = collect(pipeline.train(prepare_image_data(image, scribbles, CLASSES), cfg))[1]
    scribbles[1, 14, 14:18] = 3  # a third class
    more = prepare_image_data(image, scribbles, CLASSES + ["ring"])
    collect(pipeline.train(more, cfg, init=first, pretrain=False))
    assert seen == [None, None]
    collect(pipeline.train(prepare_image_data(image, image_with_strokes()[1], CLASSES), cfg,
                           init=first, pretrain=False))
    assert seen[2] is not None  # the same classes: held (keep_previous defaults to 0.5)
