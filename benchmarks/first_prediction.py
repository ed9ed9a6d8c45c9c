"""Time from "Train" to the first full-volume prediction, as the plugin does it.

One real MSD volume, strokes simulated on 3 slices from its ground truth (see
semicl.scribbles), the chosen preset, then a full-volume prediction. Reports the time of
each stage, the total, the share of pixels painted and the Dice of the prediction
against the ground truth of the whole volume (unpainted slices included).

    python benchmarks/first_prediction.py --threads 2 --preset quick
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from semicl.config import preset
from semicl.device import set_cpu_threads
from semicl.interactive import train_on_image
from semicl.io.download import find_or_fetch_msd
from semicl.io.msd import load_msd
from semicl.metrics import dice_per_class
from semicl.scribbles import painted_share, scribble_volume
from semicl.training.events import ProgressEvent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--case", default="hippocampus_001")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    set_cpu_threads(args.threads)
    ds = load_msd(find_or_fetch_msd(args.data))
    case = next(c for c in ds.cases if c.case_id == args.case)
    image, gt = case.load()
    gt = np.asarray(gt.data).astype(np.int64)
    per_slice = (gt > 0).reshape(gt.shape[0], -1).sum(1)
    fg_slices = np.flatnonzero(per_slice)
    slices = sorted({int(fg_slices[len(fg_slices) // 4]), int(fg_slices[3 * len(fg_slices) // 4]),
                     int(np.argmax(per_slice))})
    scribbles = scribble_volume(gt, slices, axis=0)
    cfg = preset(args.preset)
    cfg.device = args.device
    rows = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        stage_end: dict[str, float] = {}
        gen = train_on_image(image.data, scribbles, class_names=ds.class_names, config=cfg)
        steps: dict[str, int] = {}
        while True:
            try:
                ev = next(gen)
            except StopIteration as stop:
                model = stop.value
                break
            if isinstance(ev, ProgressEvent):
                stage_end[ev.stage.value] = time.perf_counter() - t0
                steps[ev.stage.value] = ev.step
        t_train = time.perf_counter() - t0
        pred = model.predict(image.data)
        total = time.perf_counter() - t0
        dice = dice_per_class(pred.mask, gt, len(ds.class_names))
        rows.append((r, stage_end, steps, t_train, total, dice))
        print(f"run {r}: stages {stage_end} steps {steps} train {t_train:.1f}s "
              f"first full prediction {total:.1f}s dice {np.round(dice, 3)}", flush=True)
    device = torch.cuda.get_device_name() if cfg.device.startswith("cuda") else (
        platform.processor() or platform.machine())
    lines = [f"{args.case} {image.data.shape}, painted slices {slices} "
             f"({100 * painted_share(scribbles):.2f}% of voxels), preset {args.preset}, "
             f"device {cfg.device} ({device}), threads {torch.get_num_threads()}", "",
             "| run | global ends s | local ends s | fine-tune ends s | steps g/l/f | "
             "first full prediction s | Dice anterior | Dice posterior |",
             "|---|---|---|---|---|---|---|---|"]
    for r, ends, steps, _t, total, dice in rows:
        lines.append(
            f"| {r} | {ends.get('global', 0):.1f} | {ends.get('local', 0):.1f} | "
            f"{ends.get('finetune', 0):.1f} | {steps.get('global', 0)}/{steps.get('local', 0)}/"
            f"{steps.get('finetune', 0)} | {total:.1f} | {dice[0]:.3f} | {dice[1]:.3f} |")
    out = args.out or Path(__file__).parent / "results" / f"first_prediction_{cfg.device}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
