"""Time from "Train" to the first full-volume prediction of a network.

One real MSD volume, strokes simulated on 3 slices from its ground truth (see
semicl.scribbles); a short "first look" fine-tune (the plugin's first overlay until
session 27, trained by every Train until session 29; the round now shows a pixel forest's
first, ``benchmarks/first_look_quality.py``) and its
full-volume prediction, then the chosen preset and its full-volume prediction. Reports the time of
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

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

from benchmarks.first_look_quality import first_look_config  # noqa: E402
from semicl.config import preset  # noqa: E402
from semicl.device import set_cpu_threads  # noqa: E402
from semicl.events import ProgressEvent, drive  # noqa: E402
from semicl.interactive import train_on_image  # noqa: E402
from semicl.io.download import find_or_fetch_msd  # noqa: E402
from semicl.io.msd import load_msd  # noqa: E402
from semicl.metrics import dice_per_class  # noqa: E402
from semicl.scribbles import painted_share, scribble_volume  # noqa: E402


def run(gen, t0: float = 0.0, stage_end: dict | None = None, steps: dict | None = None):
    """Drive a training generator; note when each stage's last event came and its step."""

    def note(ev) -> None:
        if isinstance(ev, ProgressEvent) and stage_end is not None and steps is not None:
            stage_end[ev.stage.value] = time.perf_counter() - t0
            steps[ev.stage.value] = ev.step

    return drive(gen, note)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--case", default="hippocampus_001")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--first-look-steps", type=int, default=30,
                    help="the plugin's first look before the preset (0 = off)")
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
        look = None
        if args.first_look_steps > 0:  # as the plugin does: a rough network first
            fl_model = run(train_on_image(image.data, scribbles, class_names=ds.class_names,
                                          config=first_look_config(cfg, args.first_look_steps)))
            pred = fl_model.predict(image.data)
            look = (time.perf_counter() - t0, dice_per_class(pred.mask, gt, len(ds.class_names)))
            print(f"run {r}: first look ({args.first_look_steps} steps) full prediction "
                  f"{look[0]:.1f}s dice {np.round(look[1], 3)}", flush=True)
        stage_end: dict[str, float] = {}
        steps: dict[str, int] = {}
        model = run(train_on_image(image.data, scribbles, class_names=ds.class_names, config=cfg),
                    t0, stage_end, steps)
        t_train = time.perf_counter() - t0
        pred = model.predict(image.data)
        total = time.perf_counter() - t0
        dice = dice_per_class(pred.mask, gt, len(ds.class_names))
        rows.append((r, look, stage_end, steps, t_train, total, dice))
        print(f"run {r}: stages {stage_end} steps {steps} train {t_train:.1f}s "
              f"pretrained full prediction {total:.1f}s dice {np.round(dice, 3)}", flush=True)
    device = torch.cuda.get_device_name() if cfg.device.startswith("cuda") else (
        platform.processor() or platform.machine())
    lines = [f"{args.case} {image.data.shape}, painted slices {slices} "
             f"({100 * painted_share(scribbles):.2f}% of voxels), preset {args.preset}, "
             f"device {cfg.device} ({device}), threads {torch.get_num_threads()}", "",
             f"first look: {args.first_look_steps} fine-tuning steps (batch <= 4, lr >= 3e-3), "
             "then the whole preset, as the plugin runs them; times from Train", "",
             "| run | first look full prediction s | its Dice ant. / post. | global ends s | "
             "local ends s | fine-tune ends s | steps g/l/f | pretrained full prediction s | "
             "Dice anterior | Dice posterior |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r, look, ends, steps, _t, total, dice in rows:
        fl = (f"{look[0]:.1f} | {look[1][0]:.3f} / {look[1][1]:.3f}" if look else "- | -")
        lines.append(
            f"| {r} | {fl} | {ends.get('global', 0):.1f} | {ends.get('local', 0):.1f} | "
            f"{ends.get('finetune', 0):.1f} | {steps.get('global', 0)}/{steps.get('local', 0)}/"
            f"{steps.get('finetune', 0)} | {total:.1f} | {dice[0]:.3f} | {dice[1]:.3f} |")
    out = args.out or Path(__file__).parent / "results" / f"first_prediction_{cfg.device}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
