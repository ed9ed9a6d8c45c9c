"""The paper's three stages as generators (Hu et al., MICCAI 2021).

1. :func:`run_global` — SimCLR NT-Xent on pooled encoder features of two augmented
   views of every slice (no labels). Unlike the reference code, the projection head
   *is* trained (it is part of the optimised parameters).
2. :func:`run_local` — supervised local contrastive loss on decoder embeddings of the
   labelled slices (``exact``, ``stride`` or ``block``), or Chaitanya et al.'s
   self-supervised local loss (``self``, on all slices). The two views share one
   spatial transform (so labels stay aligned) and draw *independent* intensity
   transforms — the reference code's two views were byte-identical.
3. :func:`run_finetune` — cross-entropy + soft Dice over labelled pixels only.

Each yields :class:`~semicl.events.ProgressEvent` per step (and
:class:`~semicl.events.PreviewEvent` while fine-tuning when asked) and
returns the number of steps completed.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator

import numpy as np
import torch

from semicl.config import FinetuneConfig, GlobalConfig, LocalConfig
from semicl.data.augment import IntensityAugment, SpatialAugment
from semicl.data.windows import WindowSampler
from semicl.events import PreviewEvent, Stage
from semicl.labels import mask_dtype
from semicl.losses import (
    AffinityLoss,
    NTXentLoss,
    PartialCEDiceLoss,
    SelfSupervisedLocalLoss,
    SupervisedLocalContrastiveLoss,
)
from semicl.models.network import SegmentationNet, evaluating
from semicl.training.control import TrainControl
from semicl.training.data import TrainingData
from semicl.training.loop import FitUntil, StepOptions, draw_indices, optimise
from semicl.training.weight_average import WeightAverage


def run_global(
    net: SegmentationNet,
    data: TrainingData,
    cfg: GlobalConfig,
    *,
    device: torch.device,
    amp: bool,
    generator: torch.Generator,
    control: TrainControl | None = None,
    augment: bool = True,
    flip: bool = False,
    patch_size: int | None = None,
    options: StepOptions = StepOptions(),
) -> Generator[object, None, int]:
    """Stage 1: SimCLR on all slices. Trains the encoder, bottleneck and global head."""
    images = data.unlabelled
    spatial = SpatialAugment(flip=flip) if augment else None
    intensity = IntensityAugment()
    criterion = NTXentLoss(temperature=cfg.temperature)
    batch = max(2, cfg.resolved_batch(len(images)))
    windows = WindowSampler(patch_size, *images.shape[2:])
    embed = options.compiled(net.global_embedding)

    def view(x: torch.Tensor) -> torch.Tensor:
        if spatial is not None:
            x, _ = spatial(x, None, generator)
        x, _ = intensity(x, None, generator)
        return x

    def loss_fn(step: int) -> torch.Tensor:
        idx = draw_indices(len(images), batch, generator)
        x = windows.draw(images[idx], generator)
        z = embed(torch.cat([view(x), view(x)]))
        z1, z2 = z.float().chunk(2)
        return criterion(z1, z2)

    params = net.stage_parameters(Stage.GLOBAL)
    return (
        yield from optimise(
            Stage.GLOBAL, params, loss_fn, steps=cfg.resolved_steps(len(images)), lr=cfg.lr,
            weight_decay=cfg.weight_decay, device=device, amp=amp, control=control,
            options=options,
        )
    )


def labelled_batch(windows: WindowSampler, images: torch.Tensor, targets: torch.Tensor,
                   batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` training pairs: class-balanced windows of slices larger than the patch
    (:meth:`WindowSampler.draw_labelled`), else whole slices drawn uniformly.

    images (N, 1, H, W), targets (N, H, W) -> x (batch, 1, h, w), y (batch, h, w)."""
    if windows.active:
        return windows.draw_labelled(images, targets, batch, generator)
    idx = draw_indices(len(images), batch, generator)
    return images[idx], targets[idx]


def local_criterion(cfg: LocalConfig) -> torch.nn.Module:
    """The stage-2 loss module for ``cfg.mode``."""
    if cfg.mode == "self":
        return SelfSupervisedLocalLoss(temperature=cfg.temperature)
    return SupervisedLocalContrastiveLoss(
        temperature=cfg.temperature,
        stride=cfg.stride if cfg.mode == "stride" else 1,
        block_size=cfg.block_size if cfg.mode == "block" else None,
        max_anchors=cfg.max_anchors if cfg.mode == "exact" else None,
    )


def run_local(
    net: SegmentationNet,
    data: TrainingData,
    cfg: LocalConfig,
    *,
    device: torch.device,
    amp: bool,
    generator: torch.Generator,
    control: TrainControl | None = None,
    augment: bool = True,
    flip: bool = False,
    patch_size: int | None = None,
    options: StepOptions = StepOptions(),
) -> Generator[object, None, int]:
    """Stage 2: local contrastive pretraining of encoder + decoder + dense head."""
    supervised = cfg.mode != "self"
    images = data.images if supervised else data.unlabelled
    targets = data.targets if supervised else None
    spatial = SpatialAugment(flip=flip) if augment else None
    intensity = IntensityAugment()
    criterion = local_criterion(cfg)
    batch = cfg.resolved_batch(len(images))
    windows = WindowSampler(patch_size, *images.shape[2:], targets)
    embed = options.compiled(net.local_embedding)

    def loss_fn(step: int) -> torch.Tensor:
        if supervised:
            x, y = labelled_batch(windows, images, targets, batch, generator)
        else:
            idx = draw_indices(len(images), batch, generator)
            x, y = windows.draw(images[idx], generator), None
        if spatial is not None:
            x, y = spatial(x, y, generator)
        v1, _ = intensity(x, None, generator)
        v2, _ = intensity(x, None, generator)
        emb = embed(torch.cat([v1, v2])).float()
        if supervised:
            return criterion(emb, torch.cat([y, y]), generator=generator)
        e1, e2 = emb.chunk(2)
        return criterion(e1, e2)

    params = net.stage_parameters(Stage.LOCAL)
    return (
        yield from optimise(
            Stage.LOCAL, params, loss_fn, steps=cfg.resolved_steps(len(images)), lr=cfg.lr,
            weight_decay=cfg.weight_decay, device=device, amp=amp, control=control,
            options=options,
        )
    )


def finetune_steps(cfg: FinetuneConfig, targets: torch.Tensor, *, fresh: bool = True) -> int:
    """Fine-tuning length: the preset's (epochs over the painted slices, floored), raised
    to ``cfg.stroke_min_steps`` when training from strokes (a warm Retrain, ``fresh``
    False: to ``cfg.retrain_min_steps``); an explicit length is kept."""
    steps = cfg.resolved_steps(len(targets))
    if cfg.epochs is not None and cfg.from_strokes(targets):
        steps = max(steps, cfg.stroke_min_steps if fresh else cfg.retrain_min_steps)
    return steps


def run_finetune(
    net: SegmentationNet,
    data: TrainingData,
    cfg: FinetuneConfig,
    *,
    device: torch.device,
    amp: bool,
    generator: torch.Generator,
    control: TrainControl | None = None,
    augment: bool = True,
    flip: bool = False,
    patch_size: int | None = None,
    options: StepOptions = StepOptions(),
    fresh: bool = True,
) -> Generator[object, None, int]:
    """Stage 3: CE + Dice on labelled pixels; optional live previews of one slice.

    From strokes (``cfg.from_strokes``): CE on the painted pixels, plus the affinity
    (local CRF) term on every pixel and a weak background prior on the unpainted ones
    (weighted per pixel by ``data.prior_weight`` / ``unlabelled_prior_weight`` where
    given: none near a structure's strokes, :mod:`semicl.prior_weight`), over the painted
    slices and ``cfg.unlabelled_batch`` slices without strokes; no Dice; the network ends
    with an exponential moving average of its weights (``cfg.ema_decay``), and a stop
    (like ``control.watch`` and the previews meanwhile) with that average bounded to the
    recent steps (``cfg.ema_recent``). ``fresh``
    False: a warm Retrain (the network fine-tuned on this image, no pretraining since),
    with its own floor (:func:`finetune_steps`); there, with the previous round's answer in
    ``data`` (:attr:`TrainingData.holds_previous`) and ``cfg.keep_previous``: a
    cross-entropy toward that answer's probabilities on the unpainted pixels, weighted as
    the prior (none near a structure's strokes). The answer travels through windows and
    geometry with the image (zero outside it: no say there), so it costs no forward pass.
    """
    spatial = SpatialAugment(flip=flip, **cfg.geometry()) if augment else None
    intensity = IntensityAugment() if augment else None
    strokes = cfg.from_strokes(data.targets)
    criterion = PartialCEDiceLoss(data.num_classes, dice_weight=0.0 if strokes else cfg.dice_weight)
    affinity = AffinityLoss(cfg.affinity_radius, ncut=cfg.affinity_ncut) \
        if strokes and cfg.affinity_weight > 0 else None
    prior = cfg.background_prior if strokes else 0.0
    keep = cfg.keep_previous if strokes and not fresh and data.holds_previous else 0.0
    extra = cfg.unlabelled_batch if strokes and (affinity is not None or prior > 0 or keep > 0) \
        else 0
    batch = cfg.resolved_batch(len(data.images))
    steps = finetune_steps(cfg, data.targets, fresh=fresh)
    windows = WindowSampler(patch_size, *data.images.shape[2:], data.targets)
    other_windows = WindowSampler(patch_size, *data.unlabelled.shape[2:])
    last_preview = [float("-inf")]
    segment = options.compiled(net)

    # the prior's weights travel as a second channel, 1 - weight (so the zero padding of
    # the geometry leaves pixels from outside the image the full prior, as without
    # weights), and the previous answer as C more, through windows and geometry; split
    # off before intensity
    weighted = prior > 0 and data.prior_weight is not None \
        and data.unlabelled_prior_weight is not None

    def carried(x: torch.Tensor, weight: torch.Tensor | None, answer: torch.Tensor | None):
        parts = [x] + ([1 - weight[:, None]] if weighted else []) \
            + ([answer.to(x.dtype)] if keep > 0 else [])
        return torch.cat(parts, 1) if len(parts) > 1 else x

    images = carried(data.images, data.prior_weight, data.previous)

    def augmented(x: torch.Tensor, y: torch.Tensor | None):
        if spatial is not None:
            x, y = spatial(x, y, generator)
        w = 1 - x[:, 1] if weighted else None
        answer = x[:, 1 + weighted:] if keep > 0 else None
        x = x[:, :1].contiguous() if x.shape[1] > 1 else x
        if intensity is not None:
            x, _ = intensity(x, None, generator)
        return x, y, w, answer

    def loss_fn(step: int) -> torch.Tensor:
        x, y, w, before = augmented(*labelled_batch(windows, images, data.targets, batch,
                                                    generator))
        if extra:
            other = draw_indices(len(data.unlabelled), extra, generator)
            xu = carried(data.unlabelled[other],
                         data.unlabelled_prior_weight[other] if weighted else None,
                         data.unlabelled_previous[other] if keep > 0 else None)
            xu, _, wu, before_u = augmented(other_windows.draw(xu, generator), None)
            x = torch.cat([x, xu])
            w = torch.cat([w, wu]) if weighted else None
            before = torch.cat([before, before_u]) if keep > 0 else None
        logits = segment(x).float()
        loss = criterion(logits[: len(y)], y)
        if affinity is not None:
            # the normalised-cut part (off by default) needs the classes painted in the batch
            painted = (torch.bincount(y[y >= 0], minlength=logits.shape[1])[: logits.shape[1]] > 0
                       if affinity.ncut > 0 else None)
            loss = loss + cfg.affinity_weight * affinity(logits, x, painted)
        if prior > 0 or keep > 0:
            unpainted = torch.ones(logits.shape[:1] + logits.shape[2:], dtype=torch.bool,
                                   device=logits.device)
            unpainted[: len(y)] = y < 0
        if keep > 0:
            kept = (before.float() * torch.log_softmax(logits, 1)).sum(1)[unpainted]
            if w is not None:  # not near a structure's strokes, as the prior (not grown)
                kept = kept * w[unpainted].clamp_max(1)
            loss = loss - keep * kept.mean()
        if prior > 0:
            log_bg = torch.log_softmax(logits, 1)[:, 0][unpainted]
            if w is not None:  # per-pixel strength as without weights where the weight is 1
                log_bg = log_bg * w[unpainted]
            loss = loss - prior * log_bg.mean()
        return loss

    # the network kept at the end of the run: the plain average; what a stop returns
    # meanwhile (shown, watched): the one bounded to recent steps (cfg.ema_recent)
    average = WeightAverage(net, cfg.ema_decay) if strokes and cfg.ema_decay > 0 else None
    recent = WeightAverage(net, cfg.ema_decay, cfg.ema_recent) \
        if average is not None and cfg.ema_recent > 0 else average

    def previews(step: int) -> Iterator[PreviewEvent]:
        if average is not None:
            average.update()
        if recent is not average:
            recent.update()
        shown = recent.module if recent is not None else net  # what a stop now returns
        if control is not None and control.watch is not None:
            control.watch(shown, step)
        if control is None or control.preview_slice is None or data.preview is None:
            return
        now = time.perf_counter()
        if now - last_preview[0] < control.preview_every_s:
            return
        index = int(control.preview_slice)
        if not 0 <= index < len(data.preview):
            return
        yield PreviewEvent(Stage.FINETUNE, step, index, preview_mask(shown, data.preview[index]))
        last_preview[0] = time.perf_counter()

    params = net.stage_parameters(Stage.FINETUNE)
    # From strokes, with a preset's length: train until the strokes are fitted, then anneal
    until = None
    if strokes and cfg.epochs is not None and cfg.stroke_fit > 0:
        def fitted() -> bool:
            model = average.module if average is not None else net
            return min(stroke_recall(model, data)) >= cfg.stroke_fit

        until = FitUntil(fitted, first=max(1, 2 * steps // 3),
                         max_steps=max(steps, cfg.stroke_max_steps))
    done = yield from optimise(
        Stage.FINETUNE, params, loss_fn, steps=steps, lr=cfg.lr, weight_decay=cfg.weight_decay,
        device=device, amp=amp, control=control, after_step=previews, options=options,
        until=until, on_length=None if control is None else control.on_length,
    )
    if average is not None and done > 0:
        stopped = control is not None and control.stop_requested
        net.load_state_dict((recent if stopped else average).module.state_dict())
    return done


@torch.no_grad()
def stroke_recall(net: torch.nn.Module, data: TrainingData, chunk: int = 4) -> list[float]:
    """For each class painted in ``data.targets``, the share of its painted pixels that
    ``net`` (in eval mode, whole painted slices) gives that class."""
    hits = torch.zeros(data.num_classes, dtype=torch.float64)
    painted = torch.zeros(data.num_classes, dtype=torch.float64)
    with evaluating(net):
        for start in range(0, len(data.images), chunk):
            y = data.targets[start:start + chunk]
            pred = net(data.images[start:start + chunk]).argmax(1)
            mask = y >= 0
            painted += torch.bincount(y[mask], minlength=data.num_classes).double().cpu()
            hits += torch.bincount(y[mask & (pred == y)], minlength=data.num_classes).double().cpu()
    return [float(h / p) for h, p in zip(hits, painted, strict=True) if p > 0]


@torch.no_grad()
def preview_mask(net: SegmentationNet, image: torch.Tensor) -> np.ndarray:
    """Argmax mask of one (1, H, W) slice with the current weights, as (H, W) numpy of
    :func:`semicl.labels.mask_dtype` (uint8 up to 255 structures)."""
    with evaluating(net):
        logits = net(image.unsqueeze(0))
    return logits.argmax(1)[0].cpu().numpy().astype(mask_dtype(logits.shape[1] - 1))
