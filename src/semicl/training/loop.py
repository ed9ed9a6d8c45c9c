"""The optimisation loop shared by the three stages, as a generator.

Each stage supplies a ``loss_fn(step) -> Tensor`` that draws its own batch; this
module owns the optimiser, learning-rate schedule, mixed precision, stop requests
and progress events.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterable

import torch

from semicl.device import autocast, needs_grad_scaler
from semicl.errors import SemiclError
from semicl.training.control import TrainControl
from semicl.training.events import ProgressEvent, Stage


class TrainingDivergedError(SemiclError):
    """The loss became NaN or infinite."""


def optimise(
    stage: Stage,
    params: Iterable[torch.nn.Parameter],
    loss_fn: Callable[[int], torch.Tensor],
    *,
    steps: int,
    lr: float,
    weight_decay: float,
    device: torch.device,
    amp: bool,
    control: TrainControl | None = None,
    after_step: Callable[[int], Iterable[object]] | None = None,
) -> Generator[object, None, int]:
    """Run ``steps`` AdamW steps with a warm-up + cosine schedule; yield a ProgressEvent each step.

    ``after_step(step)`` may yield extra events (e.g. previews) between steps.
    Returns the number of steps completed (fewer than ``steps`` after a stop request).
    """
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    warmup = max(1, min(50, steps // 10))

    def lr_factor(i: int) -> float:
        if i < warmup:
            return (i + 1) / warmup
        progress = (i - warmup) / max(1, steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    scaler = torch.amp.GradScaler(device.type, enabled=needs_grad_scaler(device, amp))
    t0 = time.perf_counter()
    done = 0
    for step in range(1, steps + 1):
        if control is not None and control.stop_requested:
            break
        with autocast(device, amp):
            loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingDivergedError(
                f"{stage.title}: the loss became {value} at step {step}; lower the learning "
                "rate or check the image for extreme values."
            )
        done = step
        yield ProgressEvent(stage, step, steps, value, time.perf_counter() - t0)
        if after_step is not None:
            yield from after_step(step)
    return done


def draw_indices(n: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """``batch_size`` random indices in ``[0, n)`` (without replacement when possible)."""
    if n <= 0:
        raise SemiclError("No slices to train on.")
    if batch_size <= n:
        return torch.randperm(n, generator=generator)[:batch_size]
    return torch.randint(0, n, (batch_size,), generator=generator)
