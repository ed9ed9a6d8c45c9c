"""Typed, serialisable training configuration and the named presets.

A :class:`TrainConfig` is saved inside every checkpoint, so a model always says
how it was trained. Stage lengths are in optimisation *steps*; ``epochs`` (when
set) overrides ``steps`` once the number of training slices is known, with
``min_steps`` as a floor. So one preset serves a whole MSD dataset (thousands of
slices: epochs decide) and one volume with three painted slices (the floor decides,
keeping a first result within seconds).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from semicl.errors import SemiclError
from semicl.stage import TRAINING_STAGES, Stage

#: Batches never exceed max(SMALL_DATA_BATCH, training slices): a batch of 16 drawn from
#: three painted slices repeats each one five times, costing time and adding little.
SMALL_DATA_BATCH = 4

LOCAL_MODES: tuple[str, ...] = ("exact", "stride", "block", "self")
#: ``torch.compile`` modes a training run may ask for (``TrainConfig.compile``)
COMPILE_MODES: tuple[str, ...] = ("default", "reduce-overhead", "max-autotune",
                                  "max-autotune-no-cudagraphs")
LABEL_KINDS: tuple[str, ...] = ("auto", "dense", "strokes")
NORMS: tuple[str, ...] = ("auto", "instance", "batch")
#: most networks an interactive round trains side by side (``TrainConfig.members``)
MAX_MEMBERS = 8
#: the quick preset's ``TrainConfig.slice_smoothing``: one in-plane pixel's worth
SLICE_SMOOTHING = 1.0


@dataclass
class ModelConfig:
    """2-D U-Net shape. ``base_width`` channels at full resolution, doubled per level."""

    in_channels: int = 1
    base_width: int = 16
    depth: int = 4
    global_dim: int = 128  #: projection size of the global (SimCLR) head
    local_dim: int = 128  #: embedding size of the dense (pixel) head
    #: feature normalisation: "instance" (per slice statistics), "batch" (statistics of
    #: the training batches, fixed at prediction, so a pixel's output does not depend on
    #: how much of its slice is empty air, nor on whether it was seen in a window), or
    #: "auto": batch when training runs on windows of larger slices (``patch_size``),
    #: instance otherwise (:meth:`TrainConfig.resolved_norm`)
    norm: str = "auto"

    def validate(self) -> None:
        if self.base_width < 1 or self.depth < 1 or self.in_channels < 1:
            raise SemiclError("base_width, depth and in_channels must be positive integers.")
        if self.norm not in NORMS:
            raise SemiclError(f"model norm must be one of {NORMS}, got {self.norm!r}.")


@dataclass
class StageConfig:
    """Fields shared by every stage."""

    enabled: bool = True
    steps: int = 100
    epochs: float | None = None  #: if set, steps = ceil(epochs * n_slices / batch_size)
    min_steps: int = 0  #: floor on the steps derived from ``epochs``
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.0

    def set_steps(self, steps: int) -> None:
        """Fix the stage length to ``steps`` (clears ``epochs``)."""
        self.steps, self.epochs = int(steps), None

    def resolved_batch(self, n_items: int) -> int:
        """``batch_size``, but at most ``max(SMALL_DATA_BATCH, n_items)``."""
        return min(self.batch_size, max(SMALL_DATA_BATCH, n_items))

    def resolved_steps(self, n_items: int) -> int:
        if self.epochs is None:
            return self.steps
        batch = self.resolved_batch(n_items)
        return max(1, self.min_steps, math.ceil(self.epochs * n_items / batch))

    def validate(self, name: str) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0:
            raise SemiclError(f"{name}: steps must be >= 0, batch_size >= 1 and lr > 0.")
        if self.epochs is not None and self.epochs <= 0:
            raise SemiclError(f"{name}: epochs must be positive.")


@dataclass
class GlobalConfig(StageConfig):
    """Stage 1: SimCLR NT-Xent on pooled encoder features of two augmented views."""

    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-5
    temperature: float = 0.5


@dataclass
class LocalConfig(StageConfig):
    """Stage 2: supervised local (pixel) contrastive loss, or Chaitanya's self-supervised one.

    ``mode``: ``exact`` (full resolution, chunked, memory-safe), ``stride`` (fixed grid
    every ``stride`` pixels, as in the paper), ``block`` (``block_size`` tiles, as in the
    paper) or ``self`` (Chaitanya et al.'s self-supervised local loss; ignores labels).
    """

    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.1
    mode: str = "exact"
    stride: int = 4
    block_size: int = 16
    max_anchors: int | None = 4096  #: exact mode: sample at most this many anchors per step

    def validate(self, name: str) -> None:
        super().validate(name)
        if self.mode not in LOCAL_MODES:
            raise SemiclError(f"{name}: mode must be one of {LOCAL_MODES}, got {self.mode!r}.")


@dataclass
class FinetuneConfig(StageConfig):
    """Stage 3: cross-entropy + soft Dice over labelled pixels only."""

    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    dice_weight: float = 1.0  #: dense labels only (see ``labels``)
    #: "dense", "strokes" or "auto" (strokes when under half of the labelled slices'
    #: pixels are painted). From strokes the partial CE is joined by the terms below,
    #: which give the unpainted pixels a say, and the soft Dice is left out: over a few
    #: painted lines it rewards painting structure everywhere else (docs/benchmarks.md,
    #: "Scribble benchmark").
    labels: str = "auto"
    #: strokes: weight of the image-gated affinity (local CRF) loss on every pixel of
    #: the batch (losses/affinity.py), and its radius
    affinity_weight: float = 1.0
    affinity_radius: int = 2
    #: strokes: weight of the affinity term's normalised-cut part, relative to its Potts
    #: cut (losses/affinity.py): a structure's boundary costs in proportion to its size,
    #: so the term no longer pays a structure to give up its rim. 0.1 against 0: after
    #: Train MSD +0.020 (10 runs, 8 higher) and +0.025 on five volumes never used to tune
    #: it (8 of 10), Colin27 k5 0.677 / 0.628 -> 0.712 / 0.637 (after three rounds 0.793 /
    #: 0.789 -> 0.818 / 0.799), EM k1 0.623 -> 0.617 over eight stroke draws (5 higher);
    #: against it, Colin27 k3 0.587 / 0.487 -> 0.591 / 0.420 (over-paints with three painted
    #: slices). 0 = the Potts cut alone (docs/benchmarks.md, sessions 17, 19, 20)
    affinity_ncut: float = 0.1
    #: strokes: slices *without* strokes added to each batch (affinity and prior only)
    unlabelled_batch: int = 4
    #: strokes: weight of a weak cross-entropy toward background on every unpainted pixel
    #: (most of an image is background; strokes and the affinity term override it)
    background_prior: float = 0.1
    #: strokes on one image (``semicl.interactive``): no background prior within this many
    #: stroke half-lengths of a structure's strokes, in 3-D (``semicl.prior_weight``); 0 =
    #: the prior on every unpainted pixel. 1: MSD 0.575 -> 0.672, Colin27 +0.01 to +0.04
    #: after Train; 1.5 over-paints Colin27's thalamus (docs/benchmarks.md, session 11)
    prior_reach: float = 1.0
    #: strokes on one volume (``semicl.interactive``): the prior grows on slices more than
    #: one painted spacing past the outermost slices with structure strokes, by this much
    #: per spacing (at most 4x; ``semicl.prior_weight.beyond_factor``); 0 = off. 1 against
    #: 0 after Train: Colin27 k5 0.712 / 0.637 -> 0.742 / 0.654, k3 0.591 / 0.420 -> 0.624
    #: / 0.502 (false positives on slices far past the structures), MSD +0.003 +- 0.022 (20
    #: runs), EM k2 -0.002 (4 draws), EM k1 Train unchanged, its round 1 -0.005 (one draw
    #: of four -0.021: membranes run through every section; docs/benchmarks.md, session 22)
    prior_beyond: float = 1.0
    #: strokes, a warm Retrain: weight of a cross-entropy toward the starting network's own
    #: probabilities on the unpainted pixels (not near a structure's strokes, as the prior),
    #: so the previous round's answer stays where no new stroke says otherwise; 0 = off.
    #: Round 1: EM k1 0.590 -> 0.633, MSD 0.744 -> 0.762, Colin27 after 3 rounds 0.764 ->
    #: 0.787 (docs/benchmarks.md, session 14)
    keep_previous: float = 0.5
    #: strokes: floor on the fine-tuning steps (a 181 x 217 x 181 MRI is not fitted in 150)
    stroke_min_steps: int = 300
    #: strokes: the learning rate stays up until the network gives at least this share of
    #: each class's painted pixels their painted class (asked every 100 steps from 2/3 of
    #: the floor on; 0 = a fixed length), then anneals over half the steps so far; at most
    #: ``stroke_max_steps``. A fixed 300 steps left Colin27's putamen strokes unlearnt
    #: (recall 0 on its own strokes; Dice 0.06), 900 learnt them (0.55).
    stroke_fit: float = 0.95
    stroke_max_steps: int = 1200
    #: strokes, a warm Retrain (the network already fine-tuned on this image, its answer
    #: held by ``keep_previous``): the floor instead of ``stroke_min_steps``; the fit rule
    #: still trains on while the corrections are not learnt (docs/benchmarks.md, session 15)
    retrain_min_steps: int = 150
    #: strokes: the fine-tuned network is the exponential moving average of its weights
    #: over the steps (decay per step; 0 = the last step's weights). What strokes leave
    #: open (pixels far from any) otherwise swings from step to step.
    ema_decay: float = 0.99
    #: strokes: what a Stop returns and the live previews show is the weight average
    #: bounded to the recent steps: at step ``t`` it keeps at most ``(t - 1) / (t +
    #: ema_recent)`` of itself, about the last ``1 / (1 + ema_recent)`` of the steps so far
    #: (polynomial-decay averaging, ``semicl.training.weight_average.kept_share``). A run
    #: that ends by itself keeps the plain average (bounded, EM lost Dice); 0 = the plain
    #: average throughout (docs/benchmarks.md, session 28)
    ema_recent: float = 7.0
    #: Fine-tuning's geometry (``data.augment.SpatialAugment``: zoom range, rotation in
    #: degrees, crop side as a fraction of the image side) is milder than the contrastive
    #: views' (which must differ a lot): with few steps, strong crops/zooms slow
    #: convergence. MSD Hippocampus, 10% labelled, fine-tuning from random init at lr
    #: 1e-3: held-out Dice 0.816 after 556 steps with this geometry, 0.787 / 0.821 after
    #: 417 / 695 steps with the strong one, (0.7, 1.3) / 15 / (0.6, 1.0)
    #: (docs/performance.md; ``benchmarks/quick_tuning.py --geometry strong``).
    scale: tuple[float, float] = (0.9, 1.1)
    rotation_deg: float = 10.0
    crop: tuple[float, float] = (0.8, 1.0)

    def validate(self, name: str) -> None:
        super().validate(name)
        if self.labels not in LABEL_KINDS:
            raise SemiclError(f"{name}: labels must be one of {LABEL_KINDS}, got {self.labels!r}.")
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1] \
                or len(self.crop) != 2 or not 0 < self.crop[0] <= self.crop[1] <= 1 \
                or self.rotation_deg < 0:
            raise SemiclError(f"{name}: scale needs 0 < low <= high, crop 0 < low <= high <= 1 "
                              "and rotation_deg >= 0.")
        if min(self.affinity_weight, self.background_prior, self.dice_weight,
               self.prior_reach, self.keep_previous, self.affinity_ncut,
               self.prior_beyond, self.ema_recent) < 0 \
                or self.affinity_radius < 1 or self.unlabelled_batch < 0 \
                or min(self.stroke_min_steps, self.retrain_min_steps) < 0 \
                or not 0 <= self.ema_decay < 1 or not 0 <= self.stroke_fit <= 1:
            raise SemiclError(f"{name}: stroke terms must be >= 0, affinity_radius >= 1, "
                              "0 <= ema_decay < 1 and 0 <= stroke_fit <= 1.")

    def geometry(self) -> dict[str, Any]:
        """``scale``, ``rotation_deg`` and ``crop``: the keywords of ``SpatialAugment``."""
        return {"scale": self.scale, "rotation_deg": self.rotation_deg, "crop": self.crop}

    def from_strokes(self, targets) -> bool:
        """Whether ``targets`` (-1 = unpainted) are strokes rather than dense labels."""
        if self.labels != "auto":
            return self.labels == "strokes"
        return bool((targets >= 0).float().mean() < 0.5) if targets.numel() else False


@dataclass
class TrainConfig:
    """Everything needed to reproduce a training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    global_stage: GlobalConfig = field(default_factory=GlobalConfig)
    local_stage: LocalConfig = field(default_factory=LocalConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    seed: int = 0
    device: str = "auto"
    amp: bool = True  #: bf16/fp16 autocast on CUDA (ignored on CPU)
    channels_last: bool | None = None  #: NHWC memory format; None = on CUDA only
    #: torch.compile mode for the network while training (one of COMPILE_MODES);
    #: None = eager. Compiling costs tens of seconds a stage: for long runs on a GPU.
    compile: str | None = None
    image_size: tuple[int, int] | None = None  #: pad/crop slices to this size; None = native
    #: train every stage on patch_size x patch_size windows of larger slices (data/windows.py);
    #: None = whole slices. Prediction always runs on whole slices.
    patch_size: int | None = None
    slice_axis: int = 0
    num_threads: int | None = None  #: torch CPU threads; None = leave as is
    #: networks an interactive round (``semicl.interactive.training_round``: the plugin,
    #: ``semicl train --image``) trains side by side on the same strokes, seeds ``seed``,
    #: ``seed + 1``, ..., their probabilities averaged; the threads are shared among them.
    #: Training on a dataset (``semicl train``, the benchmarks' grids) trains one network.
    members: int = 1
    #: members side by side: one that has finished hands its torch threads on to those
    #: still training, from the step after its last (a fixed step: rounds repeat to the
    #: bit; ``semicl.training.members.ThreadShare``)
    share_threads: bool = True
    #: prediction of a volume: each class's probability smoothed across slices by a
    #: Gaussian as wide as this many in-plane pixels, the slice step read off the image
    #: (``semicl.slice_smoothing``: an MRI's slice is about a pixel, serial EM sections more
    #: than 16, so EM is left as is); 0 = off. The quick preset: 1 (Colin27 +0.01 to +0.05
    #: Dice after Train, MSD within +-0.01; docs/benchmarks.md, session 10).
    slice_smoothing: float = 0.0
    augment: bool = True
    #: mirror augmentation (left-right flips). Off by default: anatomy within a slice is
    #: rarely mirror-symmetric (on MSD Hippocampus flips cost 0.04 Dice, anterior vs
    #: posterior); turn it on for EM, cells and other orientation-free images.
    flip: bool = False
    preset: str = "custom"

    def stages(self) -> dict[Stage, StageConfig]:
        """The settings of each of :data:`~semicl.stage.TRAINING_STAGES`, in pipeline order.

        Keys are :class:`Stage` members, equal (and hashing equal) to their values, so
        ``stages()["global"]`` works too; format a key with ``.value``.
        """
        return dict(zip(TRAINING_STAGES, (self.global_stage, self.local_stage, self.finetune),
                        strict=True))

    def validate(self) -> None:
        self.model.validate()
        self.global_stage.validate("global stage")
        self.local_stage.validate("local stage")
        self.finetune.validate("fine-tuning")
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 8):
            raise SemiclError("image_size must be two integers >= 8, or None for native size.")
        if self.compile is not None and self.compile not in COMPILE_MODES:
            raise SemiclError(f"compile must be one of {COMPILE_MODES} or None, "
                              f"got {self.compile!r}.")
        if not (self.slice_smoothing >= 0 and math.isfinite(self.slice_smoothing)):
            raise SemiclError(f"slice_smoothing must be a number >= 0 (pixels), "
                              f"got {self.slice_smoothing}.")
        if not 1 <= self.members <= MAX_MEMBERS:
            raise SemiclError(f"members must be between 1 and {MAX_MEMBERS}, got {self.members}.")
        multiple = 2 ** self.model.depth
        if self.patch_size is not None and (self.patch_size < 2 * multiple
                                            or self.patch_size % multiple):
            raise SemiclError(f"patch_size must be a multiple of {multiple} (2**depth), at "
                              f"least {2 * multiple}, or None; got {self.patch_size}.")

    def resolved_norm(self, height: int, width: int) -> str:
        """``model.norm`` for slices of ``height`` x ``width``, "auto" decided: windows
        (slices larger than ``patch_size``) need "batch" — an instance-normed network
        trained on 96-px windows of Colin27 scored 0.11 on whole slices, 0.28 batch-normed
        (docs/benchmarks.md) — and small slices keep "instance"."""
        if self.model.norm != "auto":
            return self.model.norm
        windows = self.patch_size is not None and max(height, width) > self.patch_size
        return "batch" if windows else "instance"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SemiclError(f"Unknown configuration keys: {sorted(unknown)}.")
        kw: dict[str, Any] = {}
        sub = {"model": ModelConfig, "global_stage": GlobalConfig,
               "local_stage": LocalConfig, "finetune": FinetuneConfig}
        for k, v in d.items():
            if k == "model" and "norm" not in v:
                v = {**v, "norm": "instance"}  # saved before the field existed
            if k == "finetune":  # JSON gives lists; saved before scale/crop: the defaults
                v = {**v, **{r: tuple(v[r]) for r in ("scale", "crop") if r in v}}
            if k in sub:
                kw[k] = sub[k](**v)
            elif k == "image_size" and v is not None:
                kw[k] = tuple(v)
            else:
                kw[k] = v
        cfg = cls(**kw)
        cfg.validate()
        return cfg


def preset(name: str) -> TrainConfig:
    """Named presets: ``quick`` (a CPU, minutes) and ``paper`` (the paper's settings, a GPU)."""
    if name == "quick":
        # Stage lengths follow the data: on MSD Task04 at 10% (5.5k slices, 556 labelled)
        # 86 / 70 / 556 steps, about 4.5 minutes on a 2-core CPU; on one volume with 3
        # painted slices the floors (10 / 10 / 150 steps, batches shrunk to 4 there) give
        # a pretrained model in about half a minute. Tuned on that split
        # (docs/performance.md): no mirroring, a brisk fine-tuning lr (3e-3 vs 1e-3: +0.02
        # Dice at equal steps), 256 anchors per local step (the exact loss's cost is
        # linear in them).
        cfg = TrainConfig(
            model=ModelConfig(base_width=16, depth=4),
            global_stage=GlobalConfig(epochs=0.5, min_steps=10, batch_size=32, lr=1e-3),
            local_stage=LocalConfig(epochs=1.0, min_steps=10, batch_size=8, lr=1e-3,
                                    mode="exact", max_anchors=256),
            finetune=FinetuneConfig(epochs=16, min_steps=150, batch_size=16, lr=3e-3),
            # 64-px windows of larger slices (batch-normed, see ModelConfig.norm): a step
            # on Colin27's 181 x 217 slices costs what one on MSD does; MSD's slices are
            # smaller, so the demo and the grid train as before (docs/benchmarks.md).
            patch_size=64,
            # two networks side by side, their probabilities averaged: Colin27 +0.03 to
            # +0.07 Dice after Train and rounds that climb, MSD -0.02; on two cores 1.1x
            # (MSD) to 1.5x (Colin27) one network's wall time (docs/benchmarks.md, session 9)
            members=2,
            # probabilities of a volume smoothed across slices over one pixel's worth of
            # distance (semicl.slice_smoothing; docs/benchmarks.md, session 10)
            slice_smoothing=SLICE_SMOOTHING,
            preset="quick",
        )
    elif name == "paper":
        # Hu et al.: U-Net 64 base filters, SimCLR tau 0.5, local tau 0.1 batch 4,
        # fine-tune batch 8 lr 5e-4 (released code); epochs 70/70/120 per the paper.
        cfg = TrainConfig(
            model=ModelConfig(base_width=64, depth=4, global_dim=256, local_dim=128),
            global_stage=GlobalConfig(epochs=70, batch_size=120, lr=3e-4, weight_decay=1e-5,
                                      temperature=0.5),
            local_stage=LocalConfig(epochs=70, batch_size=4, lr=1e-4, weight_decay=1e-4,
                                    temperature=0.1, mode="block", block_size=16,
                                    max_anchors=None),
            finetune=FinetuneConfig(epochs=120, batch_size=8, lr=5e-4),
            preset="paper",
        )
    else:
        raise SemiclError(f"Unknown preset {name!r}; choose "
                          f"{' or '.join(repr(p) for p in PRESETS)}.")
    cfg.validate()
    return cfg


PRESETS: tuple[str, ...] = ("quick", "paper")
