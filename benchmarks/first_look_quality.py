"""How good the first overlay is: the round's (a pixel forest's) against the first look's network.

Issue 12 times the first overlay (<= 10 s after Train); nothing scored what it shows. Here,
on the scribble benchmark's cases (``benchmarks/scribble_cases.py``: the same strokes), the
previewed slice (the last painted one, as the plugin shows it) is scored on every pixel:
what the round shows first since session 27 — a pixel forest fitted on the strokes
(:mod:`semicl.pixel_forest`; the run is ``training_round`` as the plugin calls it, stopped at
its first preview) — beside what it showed before, the first look's network after its 30
steps (the same data, one thread; the round trains no such network since session 29, its
configuration is kept here: :func:`first_look_config`). Seconds include building the
round's training data.

    python benchmarks/first_look_quality.py --out benchmarks/results/first_look_quality_cpu.md
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

from benchmarks.le_methods import device_label  # noqa: E402
from benchmarks.scribble_cases import load_case  # noqa: E402
from semicl.config import TrainConfig, preset  # noqa: E402
from semicl.device import set_cpu_threads  # noqa: E402
from semicl.events import PreviewEvent, drive  # noqa: E402
from semicl.interactive import (  # noqa: E402
    _round_config,
    prepare_image_data,
    training_round,
)
from semicl.metrics import dice_per_class  # noqa: E402
from semicl.training.control import TrainControl  # noqa: E402
from semicl.training.pipeline import train  # noqa: E402
from semicl.training.stages import preview_mask  # noqa: E402

#: the first look's network until session 29: 30 fine-tuning steps of a fresh network,
#: batch <= 4, lr >= 3e-3, no weight average
FIRST_LOOK_STEPS, FIRST_LOOK_BATCH, FIRST_LOOK_LR = 30, 4, 3e-3


def first_look_config(config: TrainConfig, steps: int) -> TrainConfig:
    """A fine-tune-only copy of ``config``: ``steps`` steps, batch <= 4, lr >= 3e-3, no
    weight average (the first look's network the round trained until session 29)."""
    quick = copy.deepcopy(config)
    quick.global_stage.enabled = quick.local_stage.enabled = False
    ft = quick.finetune
    ft.enabled = True
    ft.set_steps(steps)
    ft.batch_size, ft.lr = min(ft.batch_size, FIRST_LOOK_BATCH), max(ft.lr, FIRST_LOOK_LR)
    ft.ema_decay = 0.0  # a few dozen steps: the last weights, not an average over them
    quick.validate()
    return quick


CASES = ("colin27:k5:0", "colin27:k5:1", "msd:hippocampus_015:k3:0",
         "msd:hippocampus_034:k3:0", "em:k1:0")


def slice_dice(pred: np.ndarray, case, index: int) -> float:
    """Mean foreground Dice of a predicted slice against the truth of slice ``index``."""
    truth = np.take(case.mask, index, axis=case.axis)
    return float(np.nanmean(dice_per_class(pred, truth, len(case.class_names))))


def network_look(case, seed: int) -> dict:
    """The first look's network (30 steps, data built as the round does), scored on the
    previewed slice: the first overlay until session 27."""
    cfg = dataclasses.replace(preset("quick"), seed=seed)
    index = int(case.painted[-1])
    t0 = time.perf_counter()
    data = prepare_image_data(case.image, case.scribbles, case.class_names, case.axis,
                              prior_reach=cfg.finetune.prior_reach,
                              prior_beyond=cfg.finetune.prior_beyond)
    model = drive(train(data, first_look_config(_round_config(cfg, case.axis),
                                                FIRST_LOOK_STEPS)))
    mask = preview_mask(model.net, data.preview[index])
    return {"method": f"first look's network ({FIRST_LOOK_STEPS} steps), seed {seed}",
            "seconds": time.perf_counter() - t0, "dice": slice_dice(mask, case, index)}


def round_overlay(case) -> dict:
    """The round's first overlay as the plugin gets it (``training_round`` with the
    plugin's first look, stopped at its first preview): seconds from the call."""
    index = int(case.painted[-1])
    control = TrainControl(preview_slice=index)
    shown: list[PreviewEvent] = []

    def seen(ev) -> None:
        if isinstance(ev, PreviewEvent) and not shown:
            shown.append(ev)
            seconds.append(time.perf_counter() - t0)
            control.request_stop()

    seconds: list[float] = []
    t0 = time.perf_counter()
    drive(training_round(case.image, case.scribbles, class_names=case.class_names,
                         config=preset("quick"), axis=case.axis, control=control,
                         first_look=True, predict=False), seen)
    return {"method": "the round's first overlay (pixel forest)", "seconds": seconds[0],
            "dice": slice_dice(shown[0].mask, case, index)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES),
                    help="case:k<k>:<stroke draw>, as benchmarks/scribbles.py names them")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1],
                    help="training seeds of the first look")
    ap.add_argument("--data", default=None, help="data root (default: $SEMICL_DATA_DIR)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results"
                    / "first_look_quality_cpu.md")
    args = ap.parse_args(argv)
    set_cpu_threads(1)
    rows = []
    for spec in args.cases:
        name, draw = spec.rsplit(":", 1)
        case = load_case(name, int(draw), args.data)
        for row in [network_look(case, s) for s in args.seeds] + [round_overlay(case)]:
            row.update(case=name, draw=int(draw), slice=int(case.painted[-1]))
            print(json.dumps(row), flush=True)
            rows.append(row)
    lines = [
        "# The first overlay's quality: the round's (a pixel forest's) against the first"
        " look's network",
        "",
        f"Command: `python benchmarks/first_look_quality.py {' '.join(argv or [])}`".rstrip(),
        f"({device_label(torch.device('cpu'))}, one thread; Dice: mean over the structures"
        " of the previewed slice, every pixel of it; seconds: from the call, the round's"
        " training data built)",
        "",
        "| case | stroke draw | previewed slice | method | seconds | Dice of the slice |",
        "|---|---|---|---|---:|---:|",
    ]
    lines += [f"| {r['case']} | {r['draw']} | {r['slice']} | {r['method']} | {r['seconds']:.1f}"
              f" | {r['dice']:.3f} |" for r in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
