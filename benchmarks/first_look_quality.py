"""How good the first overlay is: the round's first look against a forest on the same strokes.

Issue 12 times the first overlay (<= 10 s after Train); nothing scored what it shows. Here,
on the scribble benchmark's cases (``benchmarks/scribble_cases.py``: the same strokes), the
overlay the plugin shows first — the first look's preview of the last painted slice, after
its 30 steps (``semicl.interactive``'s ``_first_look``, as the round runs it, one thread) —
is scored on that slice's every pixel, beside what an ilastik-style forest fitted on the
same strokes (``benchmarks/le_methods.rf_fit``, the benchmark's forest) would show on it.
Seconds include building the round's training data (the first look) or fitting (the forest).

    python benchmarks/first_look_quality.py --out benchmarks/results/first_look_quality_cpu.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

from benchmarks.le_methods import device_label, rf_features, rf_fit  # noqa: E402
from benchmarks.scribble_cases import load_case  # noqa: E402
from benchmarks.scribbles import FIRST_LOOK_STEPS  # noqa: E402
from semicl.config import preset  # noqa: E402
from semicl.data.normalize import normalize_intensity  # noqa: E402
from semicl.device import set_cpu_threads  # noqa: E402
from semicl.events import PreviewEvent, drive  # noqa: E402
from semicl.interactive import _first_look, _round_config, prepare_image_data  # noqa: E402
from semicl.labels import scribbles_to_targets  # noqa: E402
from semicl.metrics import dice_per_class  # noqa: E402
from semicl.training.control import TrainControl  # noqa: E402

CASES = ("colin27:k5:0", "colin27:k5:1", "msd:hippocampus_015:k3:0",
         "msd:hippocampus_034:k3:0", "em:k1:0")


def slice_dice(pred: np.ndarray, case, index: int) -> float:
    """Mean foreground Dice of a predicted slice against the truth of slice ``index``."""
    truth = np.take(case.mask, index, axis=case.axis)
    return float(np.nanmean(dice_per_class(pred, truth, len(case.class_names))))


def first_look(case, seed: int) -> dict:
    """The round's first look (data built as the round does), scored on its preview."""
    cfg = dataclasses.replace(preset("quick"), seed=seed)
    index = int(case.painted[-1])
    t0 = time.perf_counter()
    data = prepare_image_data(case.image, case.scribbles, case.class_names, case.axis,
                              prior_reach=cfg.finetune.prior_reach,
                              prior_beyond=cfg.finetune.prior_beyond)
    shown: list[PreviewEvent] = []
    drive(_first_look(data, _round_config(cfg, case.axis), TrainControl(preview_slice=index),
                      FIRST_LOOK_STEPS),
          lambda ev: shown.append(ev) if isinstance(ev, PreviewEvent) else None)
    return {"method": f"first look, seed {seed}", "seconds": time.perf_counter() - t0,
            "dice": slice_dice(shown[-1].mask, case, index)}


def forest(case, trees: int = 50) -> dict:
    """The benchmark's forest on the same strokes, predicting the previewed slice only."""
    index = int(case.painted[-1])
    t0 = time.perf_counter()
    clf = rf_fit([(case.image, scribbles_to_targets(case.scribbles, len(case.class_names)))],
                 case.axis, trees=trees)
    f = rf_features(np.take(normalize_intensity(case.image), index, axis=case.axis))
    pred = clf.predict(f.reshape(-1, f.shape[-1])).reshape(f.shape[:2])
    return {"method": f"forest, {trees} trees", "seconds": time.perf_counter() - t0,
            "dice": slice_dice(pred, case, index)}


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
        for row in [first_look(case, s) for s in args.seeds] + [forest(case)]:
            row.update(case=name, draw=int(draw), slice=int(case.painted[-1]))
            print(json.dumps(row), flush=True)
            rows.append(row)
    lines = [
        "# The first overlay's quality: the first look against a forest on the same strokes",
        "",
        f"Command: `python benchmarks/first_look_quality.py {' '.join(argv or [])}`".rstrip(),
        f"({device_label(torch.device('cpu'))}, one thread; Dice: mean over the structures"
        " of the previewed slice, every pixel of it; seconds: data built and first look"
        " trained, or forest fitted and the slice predicted)",
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
