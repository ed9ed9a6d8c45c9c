"""The optimisation loop shared by the three stages, as a generator.

Each stage supplies a ``loss_fn(step) -> Tensor`` that draws its own batch; this
module owns the optimiser, learning-rate schedule, mixed precision, stop requests
and progress events.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass

import torch

from semicl.device import autocast, needs_grad_scaler
from semicl.errors import SemiclError
from semicl.events import ProgressEvent, Stage
from semicl.training.control import TrainControl


class TrainingDivergedError(SemiclError):
    """The loss became NaN or infinite."""


#: on a GPU the loss is read back every this many steps (each read waits for the GPU)
GPU_LOSS_READ_EVERY = 8


@dataclass(frozen=True)
class StepOptions:
    """How the optimisation steps run on a device; never what they compute.

    ``fused_optimizer``: AdamW's fused CUDA kernel (one launch for all parameters instead
    of a dozen per group). ``read_loss_every``: the loss goes to the host (and is checked
    for NaN) every this many steps, so the host can queue the next steps while the GPU
    works; every step still yields its :class:`ProgressEvent`, in order, at the read.
    ``compile_mode``: the network's forward passes go through ``torch.compile`` with this
    mode (``None`` = eager); shapes are static within a stage, so it compiles once a stage.
    """

    fused_optimizer: bool = False
    read_loss_every: int = 1
    compile_mode: str | None = None

    @classmethod
    def for_device(cls, device: torch.device, compile_mode: str | None = None) -> StepOptions:
        """The defaults: on CUDA the fused optimiser and a read every
        :data:`GPU_LOSS_READ_EVERY` steps; elsewhere a read every step (as before)."""
        cuda = device.type == "cuda"
        return cls(fused_optimizer=cuda, read_loss_every=GPU_LOSS_READ_EVERY if cuda else 1,
                   compile_mode=compile_mode)

    def compiled(self, fn: Callable) -> Callable:
        """``fn`` (a network method), compiled when ``compile_mode`` is set."""
        if self.compile_mode is None:
            return fn
        return torch.compile(fn, mode=self.compile_mode, dynamic=False)


@dataclass(frozen=True)
class FitUntil:
    """A training length decided while training: after the warm-up the rate stays
    constant; from step ``first`` on, every ``every`` steps, ``fitted()`` is asked; once
    it says yes (or ``max_steps`` would be passed) the rate anneals (cosine) over half the
    steps done so far (at least ``every``), and training ends there."""

    fitted: Callable[[], bool]
    first: int
    max_steps: int
    every: int = 100


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
    options: StepOptions = StepOptions(),
    until: FitUntil | None = None,
    on_length: Callable[[int, int | None], None] | None = None,
) -> Generator[object, None, int]:
    """Run ``steps`` AdamW steps with a warm-up + cosine schedule; yield a ProgressEvent each step.

    ``after_step(step)`` may yield extra events (e.g. previews) between steps.
    ``options`` (:class:`StepOptions`) sets how the steps run, not what they compute.
    ``until`` (:class:`FitUntil`): the length is decided while training instead (``steps``
    only sets the warm-up and the first total shown); each event's ``total`` is the
    length known at that step.
    ``on_length(at_least, last)`` (:attr:`TrainControl.on_length`), on the training
    thread, before the first step and after each of ``until``'s checks: the steps run
    through ``at_least`` (but for a stop), and the last step once decided (else None).
    Returns the number of steps completed (fewer than planned after a stop request).
    """
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay,
                            **({"fused": True} if options.fused_optimizer else {}))
    warmup = max(1, min(50, steps // 10))
    # the cosine's (start, length): fixed, or decided when ``until`` finds the fit
    anneal = [warmup, max(1, steps - warmup)] if until is None else [None, 1]
    total = steps if until is None else max(steps, until.first)  # grows at each check

    def lr_factor(i: int) -> float:
        if i < warmup:
            return (i + 1) / warmup
        if anneal[0] is None:
            return 1.0
        progress = max(0, i - anneal[0]) / anneal[1]
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    scaler = torch.amp.GradScaler(device.type, enabled=needs_grad_scaler(device, amp))
    t0 = time.perf_counter()
    done = 0
    unread: list[torch.Tensor] = []  # losses of steps done + 1 - len(unread) .. done

    def read() -> Iterable[ProgressEvent]:
        values = torch.stack(unread).tolist() if len(unread) > 1 else [float(unread[0])]
        unread.clear()
        elapsed = time.perf_counter() - t0
        for step, value in enumerate(values, start=done + 1 - len(values)):
            if not math.isfinite(value):
                raise TrainingDivergedError(
                    f"{stage.title}: the loss became {value} at step {step}; lower the "
                    "learning rate or check the image for extreme values."
                )
            yield ProgressEvent(stage, step, total, value, elapsed)

    if on_length is not None:
        on_length(total if until is None else until.first,
                  total if until is None else None)
    step = 0
    while step < total:
        step += 1
        if control is not None and control.stop_requested:
            break
        with autocast(device, amp):
            loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        unread.append(loss.detach().float())
        done = step
        if until is not None and anneal[0] is None and step >= until.first \
                and (step - until.first) % until.every == 0:
            length = max(until.every, step // 2)
            if step + length >= until.max_steps or until.fitted():
                anneal[:] = [step, max(1, min(length, until.max_steps - step))]
                total = step + anneal[1]
            else:
                total = step + until.every
            if on_length is not None:  # not fitted: at least up to the next check
                on_length(total, total if anneal[0] is not None else None)
        if len(unread) >= options.read_loss_every or step == total:
            yield from read()
        if after_step is not None:
            yield from after_step(step)
    if unread:
        yield from read()
    return done


def draw_indices(n: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """``batch_size`` random indices in ``[0, n)`` (without replacement when possible)."""
    if n <= 0:
        raise SemiclError("No slices to train on.")
    if batch_size <= n:
        return torch.randperm(n, generator=generator)[:batch_size]
    return torch.randint(0, n, (batch_size,), generator=generator)
