"""One interactive round (semicl.interactive.training_round), headless: first look,
stages, Stop, Retrain and the whole-image prediction, as the plugin and the CLI run it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from semicl.config import FinetuneConfig, GlobalConfig, LocalConfig, ModelConfig, TrainConfig
from semicl.errors import ShapeMismatchError
from semicl.events import PreviewEvent, ProgressEvent, Stage, drive
from semicl.interactive import RoundResult, TrainControl, prepare_image_data, training_round
from semicl.islands import keep_stroked_islands
from semicl.pixel_forest import PixelForest
from semicl.scribbles import scribble_volume
from semicl.training.trained_model import TrainedModel

CLASSES = ["background", "disk", "square"]
SHAPE = (6, 24, 28)


def tiny_config(**kw) -> TrainConfig:
    cfg = TrainConfig(
        model=ModelConfig(base_width=4, depth=2, global_dim=8, local_dim=8),
        global_stage=GlobalConfig(steps=3, batch_size=4),
        local_stage=LocalConfig(steps=2, batch_size=2, mode="exact", max_anchors=64),
        finetune=FinetuneConfig(steps=4, batch_size=2),
        seed=0, device="cpu",
    )
    return dataclasses.replace(cfg, **kw)


def volume(axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An image (Z, Y, X) of a disk and a square in every slice, and simulated strokes on
    two slices along ``axis`` (each crossing both structures)."""
    zz, yy, xx = np.indices(SHAPE)
    mask = np.zeros(SHAPE, np.uint8)
    mask[((yy - 8) ** 2 + (xx - 9) ** 2 < 20) & (zz > 0) & (zz < 5)] = 1
    mask[(abs(yy - 17) < 4) & (abs(xx - 18) < 4) & (zz > 0) & (zz < 5)] = 2
    rng = np.random.default_rng(0)
    image = (0.2 + 0.4 * (mask == 1) + 0.8 * (mask == 2)).astype(np.float32)
    image += rng.normal(0, 0.05, SHAPE).astype(np.float32)
    slices = {0: [1, 3], 1: [8, 17], 2: [9, 18]}[axis]
    scribbles = scribble_volume(mask, slices, axis, rng=np.random.default_rng(0))
    assert set(np.unique(scribbles).tolist()) == {0, 1, 2, 3}, "strokes of every class"
    return image, scribbles


def run(gen, on_event=None) -> tuple[list, RoundResult]:
    events = []

    def seen(ev):
        events.append(ev)
        if on_event is not None:
            on_event(ev)

    return events, drive(gen, seen)


def stages(events, kind=ProgressEvent) -> list[Stage]:
    return [e.stage for e in events if isinstance(e, kind)]


def test_first_look_runs_before_pretraining_and_shows_the_viewed_slice():
    image, scribbles = volume()
    control = TrainControl(preview_slice=2, preview_every_s=1e9)
    events, result = run(training_round(image, scribbles, class_names=CLASSES,
                                        config=tiny_config(), control=control,
                                        first_look=True))
    progress = stages(events)
    assert progress.count(Stage.FIRST_LOOK) == 2, "started, then done"
    assert all(e.loss is None for e in events if isinstance(e, ProgressEvent)
               and e.stage is Stage.FIRST_LOOK), "no network trains in the first look"
    assert progress.index(Stage.GLOBAL) > max(i for i, s in enumerate(progress)
                                              if s is Stage.FIRST_LOOK)
    order = [s for i, s in enumerate(progress) if i == 0 or s is not progress[i - 1]]
    assert order == [Stage.FIRST_LOOK, Stage.GLOBAL, Stage.LOCAL, Stage.FINETUNE, Stage.PREDICT]
    looks = [e for e in events if isinstance(e, PreviewEvent) and e.stage is Stage.FIRST_LOOK]
    assert len(looks) == 1 and looks[0].slice_index == 2
    assert looks[0].mask.shape == SHAPE[1:] and looks[0].mask.dtype == np.uint8
    # the overlay is the pixel forest's on the strokes, shown before the network's steps
    data = prepare_image_data(image, scribbles, CLASSES)
    forest = PixelForest(zip(data.images[:, 0].numpy(), data.targets.numpy()), seed=0)
    assert np.array_equal(looks[0].mask, forest.predict(data.preview[2, 0].numpy()))
    progress_events = [i for i, e in enumerate(events) if isinstance(e, ProgressEvent)]
    assert looks[0].step == 0 and progress_events[0] < events.index(looks[0]) \
        < progress_events[1], "the overlay between the first look's start and its end"
    first_global = next(i for i, e in enumerate(events) if getattr(e, "stage", None)
                        is Stage.GLOBAL)
    assert events.index(looks[0]) < first_global, "the first overlay comes before pretraining"
    assert not result.stopped and result.model.finetuned
    assert result.model.config.global_stage.enabled


def test_the_first_overlays_forest_learns_from_a_few_painted_slices(monkeypatch):
    import semicl.interactive as interactive

    monkeypatch.setattr(interactive, "FIRST_LOOK_FOREST_SLICES", 1)
    image, scribbles = volume()
    control = TrainControl(preview_slice=3, preview_every_s=1e9)
    events, _ = run(training_round(image, scribbles, class_names=CLASSES, config=tiny_config(),
                                   control=control, first_look=True, predict=False),
                    lambda ev: control.request_stop() if isinstance(ev, PreviewEvent) else None)
    data = prepare_image_data(image, scribbles, CLASSES)
    assert len(data.images) == 2
    first = PixelForest(zip(data.images[:1, 0].numpy(), data.targets[:1].numpy()), seed=0)
    shown = next(e for e in events if isinstance(e, PreviewEvent))
    assert np.array_equal(shown.mask, first.predict(data.preview[3, 0].numpy()))


def test_no_first_look_without_pretraining_a_viewed_slice_or_asking():
    image, scribbles = volume()
    cfg = tiny_config()
    cfg.global_stage.enabled = cfg.local_stage.enabled = False
    events, _ = run(training_round(image, scribbles, class_names=CLASSES, config=cfg,
                                   control=TrainControl(preview_slice=2), first_look=True))
    assert set(stages(events)) == {Stage.FINETUNE, Stage.PREDICT}
    events, _ = run(training_round(image, scribbles, class_names=CLASSES, config=tiny_config(),
                                   first_look=True))  # no slice in view
    assert Stage.FIRST_LOOK not in stages(events)
    events, _ = run(training_round(image, scribbles, class_names=CLASSES, config=tiny_config(),
                                   control=TrainControl(preview_slice=2)))
    assert Stage.FIRST_LOOK not in stages(events)


@pytest.mark.parametrize("axis", [0, 2])
def test_round_predicts_the_whole_image_with_entropy(axis):
    image, scribbles = volume(axis)
    _, result = run(training_round(image, scribbles, class_names=CLASSES, config=tiny_config(),
                                   axis=axis))
    assert result.axis == axis and not result.stopped
    assert result.mask.shape == SHAPE and result.entropy.shape == SHAPE
    assert result.entropy.dtype == np.float32
    assert 0 <= result.entropy.min() and result.entropy.max() <= np.log(len(CLASSES)) + 1e-4
    # the round predicts from the volume it normalised for training: same as predicting
    # the raw image afresh
    again = result.model.predict(image, axis=axis)
    np.testing.assert_array_equal(result.mask, again.mask)


def test_keep_islands_keeps_only_the_pieces_touching_strokes():
    image, scribbles = volume()
    _, result = run(training_round(image, scribbles, class_names=CLASSES, config=tiny_config(),
                                   keep_islands=True))
    raw = result.model.predict(image, axis=0).mask
    np.testing.assert_array_equal(result.mask, keep_stroked_islands(raw, scribbles))
    # every structure piece left holds a stroke of its class
    from scipy import ndimage as ndi

    for c in range(1, len(CLASSES)):
        pieces, n = ndi.label(result.mask == c, np.ones((3, 3, 3)))
        for i in range(1, n + 1):
            assert (scribbles[pieces == i] == c + 1).any()


def test_round_on_a_2d_image():
    image, scribbles = volume()
    _, result = run(training_round(image[1], scribbles[1], class_names=CLASSES,
                                   config=tiny_config()))
    assert result.mask.shape == SHAPE[1:] and result.entropy.shape == SHAPE[1:]


def stop_on(control: TrainControl, stage: Stage):
    """An ``on_event`` for :func:`run` that presses Stop at the first step of ``stage``."""
    def on_event(ev):
        if isinstance(ev, ProgressEvent) and ev.stage is stage:
            control.request_stop()
    return on_event


def test_stop_during_pretraining_returns_the_pretrained_network_without_a_mask():
    """The first look shows the forest's overlay; it trains no network of its own, so a
    Stop in pretraining returns the network pretrained so far (Retrain fine-tunes it)."""
    image, scribbles = volume()
    control = TrainControl(preview_slice=2, preview_every_s=1e9)
    events, result = run(training_round(image, scribbles, class_names=CLASSES,
                                        config=tiny_config(), control=control, first_look=True),
                         stop_on(control, Stage.GLOBAL))
    assert stages(events, PreviewEvent) == [Stage.FIRST_LOOK]
    assert stages(events).count(Stage.GLOBAL) == 1, "stopped after the current step"
    assert not {Stage.LOCAL, Stage.FINETUNE, Stage.PREDICT} & set(stages(events))
    assert result.stopped and not result.model.finetuned
    assert result.model.config.global_stage.enabled
    assert result.mask is None and result.entropy is None and result.probs is None


def test_stop_during_the_first_look_skips_pretraining():
    image, scribbles = volume()
    control = TrainControl(preview_slice=2, preview_every_s=1e9)
    events, result = run(training_round(image, scribbles, class_names=CLASSES,
                                        config=tiny_config(), control=control, first_look=True),
                         stop_on(control, Stage.FIRST_LOOK))
    assert set(stages(events)) == {Stage.FIRST_LOOK}
    assert result.stopped and not result.model.finetuned and result.mask is None


def test_stop_before_any_finetuning_without_first_look():
    image, scribbles = volume()
    control = TrainControl()
    control.request_stop()
    events, result = run(training_round(image, scribbles, class_names=CLASSES,
                                        config=tiny_config(), control=control))
    assert result.stopped and not result.model.finetuned
    assert result.mask is None and result.entropy is None
    assert Stage.PREDICT not in stages(events)


def test_retrain_fine_tunes_only():
    image, scribbles = volume()
    _, first = run(training_round(image, scribbles, class_names=CLASSES, config=tiny_config()))
    assert first.probs.shape == (len(CLASSES), *SHAPE) and first.probs.dtype == np.float16
    assert (first.probs.argmax(0) == first.mask).mean() > 0.99  # float16: near-ties may differ
    cfg = tiny_config()
    cfg.finetune.steps = 2
    control = TrainControl(preview_slice=1, preview_every_s=0.0)
    events, second = run(training_round(image, scribbles, class_names=CLASSES, config=cfg,
                                        init=first.model, pretrain=False, control=control,
                                        first_look=True, previous=first.probs))
    assert stages(events) == [Stage.FINETUNE] * 2 + [Stage.PREDICT]
    assert set(stages(events, PreviewEvent)) == {Stage.FINETUNE}
    assert second.model.finetuned and second.mask.shape == SHAPE and not second.stopped


def weights(model) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in model.net.parameters()])


def test_a_retrain_without_the_answer_works_it_out_once():
    """A model opened from disk comes without the probabilities it showed: the Retrain
    predicts the image first and holds on to that answer, as if it had been handed on."""
    image, scribbles = volume()
    _, first = run(training_round(image, scribbles, class_names=CLASSES, config=tiny_config()))
    cfg = tiny_config()
    cfg.finetune.steps = 3

    def retrain(**kw):
        return run(training_round(image, scribbles, class_names=CLASSES, config=cfg,
                                  init=first.model, pretrain=False, **kw))

    events, worked_out = retrain()
    assert stages(events) == [Stage.PREDICT, *[Stage.FINETUNE] * 3, Stage.PREDICT]
    _, handed = retrain(previous=first.probs)
    np.testing.assert_array_equal(weights(worked_out.model), weights(handed.model))
    # the answer is held on to: another answer trains other weights
    _, other = retrain(previous=np.ones_like(first.probs) / len(CLASSES))
    assert not np.array_equal(weights(other.model), weights(handed.model))
    # nothing is held (nor worked out) without the term
    cfg.finetune.keep_previous = 0.0
    events, plain = retrain()
    assert stages(events) == [*[Stage.FINETUNE] * 3, Stage.PREDICT]
    np.testing.assert_array_equal(weights(retrain(previous=first.probs)[1].model),
                                  weights(plain.model))


def test_a_previous_answer_of_another_shape_is_refused():
    image, scribbles = volume()
    _, first = run(training_round(image, scribbles, class_names=CLASSES, config=tiny_config(),
                                  predict=False))
    with pytest.raises(ShapeMismatchError, match="previous answer"):
        run(training_round(image, scribbles, class_names=CLASSES, config=tiny_config(),
                           init=first.model, pretrain=False,
                           previous=np.zeros((len(CLASSES), *SHAPE[1:]), np.float16)))


def test_predict_false_returns_no_mask():
    image, scribbles = volume()
    events, result = run(training_round(image, scribbles, class_names=CLASSES,
                                        config=tiny_config(), predict=False))
    assert result.mask is None and result.entropy is None
    assert result.model.finetuned and not result.stopped
    assert Stage.PREDICT not in stages(events)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@needs_cuda
@pytest.mark.gpu
def test_a_round_and_a_warm_retrain_run_on_cuda_and_open_on_a_cpu(tmp_path):
    """The plugin's round on a GPU, as a user with one runs it: two networks on windows of
    slices larger than a window (batch norm, bf16 autocast), the answer handed to a warm
    Retrain, then the model saved and opened on a CPU, where it predicts the same mask."""
    image, scribbles = volume()
    image, scribbles = (np.repeat(np.repeat(a, 3, axis=1), 3, axis=2)  # 72 x 84 > a window
                        for a in (image, scribbles))
    cfg = tiny_config(device="cuda", members=2, patch_size=32)
    _, first = run(training_round(image, scribbles, class_names=CLASSES, config=cfg))
    assert first.model.device.type == "cuda"
    assert first.probs.dtype == np.float16 and first.probs.shape == (len(CLASSES), *image.shape)
    _, second = run(training_round(image, scribbles, class_names=CLASSES, config=cfg,
                                   init=first.model, pretrain=False, previous=first.probs))
    assert second.model.device.type == "cuda" and second.model.finetuned
    assert second.mask.shape == image.shape and not second.stopped
    on_cpu = TrainedModel.load(second.model.save(tmp_path / "model.pt"), device="cpu")
    assert on_cpu.device.type == "cpu"
    same = (on_cpu.predict(image, axis=0).mask == second.model.predict(image, axis=0).mask)
    assert same.mean() > 0.98  # bf16 on the GPU, float32 on the CPU: near-ties may differ
