"""How optimisation steps run (training/loop.py StepOptions): reading the loss in groups,
the fused optimiser, compiling the network, and giving GPU memory back after training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from semicl.config import TrainConfig
from semicl.device import release_memory
from semicl.errors import SemiclError
from semicl.events import ProgressEvent, Stage, drive
from semicl.inference import predict
from semicl.interactive import prepare_image_data, train_on_image
from semicl.models.network import SegmentationNet
from semicl.training.control import TrainControl
from semicl.training.loop import StepOptions, TrainingDivergedError, optimise
from semicl.training.pipeline import STAGE_RUNNERS
from test_training import collect, tiny_config  # tests/core is on sys.path (no package)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def image_with_strokes(n=5, size=24):
    """A disk on every slice of a noisy image; strokes of both classes on two slices."""
    yy, xx = np.mgrid[:size, :size]
    image = np.zeros((n, size, size), np.float32) + 0.2
    image[:, (yy - 8) ** 2 + (xx - 8) ** 2 < 16] = 0.8
    image += np.random.default_rng(0).normal(0, 0.05, image.shape).astype(np.float32)
    scribbles = np.zeros(image.shape, np.uint8)
    scribbles[1:4:2, 8, 5:11] = 2  # structure
    scribbles[1:4:2, 20, 2:20] = 1  # background
    return image, scribbles


def quadratic_run(read_every: int, *, nan_at: int | None = None, stop_after: int | None = None,
                  steps: int = 10):
    """``optimise`` on a two-parameter quadratic; returns (events, steps done)."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    control = TrainControl()

    def loss_fn(step: int) -> torch.Tensor:
        loss = ((w - 1.0) ** 2).sum()
        return loss * float("nan") if step == nan_at else loss

    def after_step(step: int):
        if step == stop_after:
            control.request_stop()
        return ()

    gen = optimise(Stage.FINETUNE, [w], loss_fn, steps=steps, lr=0.1, weight_decay=0.0,
                   device=torch.device("cpu"), amp=False, control=control,
                   after_step=after_step, options=StepOptions(read_loss_every=read_every))
    return collect(gen)


def progress(events):
    return [(e.step, e.loss) for e in events if isinstance(e, ProgressEvent)]


@pytest.mark.parametrize("read_every", [2, 4, 64])
def test_losses_read_in_groups_are_every_steps_loss_in_order(read_every):
    every, done = quadratic_run(1)
    grouped, done_grouped = quadratic_run(read_every)
    assert done == done_grouped == 10
    assert progress(grouped) == progress(every)
    assert [s for s, _ in progress(grouped)] == list(range(1, 11))


def test_a_nan_in_a_group_names_its_own_step():
    with pytest.raises(TrainingDivergedError, match="at step 6"):
        quadratic_run(4, nan_at=6)


def test_a_stop_inside_a_group_still_reports_the_steps_done():
    events, done = quadratic_run(8, stop_after=3)
    assert done == 3
    assert [s for s, _ in progress(events)] == [1, 2, 3]


def test_options_for_each_device():
    cpu = StepOptions.for_device(torch.device("cpu"))
    assert cpu == StepOptions()  # the CPU runs exactly as before
    cuda = StepOptions.for_device(torch.device("cuda"), "reduce-overhead")
    assert cuda.fused_optimizer and cuda.read_loss_every > 1
    assert cuda.compile_mode == "reduce-overhead"


def test_compile_mode_is_checked_and_set_from_the_command_line():
    with pytest.raises(SemiclError, match="compile must be one of"):
        dataclasses.replace(TrainConfig(), compile="fast").validate()
    from semicl.cli import build_parser, configure

    args = build_parser().parse_args(["train", "--out", "x", "--compile", "reduce-overhead"])
    assert configure(args).compile == "reduce-overhead"
    assert configure(build_parser().parse_args(["train", "--out", "x"])).compile is None


def stage_losses(device: str, options: StepOptions, stage=Stage.FINETUNE, steps=3):
    data = prepare_image_data(*image_with_strokes(), ["background", "disk"])
    cfg = tiny_config()
    stage_cfg = dataclasses.replace(cfg.stages()[stage], steps=steps, epochs=None)
    torch.manual_seed(0)
    net = SegmentationNet(cfg.model, data.num_classes).to(device)
    gen = STAGE_RUNNERS[stage](net, data.to(torch.device(device)), stage_cfg,
                               device=torch.device(device), amp=False,
                               generator=torch.Generator().manual_seed(0), options=options)
    events, done = collect(gen)
    assert done == steps
    return [loss for _, loss in progress(events)]


def test_a_compiled_network_trains_like_the_eager_one():
    eager = stage_losses("cpu", StepOptions())
    compiled = stage_losses("cpu", StepOptions(compile_mode="default"))
    np.testing.assert_allclose(compiled, eager, rtol=1e-3, atol=1e-4)


@needs_cuda
@pytest.mark.gpu
def test_gpu_step_options_train_like_the_plain_steps():
    plain = stage_losses("cuda", StepOptions())
    fast = stage_losses("cuda", StepOptions.for_device(torch.device("cuda")))
    np.testing.assert_allclose(fast, plain, rtol=1e-3, atol=1e-4)
    graphs = stage_losses("cuda", StepOptions.for_device(torch.device("cuda"), "reduce-overhead"))
    np.testing.assert_allclose(graphs, plain, rtol=1e-2, atol=1e-3)


@needs_cuda
@pytest.mark.gpu
def test_training_and_prediction_give_gpu_memory_back():
    release_memory("cuda")  # measured as changes: earlier tests may hold CUDA-graph pools
    allocated, reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
    rng = np.random.default_rng(0)
    image = rng.random((8, 384, 384), dtype=np.float32)
    scribbles = np.zeros(image.shape, np.uint8)
    scribbles[2:4, 10:20, 10:370] = 1
    scribbles[2:4, 80:90, 10:370] = 2
    cfg = tiny_config(device="cuda")
    cfg.model.base_width = 16
    torch.cuda.reset_peak_memory_stats()
    model = drive(train_on_image(image, scribbles, class_names=["background", "thing"],
                                 config=cfg))
    peak = torch.cuda.max_memory_reserved() - reserved
    held = torch.cuda.memory_allocated() - allocated
    weights = sum(t.numel() * t.element_size() for t in model.net.state_dict().values())
    print(f"peak {peak / 2**20:.1f} MiB, held {held / 2**20:.2f} MiB, weights "
          f"{weights / 2**20:.2f} MiB, cached {(torch.cuda.memory_reserved() - reserved) / 2**20:.1f} MiB")
    assert held <= 2 * weights + 2**20  # the network stays, nothing else
    slack = 32 * 2**20  # the allocator frees whole segments: a partly used one stays
    assert torch.cuda.memory_reserved() - reserved <= held + slack < peak
    predict(model.net, image)
    assert torch.cuda.memory_reserved() - reserved <= held + slack
    del model
    release_memory("cuda")
    assert torch.cuda.memory_allocated() == allocated
