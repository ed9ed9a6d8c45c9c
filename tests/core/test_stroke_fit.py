"""Fine-tuning from strokes goes on until the strokes are fitted (FinetuneConfig.stroke_fit)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from semicl.interactive import TrainControl, prepare_image_data
from semicl.models.network import SegmentationNet
from semicl.events import ProgressEvent, Stage
from semicl.training import stages
from semicl.training.stages import run_finetune, stroke_recall
from test_step_options import image_with_strokes  # tests/core is on sys.path (no package)
from test_training import collect, tiny_config

CLASSES = ["background", "disk"]


def finetune(fresh: bool = True, control=None, **settings):
    """Fine-tune a tiny network from strokes with a preset-like length (epochs set)."""
    data = prepare_image_data(*image_with_strokes(), CLASSES)
    cfg = dataclasses.replace(tiny_config().finetune, steps=1, epochs=0.01, min_steps=0,
                              **{"stroke_min_steps": 6, **settings})
    torch.manual_seed(0)
    net = SegmentationNet(tiny_config().model, data.num_classes)
    events, done = collect(run_finetune(net, data, cfg, device=torch.device("cpu"), amp=False,
                                        generator=torch.Generator().manual_seed(0),
                                        fresh=fresh, control=control))
    return [e for e in events if isinstance(e, ProgressEvent)], done, net, data


def test_unfitted_strokes_keep_training_up_to_the_cap(monkeypatch):
    monkeypatch.setattr(stages, "stroke_recall", lambda net, data: [1.0, 0.5])  # never fitted
    events, done, net, data = finetune(stroke_fit=0.9, stroke_max_steps=250)
    # checks at 4, 104, 204 (every 100 from 2/3 of the 6-step floor); at 204 the anneal
    # (half the steps so far) would pass the cap, so it anneals to the cap
    assert done == 250
    assert [e.step for e in events] == list(range(1, 251))
    assert events[0].total == 6 and events[-1].total == 250
    assert all(a.total <= b.total for a, b in zip(events, events[1:]))  # it only grows


def test_fitted_strokes_anneal_after_the_first_check(monkeypatch):
    _, done, _, _ = finetune(stroke_fit=0.0, stroke_max_steps=1000)  # no check: the floor
    assert done == 6
    monkeypatch.setattr(stages, "stroke_recall", lambda net, data: [1.0, 0.95])
    events, done, _, _ = finetune(stroke_fit=0.95, stroke_max_steps=1000)
    assert done == 4 + 100  # fitted at the first check (step 4), annealed over 100 steps
    assert {e.total for e in events if e.step > 4} == {104}


def test_a_late_fit_anneals_over_half_the_steps(monkeypatch):
    calls = []

    def recall(net, data):
        calls.append(1)
        return [1.0, 0.99 if len(calls) >= 4 else 0.1]  # fitted at the fourth check

    monkeypatch.setattr(stages, "stroke_recall", recall)
    _, done, _, _ = finetune(stroke_fit=0.95, stroke_max_steps=5000)
    assert done == 304 + 152  # checks at 4, 104, 204, 304; then 304 // 2 steps


def test_the_last_step_is_told_as_soon_as_it_is_known(monkeypatch):
    told = []
    control = TrainControl(on_length=lambda at_least, last: told.append((at_least, last)))
    finetune(control=control, stroke_fit=0.0)  # no fit rule: known from the start
    assert told == [(6, 6)]
    told.clear()
    calls = []

    def recall(net, data):
        calls.append(1)
        return [1.0, 0.99 if len(calls) >= 4 else 0.1]  # fitted at the fourth check

    monkeypatch.setattr(stages, "stroke_recall", recall)
    _, done, _, _ = finetune(control=control, stroke_fit=0.95, stroke_max_steps=5000)
    # at least through the next check while not fitted
    assert told == [(4, None), (104, None), (204, None), (304, None), (done, done)]
    assert done == 456


def test_a_warm_retrain_anneals_from_its_own_floor(monkeypatch):
    monkeypatch.setattr(stages, "stroke_recall", lambda net, data: [1.0, 1.0])
    # (a fresh network: test_fitted_strokes_anneal_after_the_first_check)
    floors = dict(stroke_fit=0.95, stroke_min_steps=30, retrain_min_steps=15)
    _, done, _, _ = finetune(fresh=False, **floors)
    assert done == 10 + 100  # a warm Retrain: checked at 2/3 of 15, annealed over 100
    monkeypatch.setattr(stages, "stroke_recall", lambda net, data: [1.0, 0.5])  # corrections
    _, done, _, _ = finetune(fresh=False, stroke_max_steps=130, **floors)
    assert done == 130  # not learnt: trains on up to the cap, as a fresh network would


def test_only_a_fresh_fine_tuning_is_told_so(monkeypatch):
    from semicl.training import pipeline

    seen = []
    real = pipeline.STAGE_RUNNERS[Stage.FINETUNE]

    def spy(net, on_device, cfg, **kw):
        seen.append(kw["fresh"])
        return real(net, on_device, cfg, **kw)

    monkeypatch.setitem(pipeline.STAGE_RUNNERS, Stage.FINETUNE, spy)
    data = prepare_image_data(*image_with_strokes(), CLASSES)
    first = collect(pipeline.train(data, tiny_config()))[1]
    collect(pipeline.train(data, tiny_config(), init=first, pretrain=False))
    # with the pretraining repeated the fine-tuning starts from moved weights: fresh again
    collect(pipeline.train(data, tiny_config(), init=first, pretrain=True))
    assert seen == [True, False, True]


def test_training_stops_once_the_strokes_are_fitted():
    _, done, net, data = finetune(stroke_fit=0.9, stroke_max_steps=1000)
    assert 6 < done < 1000  # not fitted after 6 steps; fitted before the cap
    assert min(stroke_recall(net, data)) >= 0.9


def test_an_explicit_length_is_kept():
    data = prepare_image_data(*image_with_strokes(), CLASSES)
    cfg = dataclasses.replace(tiny_config().finetune, steps=5, epochs=None, stroke_fit=1.0)
    net = SegmentationNet(tiny_config().model, data.num_classes)
    _, done = collect(run_finetune(net, data, cfg, device=torch.device("cpu"), amp=False,
                                   generator=torch.Generator().manual_seed(0)))
    assert done == 5


def test_stroke_recall_counts_each_painted_class():
    data = prepare_image_data(*image_with_strokes(), CLASSES)

    class Constant(torch.nn.Module):  # says "disk" everywhere
        def forward(self, x):
            return torch.stack([torch.zeros_like(x[:, 0]), torch.ones_like(x[:, 0])], 1)

    assert stroke_recall(Constant(), data) == pytest.approx([0.0, 1.0])
