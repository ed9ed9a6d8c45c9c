"""A warm Retrain may hold on to the previous round's answer (FinetuneConfig.keep_previous):
the probabilities the person saw, carried in the training data (TrainingData.previous)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from semicl.data.windows import WindowSampler
from semicl.errors import ShapeMismatchError
from semicl.events import ProgressEvent
from semicl.interactive import answer_slices, prepare_image_data
from semicl.models.network import SegmentationNet
from semicl.training import pipeline
from semicl.training.stages import labelled_batch, run_finetune
from test_step_options import image_with_strokes  # tests/core is on sys.path (no package)
from test_training import collect, tiny_config

CLASSES = ["background", "disk"]


def with_answer(data, disk: float):
    """``data`` carrying the answer 'disk' with probability ``disk`` on every pixel."""
    def answer(like):
        p = torch.full((len(like), 1, *like.shape[2:]), disk, dtype=torch.float16)
        return torch.cat([1 - p, p], 1)

    return dataclasses.replace(data, previous=answer(data.images),
                               unlabelled_previous=answer(data.unlabelled))


def finetuned(data, *, keep: float, steps: int = 4, prior: float = 0.0, augment: bool = True,
              fresh: bool = False):
    cfg = dataclasses.replace(tiny_config().finetune, steps=steps, epochs=None, min_steps=0,
                              labels="strokes", ema_decay=0.0, background_prior=prior, lr=1e-2,
                              affinity_weight=0.0, keep_previous=keep)
    torch.manual_seed(0)
    net = SegmentationNet(tiny_config().model, data.num_classes)
    collect(run_finetune(net, data, cfg, device=torch.device("cpu"), amp=False,
                         generator=torch.Generator().manual_seed(0), augment=augment,
                         fresh=fresh))
    return net


def weights(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def disk_share_unpainted(net, data) -> float:
    """Mean 'disk' probability over the painted slices' unpainted pixels."""
    with torch.no_grad():
        p = torch.softmax(net.eval()(data.images), 1)[:, 1]
    return float(p[data.targets < 0].mean())


def test_no_answer_no_weight_or_a_train_changes_nothing():
    data = prepare_image_data(*image_with_strokes(), CLASSES)
    plain = weights(finetuned(data, keep=0.0))
    torch.testing.assert_close(weights(finetuned(data, keep=1.0)), plain)  # no answer
    held = with_answer(data, 0.99)
    # the unpainted windows are drawn only where a term needs them: with keep 0 they are not
    assert torch.equal(weights(finetuned(held, keep=0.0)), plain)
    # a Train (fresh) has no previous round to hold on to
    assert torch.equal(weights(finetuned(held, keep=1.0, fresh=True)),
                       weights(finetuned(data, keep=1.0, fresh=True)))
    # an answer of other classes (one added since) is not held either
    three = dataclasses.replace(
        held, previous=torch.cat([held.previous, held.previous[:, :1]], 1),
        unlabelled_previous=torch.cat([held.unlabelled_previous,
                                       held.unlabelled_previous[:, :1]], 1))
    assert not three.holds_previous
    torch.testing.assert_close(weights(finetuned(three, keep=1.0)), plain)


def test_the_answer_pulls_unpainted_pixels_toward_it():
    data = prepare_image_data(*image_with_strokes(), CLASSES)
    alone = disk_share_unpainted(finetuned(data, keep=0.0, steps=30), data)
    net = finetuned(with_answer(data, 0.99), keep=3.0, steps=30)
    held = disk_share_unpainted(net, data)
    assert held > alone + 0.2, (held, alone)
    # the painted pixels still speak: the background line stays background
    with torch.no_grad():
        pred = net.eval()(data.images).argmax(1)
    assert (pred[data.targets == 0] == 0).float().mean() > 0.9
    # and an answer of 'background' pulls the other way
    assert disk_share_unpainted(finetuned(with_answer(data, 0.01), keep=3.0, steps=30),
                                data) < alone


def test_the_term_is_the_cross_entropy_toward_the_answer():
    """The first step's loss, without geometry, prior or affinity, is
    ``CE(painted) - keep * mean(sum_c answer_c * log p_c)`` over the unpainted pixels,
    written out here pixel by pixel (a slow, obviously-correct reference)."""
    data = with_answer(prepare_image_data(*image_with_strokes(), CLASSES), 0.7)
    cfg = dataclasses.replace(tiny_config().finetune, steps=1, epochs=None, min_steps=0,
                              labels="strokes", ema_decay=0.0, background_prior=0.0, lr=1e-2,
                              affinity_weight=0.0, keep_previous=2.0, unlabelled_batch=0)

    def first_loss(keep: float) -> float:
        torch.manual_seed(0)
        net = SegmentationNet(tiny_config().model, data.num_classes)
        events, _ = collect(run_finetune(net, data, dataclasses.replace(cfg, keep_previous=keep),
                                         device=torch.device("cpu"), amp=False,
                                         generator=torch.Generator().manual_seed(0),
                                         augment=False, fresh=False))
        return [e.loss for e in events if isinstance(e, ProgressEvent)][0]

    # the reference: the same network and batch (the generator's first draw)
    torch.manual_seed(0)
    ref = SegmentationNet(tiny_config().model, data.num_classes)
    windows = WindowSampler(None, *data.images.shape[2:], data.targets)
    x, y = labelled_batch(windows, data.images, data.targets,
                          cfg.resolved_batch(len(data.images)), torch.Generator().manual_seed(0))
    with torch.no_grad():
        log_p = torch.log_softmax(ref.train()(x).float(), 1)
    painted = y >= 0
    ce = [-float(log_p[b, y[b, i, j], i, j]) for b, i, j in torch.nonzero(painted).tolist()]
    hold = [-(0.3 * float(log_p[b, 0, i, j]) + 0.7 * float(log_p[b, 1, i, j]))
            for b, i, j in torch.nonzero(~painted).tolist()]
    assert first_loss(2.0) == pytest.approx(np.mean(ce) + 2.0 * np.mean(hold), rel=1e-4)
    assert first_loss(0.0) == pytest.approx(np.mean(ce), rel=1e-4)


def test_no_hold_where_the_prior_is_lifted_near_strokes():
    data = with_answer(prepare_image_data(*image_with_strokes(), CLASSES), 0.99)

    def with_weights(value):
        return dataclasses.replace(
            data, prior_weight=torch.full_like(data.targets, value, dtype=torch.float32),
            unlabelled_prior_weight=torch.full_like(data.unlabelled[:, 0], value))

    # weights of 0 (every pixel near a structure's strokes): the answer has no say; a
    # negligible prior makes the weights count, without geometry no pixel comes from outside
    zeros = with_weights(0.0)
    silent = weights(finetuned(zeros, keep=3.0, prior=1e-12, augment=False))
    torch.testing.assert_close(silent, weights(finetuned(zeros, keep=0.0, prior=1e-12,
                                                         augment=False)))
    ones = with_weights(1.0)  # weights of 1: as without weights
    torch.testing.assert_close(weights(finetuned(ones, keep=3.0, prior=1e-12, augment=False)),
                               weights(finetuned(data, keep=3.0, prior=1e-12, augment=False)))
    assert not torch.allclose(silent, weights(finetuned(ones, keep=3.0, prior=1e-12,
                                                        augment=False)))
    # weights over 1 (the prior grown past the painted slices) hold no harder than 1
    torch.testing.assert_close(
        weights(finetuned(with_weights(3.0), keep=3.0, prior=1e-12, augment=False)),
        weights(finetuned(ones, keep=3.0, prior=1e-12, augment=False)))


def test_only_a_warm_retrain_holds_on():
    """pipeline.train: a Train (or a Retrain that pretrains again) is fresh; a warm one holds."""
    data = with_answer(prepare_image_data(*image_with_strokes(), CLASSES), 0.99)
    cfg = tiny_config()
    cfg.finetune.labels = "strokes"
    first = collect(pipeline.train(data, cfg))[1]
    assert torch.equal(weights(first.net),
                       weights(collect(pipeline.train(dataclasses.replace(
                           data, previous=None, unlabelled_previous=None), cfg))[1].net))
    warm = collect(pipeline.train(data, cfg, init=first, pretrain=False))[1]
    cfg.finetune.keep_previous = 0.0
    plain = collect(pipeline.train(data, cfg, init=first, pretrain=False))[1]
    assert not torch.equal(weights(warm.net), weights(plain.net))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_answer_slices_follow_the_image(axis):
    image, scribbles = image_with_strokes()
    probs = np.random.default_rng(axis).random((2, *image.shape)).astype(np.float32)
    sliced = answer_slices(probs, image.shape, axis)
    assert sliced.dtype == torch.float16
    assert sliced.shape == (image.shape[axis], 2, *np.delete(image.shape, axis))
    np.testing.assert_allclose(sliced[1, 0].float().numpy(),
                               np.take(probs[0], 1, axis=axis), rtol=1e-3)
    data = prepare_image_data(np.moveaxis(image, 0, axis), np.moveaxis(scribbles, 0, axis),
                              CLASSES, axis, previous=np.moveaxis(probs, 1, axis + 1))
    # the painted slices (1 and 3) carry their own answer
    np.testing.assert_array_equal(data.previous.numpy(),
                                  data.unlabelled_previous[[1, 3]].numpy())
    assert data.previous.shape[0] == len(data.images) == 2


def test_answer_slices_of_a_2d_image_and_a_wrong_shape():
    probs = np.full((3, 5, 7), 1 / 3, np.float32)
    assert answer_slices(probs, (5, 7), 0).shape == (1, 3, 5, 7)
    with pytest.raises(ShapeMismatchError, match=r"expected \(classes, 5, 7\)"):
        answer_slices(probs[:, :4], (5, 7), 0)
    with pytest.raises(ValueError, match="together"):
        data = prepare_image_data(*image_with_strokes(), CLASSES)
        dataclasses.replace(data, previous=torch.zeros(2, 2, 24, 24))
