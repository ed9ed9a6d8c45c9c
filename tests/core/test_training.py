"""The stage generators and the pipeline on a tiny synthetic volume."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from semicl.config import FinetuneConfig, GlobalConfig, LocalConfig, ModelConfig, TrainConfig
from semicl.errors import CheckpointError, DeviceError, InvalidImageError, LabelError, ShapeMismatchError
from semicl.events import PreviewEvent, ProgressEvent, Stage, drive
from semicl.interactive import TrainControl, train_on_image, validate_training_input
from semicl.training.trained_model import TrainedModel

CLASSES = ["background", "disk", "square"]


def tiny_config(**kw) -> TrainConfig:
    cfg = TrainConfig(
        model=ModelConfig(base_width=4, depth=2, global_dim=8, local_dim=8),
        global_stage=GlobalConfig(steps=3, batch_size=4),
        local_stage=LocalConfig(steps=3, batch_size=2, mode="exact", max_anchors=64),
        finetune=FinetuneConfig(steps=4, batch_size=2),
        seed=0, device="cpu",
    )
    return dataclasses.replace(cfg, **kw)


def synthetic(n=5, size=24):
    yy, xx = np.mgrid[:size, :size]
    image = np.zeros((n, size, size), np.float32)
    truth = np.zeros((n, size, size), np.uint8)
    for z in range(n):
        disk = (yy - 8) ** 2 + (xx - 8) ** 2 < 16
        square = (abs(yy - 17) < 4) & (abs(xx - 16) < 4)
        image[z] = 0.2 + 0.5 * disk + 0.8 * square
        truth[z][disk] = 1
        truth[z][square] = 2
    image += np.random.default_rng(0).normal(0, 0.05, image.shape).astype(np.float32)
    scribbles = np.zeros_like(truth)
    for z in (1, 3):  # strokes on two slices: scribble = class + 1
        scribbles[z, 8, 5:11] = 2
        scribbles[z, 17, 13:19] = 3
        scribbles[z, 2, 2:20] = 1
    return image, scribbles, truth


def collect(gen):
    events = []
    return events, drive(gen, events.append)


def test_pipeline_runs_stages_in_order_and_returns_model():
    image, scribbles, _ = synthetic()
    before = scribbles.copy()
    events, model = collect(train_on_image(image, scribbles, class_names=CLASSES,
                                           config=tiny_config()))
    progress = [e for e in events if isinstance(e, ProgressEvent)]
    stages = [e.stage for e in progress]
    assert stages == [Stage.GLOBAL] * 3 + [Stage.LOCAL] * 3 + [Stage.FINETUNE] * 4
    for stage in (Stage.GLOBAL, Stage.LOCAL, Stage.FINETUNE):
        steps = [e.step for e in progress if e.stage == stage]
        assert steps == list(range(1, len(steps) + 1))
        assert all(e.total == len(steps) for e in progress if e.stage == stage)
    assert all(np.isfinite(e.loss) for e in progress)
    assert isinstance(model, TrainedModel) and model.finetuned and not model.stopped
    assert len(model.history) == 10
    np.testing.assert_array_equal(scribbles, before)  # training never edits scribbles
    pred = model.predict(image)
    assert pred.mask.shape == image.shape and pred.probs.shape == (3, *image.shape)
    np.testing.assert_allclose(pred.probs.sum(0), 1.0, atol=1e-5)


@pytest.mark.parametrize("mode", ["stride", "block", "self"])
def test_local_modes_run(mode):
    image, scribbles, _ = synthetic()
    cfg = tiny_config()
    cfg.local_stage.mode = mode
    cfg.local_stage.stride, cfg.local_stage.block_size = 2, 8
    cfg.global_stage.enabled = False
    cfg.finetune.steps = 1
    events, model = collect(train_on_image(image, scribbles, class_names=CLASSES, config=cfg))
    local = [e for e in events if isinstance(e, ProgressEvent) and e.stage == Stage.LOCAL]
    assert len(local) == 3 and all(np.isfinite(e.loss) for e in local)


def test_seeded_runs_repeat():
    image, scribbles, _ = synthetic()
    losses = []
    for _ in range(2):
        events, _ = collect(train_on_image(image, scribbles, class_names=CLASSES,
                                           config=tiny_config()))
        losses.append([e.loss for e in events if isinstance(e, ProgressEvent)])
    assert losses[0] == losses[1]


def test_stop_request_returns_last_model():
    image, scribbles, _ = synthetic()
    control = TrainControl()
    gen = train_on_image(image, scribbles, class_names=CLASSES, config=tiny_config(),
                         control=control)
    seen = []

    def stop_at_second_finetune_step(event):
        seen.append(event)
        if isinstance(event, ProgressEvent) and event.stage == Stage.FINETUNE and event.step == 2:
            control.request_stop()

    model = drive(gen, stop_at_second_finetune_step)
    assert model.stopped and model.finetuned
    assert [e.step for e in seen if e.stage == Stage.FINETUNE] == [1, 2]


def test_stop_before_finetuning_reports_not_finetuned():
    image, scribbles, _ = synthetic()
    control = TrainControl()
    control.request_stop()
    _, model = collect(train_on_image(image, scribbles, class_names=CLASSES,
                                      config=tiny_config(), control=control))
    assert model.stopped and not model.finetuned


def test_generator_close_mid_stage():
    image, scribbles, _ = synthetic()
    gen = train_on_image(image, scribbles, class_names=CLASSES, config=tiny_config())
    next(gen)
    gen.close()  # must not raise


def test_preview_events_while_finetuning():
    image, scribbles, _ = synthetic()
    control = TrainControl(preview_slice=2, preview_every_s=0.0)
    events, _ = collect(train_on_image(image, scribbles, class_names=CLASSES,
                                       config=tiny_config(), control=control))
    previews = [e for e in events if isinstance(e, PreviewEvent)]
    assert len(previews) == 4
    assert all(p.slice_index == 2 and p.mask.shape == (24, 24) and p.mask.dtype == np.uint8
               for p in previews)


def test_warm_start_skips_pretraining_and_keeps_weights(tmp_path):
    image, scribbles, _ = synthetic()
    _, first = collect(train_on_image(image, scribbles, class_names=CLASSES, config=tiny_config()))
    cfg = tiny_config()
    cfg.finetune.steps = 0
    events, second = collect(train_on_image(image, scribbles, class_names=CLASSES, config=cfg,
                                            init=first, pretrain=False))
    assert events == []
    for a, b in zip(first.net.state_dict().values(), second.net.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    # a new class re-makes only the segmentation head
    scribbles4 = scribbles.copy()
    scribbles4[1, 20, 2:6] = 4
    cfg.finetune.steps = 2
    events, third = collect(train_on_image(image, scribbles4, class_names=CLASSES + ["rim"],
                                           config=cfg, init=first, pretrain=False))
    assert {e.stage for e in events} == {Stage.FINETUNE} and third.num_classes == 4


def test_checkpoint_round_trip(tmp_path):
    image, scribbles, _ = synthetic()
    _, model = collect(train_on_image(image, scribbles, class_names=CLASSES, config=tiny_config()))
    path = model.save(tmp_path / "run" / "model.pt")
    again = TrainedModel.load(path, device="cpu")
    assert again.class_names == CLASSES and again.config == model.config
    assert again.history == model.history
    np.testing.assert_array_equal(again.predict(image).mask, model.predict(image).mask)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        TrainedModel.load(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        TrainedModel.load(bad)


def test_checkpoint_never_half_written(tmp_path, monkeypatch):
    image, scribbles, _ = synthetic()
    _, model = collect(train_on_image(image, scribbles, class_names=CLASSES, config=tiny_config()))
    path = model.save(tmp_path / "model.pt")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("pathlib.Path.write_bytes", boom)
    with pytest.raises(OSError):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda im, sc: (im, sc[:, :-1]), ShapeMismatchError, "shape"),
        (lambda im, sc: (im, np.zeros_like(sc)), LabelError, "No labelled pixels"),
        (lambda im, sc: (im, np.where(sc > 0, 1, 0)), LabelError, "Only one class"),
        (lambda im, sc: (im, np.where(sc == 1, 0, sc)), LabelError, "No background"),
        (lambda im, sc: (np.where(sc > 0, np.nan, im), sc), InvalidImageError, "NaN|finite"),
        (lambda im, sc: (np.ones_like(im), sc), InvalidImageError, "constant"),
        (lambda im, sc: (im[None], sc[None]), InvalidImageError, "4-D|2-D image"),
        (lambda im, sc: (im, np.where(sc > 0, 9, 0)), LabelError, "classes"),
    ],
)
def test_bad_inputs_raise_before_training(make, error, match):
    image, scribbles, _ = synthetic()
    image, scribbles = make(image, scribbles)
    with pytest.raises(error, match=match):
        next(train_on_image(image, scribbles, class_names=CLASSES, config=tiny_config()))


def test_validate_training_input_is_synchronous():
    image, scribbles, _ = synthetic()
    targets = validate_training_input(image, scribbles, CLASSES)
    assert targets.min() == -1 and targets.max() == 2


def test_cuda_requested_but_absent(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    image, scribbles, _ = synthetic()
    with pytest.raises(DeviceError, match="cpu"):
        next(train_on_image(image, scribbles, class_names=CLASSES,
                            config=tiny_config(device="cuda")))


def test_predict_iter_events():
    image, scribbles, _ = synthetic()
    _, model = collect(train_on_image(image, scribbles, class_names=CLASSES, config=tiny_config()))
    events, pred = collect(model.predict_iter(image, batch_size=2))
    assert [e.step for e in events] == [1, 2, 3] and all(e.total == 3 for e in events)
    assert pred.mask.shape == image.shape
    assert drive(model.predict_iter(image[2])).mask.shape == image[2].shape


def test_prediction_batch_follows_the_slice_size_on_a_cpu(monkeypatch):
    from semicl import inference
    from semicl.inference import MAX_BATCH, prediction_batch

    cpu, gpu = torch.device("cpu"), torch.device("meta")
    budget = inference.CPU_BATCH_PIXELS
    assert prediction_batch(181, 217, cpu) == budget // (181 * 217) >= 1  # Colin27's slices
    assert prediction_batch(42, 51, cpu) == MAX_BATCH                   # MSD's: capped
    assert prediction_batch(2048, 2048, cpu) == 1                       # never none
    assert prediction_batch(2048, 2048, gpu) == MAX_BATCH               # a GPU: as before
    # the image is cut into batches of that many slices, with the same answer as explicit ones
    image, scribbles, _ = synthetic()
    _, model = collect(train_on_image(image, scribbles, class_names=CLASSES, config=tiny_config()))
    monkeypatch.setattr(inference, "CPU_BATCH_PIXELS", 2 * 24 * 24)
    events, auto = collect(model.predict_iter(image))
    assert [e.total for e in events] == [3, 3, 3]
    explicit = drive(model.predict_iter(image, batch_size=5))
    np.testing.assert_allclose(auto.probs, explicit.probs, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        drive(model.predict_iter(image, batch_size=0))


@pytest.mark.parametrize("flip", [False, True])
def test_flip_setting_reaches_every_stage(flip, monkeypatch):
    import semicl.training.stages as stages

    made = []
    real = stages.SpatialAugment

    def spy(**kw):
        made.append(kw.get("flip"))
        return real(**kw)

    monkeypatch.setattr(stages, "SpatialAugment", spy)
    image, scribbles, _ = synthetic()
    collect(train_on_image(image, scribbles, class_names=CLASSES, config=tiny_config(flip=flip)))
    assert made == [flip, flip, flip]  # global, local, fine-tuning


def test_windowed_training_on_slices_larger_than_the_patch(monkeypatch):
    """patch_size: every stage trains on windows; prediction still covers whole slices."""
    from semicl.models.unet import UNet

    sizes = []
    real = UNet.encode

    def spy(self, x):
        sizes.append(tuple(x.shape[-2:]))
        return real(self, x)

    monkeypatch.setattr(UNet, "encode", spy)
    image, scribbles, _ = synthetic(size=40)
    cfg = tiny_config(patch_size=16)
    _, model = collect(train_on_image(image, scribbles, class_names=CLASSES, config=cfg))
    assert sizes and set(sizes) == {(16, 16)}  # global, local and fine-tuning steps
    assert model.predict(image).mask.shape == image.shape
    assert model.config.model.norm == "batch"  # "auto" resolved and saved with the model
