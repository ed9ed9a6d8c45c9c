"""Chain the stages: global -> local -> fine-tune, each skippable, warm-startable."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Generator

import torch

from semicl.config import TrainConfig
from semicl.device import release_memory, resolve_device, seed_everything, set_cpu_threads
from semicl.events import ProgressEvent, Stage, relay
from semicl.models.network import SegmentationNet
from semicl.training.control import TrainControl
from semicl.training.data import TrainingData
from semicl.training.loop import StepOptions
from semicl.training.stages import run_finetune, run_global, run_local
from semicl.training.trained_model import TrainedModel

#: seeding torch's global RNG and drawing a fresh network's weights from it happen under
#: this lock, so networks trained side by side (``semicl.training.members``) each start
#: from their own seed's weights; every later draw uses the run's own ``generator``
_SEED_LOCK = threading.Lock()

#: the generator that runs each of ``TrainConfig.stages()``
STAGE_RUNNERS = {Stage.GLOBAL: run_global, Stage.LOCAL: run_local, Stage.FINETUNE: run_finetune}


def initial_net(config: TrainConfig, num_classes: int, init: TrainedModel | None,
                device: torch.device) -> SegmentationNet:
    """A fresh network, or a copy of ``init``'s weights (the segmentation head is re-made
    when the number of classes changed; other shapes must match ``config.model``)."""
    net = SegmentationNet(config.model, num_classes)
    if init is not None:
        state = copy.deepcopy(init.net.state_dict())
        if init.num_classes != num_classes:
            state = {k: v for k, v in state.items() if not k.startswith("seg_head.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        bad = [k for k in missing if not k.startswith("seg_head.")] + list(unexpected)
        if bad:
            raise ValueError(f"Cannot warm-start: the model shapes differ ({bad[:3]}...).")
    return net.to(device)


def train(
    data: TrainingData,
    config: TrainConfig,
    *,
    init: TrainedModel | None = None,
    pretrain: bool = True,
    control: TrainControl | None = None,
) -> Generator[object, None, TrainedModel]:
    """Run the enabled stages on ``data``; yield events; return the :class:`TrainedModel`.

    ``pretrain=False`` skips the global and local stages (used to warm-start from
    ``init`` after corrections). A stop request via ``control`` ends the current
    stage after its step and skips the rest; the model trained so far is returned.
    """
    config.validate()
    data.check()
    norm = init.config.model.norm if init is not None else config.resolved_norm(
        *data.unlabelled.shape[-2:])
    # one network trains here (several: semicl.training.members, each calling this)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, norm=norm),
                                 members=1)
    device = resolve_device(config.device)
    set_cpu_threads(config.num_threads)
    with _SEED_LOCK:
        seed_everything(config.seed)
        net = initial_net(config, data.num_classes, init, device)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    channels_last = config.channels_last if config.channels_last is not None else device.type == "cuda"
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    net.train()
    on_device = data.to(device)
    history: list[tuple[str, int, float]] = list(init.history) if init is not None else []
    common = dict(device=device, amp=config.amp, generator=generator, control=control,
                  augment=config.augment, flip=config.flip,
                  patch_size=config.patch_size,
                  options=StepOptions.for_device(device, config.compile))

    finetuned = init.finetuned if init is not None else False
    # a warm Retrain: fine-tuning goes on from networks fitted to this image (its own floor,
    # FinetuneConfig.retrain_min_steps), and may hold on to the previous round's answer where
    # ``data`` carries it (keep_previous; TrainingData.holds_previous)
    warm = finetuned and not pretrain
    try:
        for stage, cfg in config.stages().items():
            if not cfg.enabled or not (pretrain or stage is Stage.FINETUNE):
                continue
            if control is not None and control.stop_requested:
                break
            extra = {"fresh": not warm} if stage is Stage.FINETUNE else {}
            steps = yield from _recorded(
                STAGE_RUNNERS[stage](net, on_device, cfg, **common, **extra), history)
            if stage is Stage.FINETUNE and steps > 0:
                finetuned = True
    finally:
        net.eval()
        del on_device, common
        release_memory(device)  # the run's cached activations; the network stays
    stopped = bool(control is not None and control.stop_requested)
    return TrainedModel(net, config, list(data.class_names), history, stopped, finetuned)


def _recorded(gen: Generator[object, None, int], history: list) -> Generator[object, None, int]:
    """Pass ``gen``'s events on, adding each training loss to ``history``; return its steps."""

    def record(event: object) -> None:
        if isinstance(event, ProgressEvent) and event.loss is not None:
            history.append((event.stage.value, event.step, event.loss))

    return int((yield from relay(gen, record)) or 0)
