"""Helpers shared by the plugin tests (scribbles from ground truth, tiny config, waiting)."""

from __future__ import annotations

import time

import numpy as np


def stroke_scribbles(gt2d: np.ndarray) -> np.ndarray:
    """A user's strokes on one slice, from its ground truth (scribble convention).

    Structures: their eroded interior. Background: a thin ring 2-3 pixels outside the
    structures plus lines every 6 rows far from them. Most of the slice stays unpainted.
    """
    from semicl.scribbles import strokes_from_mask

    return strokes_from_mask(gt2d)


#: The slices the tests "paint": one without hippocampus (background only) and two through it.
SCRIBBLE_SLICES = (6, 14, 20)


def tiny_config(finetune_steps: int = 110, global_steps: int = 4, local_steps: int = 4):
    """A few seconds of each stage on a 2-core CPU (base width 8)."""
    from semicl.config import preset

    cfg = preset("quick")
    cfg.model.base_width = 8
    cfg.global_stage.steps, cfg.global_stage.batch_size = global_steps, 8
    cfg.local_stage.steps, cfg.local_stage.mode = local_steps, "stride"
    cfg.finetune.steps, cfg.finetune.lr, cfg.finetune.batch_size = finetune_steps, 5e-3, 8
    for stage in (cfg.global_stage, cfg.local_stage, cfg.finetune):
        stage.epochs = None  # fixed step counts, whatever the preset's epochs
    cfg.global_stage.enabled = global_steps > 0
    cfg.local_stage.enabled = local_steps > 0
    return cfg


def wait_idle(qtbot, widget, timeout_s: float = 120.0) -> float:
    """Wait until the widget's job has finished; returns the seconds waited."""
    t0 = time.perf_counter()
    qtbot.waitUntil(lambda: not widget.controller.busy, timeout=int(timeout_s * 1000))
    return time.perf_counter() - t0


def foreground_dice(pred: np.ndarray, gt: np.ndarray, n_classes: int) -> float:
    """Mean Dice over the foreground classes (1..n_classes-1)."""
    from semicl.metrics import dice_per_class

    return float(np.mean(dice_per_class(pred, gt, n_classes)))


def assert_round_over(widget, status: str) -> None:
    """The round's last word is in the status line, and no progress bar of it is left
    in napari's activity panel."""
    from napari.utils import progress

    assert widget.status.text() == status
    assert [(p.desc, p.n, p.total) for p in progress._all_instances] == []
