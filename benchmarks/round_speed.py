"""Speed and memory of the plugin's Train / Retrain round on three ordinary image sizes.

Issue #12 item 2: a 512 x 512 photograph (``skimage.data.camera``, 2-D, 2 classes), the
Colin27 MRI (181 x 217 x 181, 4 classes) and one MSD hippocampus volume (~35 x 51 x 35,
3 classes). Strokes come from the project's simulator (``semicl.scribbles.user_strokes``):
on the photograph from its Otsu mask (the dark figure vs the rest), on the volumes from
their ground truth (k = 5 / 3 slices, as in ``benchmarks/scribbles.py``). Each case runs
in its own process (so the peak resident memory is that case's) with the plugin's
settings: the quick preset, the first look (the pixel forest's overlay), the torch threads
the plugin's worker uses (all cores but one), then one Retrain after simulated correction
strokes.

    python benchmarks/round_speed.py              # all cases -> results/round_speed_cpu.md
    python benchmarks/round_speed.py --cases camera --threads 2
    python benchmarks/round_speed.py --members 1 2   # one network against two, side by side
    python benchmarks/round_speed.py --cases colin27 --set amp=False   # a config override

The event-loop lag while a round runs is measured in the real window by ``ui_lag.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

CASES = ("camera", "colin27", "msd")
OUT = Path(__file__).parent / "results" / "round_speed_cpu.md"


def load(name: str, data: str | None, draw: int = 0):
    """(image, mask, class names, axis, scribbles) of a case; 2-D for the photograph;
    ``draw``: the volumes' stroke draw (``benchmarks/scribbles.py``'s seed)."""
    from semicl.scribbles import user_strokes

    if name == "camera":
        from skimage.data import camera
        from skimage.filters import threshold_otsu

        image = camera()
        mask = (image < threshold_otsu(image)).astype(np.uint8)
        scribbles = user_strokes(mask, np.random.default_rng(0))
        return image, mask, ["background", "figure"], 0, scribbles
    from benchmarks.scribble_cases import load_case

    case = load_case("colin27:k5" if name == "colin27" else "msd:hippocampus_015:k3", draw, data)
    return case.image, case.mask, case.class_names, case.axis, case.scribbles


def timed_round(image, scribbles, names, axis, cfg, last=None) -> tuple[dict, object]:
    """A Train (``last`` None) or a Retrain warm from ``last``, the previous RoundResult
    (its answer handed on, as the plugin does); (timings, its RoundResult)."""
    from benchmarks.scribbles import plugin_round
    from semicl.labels import painted_slices
    from semicl.training.control import TrainControl

    # the plugin previews the slice in view: the last painted one (a 2-D image: its only one)
    painted = np.flatnonzero(painted_slices(scribbles, axis))
    control = TrainControl(preview_slice=int(painted[-1]))
    steps: dict[str, int] = {}
    ends: dict[str, float] = {}
    t0 = time.perf_counter()
    result, first = plugin_round(image, scribbles, names, axis, cfg, control,
                                 None if last is None else last.model,
                                 previous=None if last is None else last.probs,
                                 clock=lambda: time.perf_counter() - t0, steps=steps, ends=ends)
    # each stage's seconds: from the previous stage's last event (the round's start) to its own
    marks = [0.0, *ends.values()]
    stages = {k: {"s": round(b - a, 1), "steps": steps.get(k)}
              for k, a, b in zip(ends, marks, marks[1:], strict=False)}
    return {"seconds": round(time.perf_counter() - t0, 1), "stages": stages,
            "first_overlay_s": None if first is None else round(first, 1)}, result


def one(name: str, data: str | None, threads: int, members: int | None = None,
        overrides: list[str] | None = None, draw: int = 0) -> dict:
    """Train, then one Retrain after correction strokes; in this process."""
    from benchmarks.scribbles import apply_overrides
    from semicl.config import preset
    from semicl.device import set_cpu_threads
    from semicl.metrics import dice_per_class
    from semicl.scribbles import correction_strokes

    set_cpu_threads(threads)
    image, mask, names, axis, scribbles = load(name, data, draw)
    cfg = apply_overrides(preset("quick"), overrides or [])
    cfg.members = members or cfg.members
    train, result = timed_round(image, scribbles, names, axis, cfg)
    # correction strokes are drawn on the slices of a volume: a 2-D image is one slice
    as_volume = (lambda a: a[None]) if image.ndim == 2 else (lambda a: a)
    fix = correction_strokes(as_volume(mask), as_volume(result.mask), as_volume(scribbles),
                             0 if image.ndim == 2 else axis, np.random.default_rng(1))
    fix = fix.reshape(image.shape)
    retrain, result2 = timed_round(image, fix, names, axis, cfg, last=result)
    dice = [float(np.mean(dice_per_class(r.mask.astype(np.int64), mask.astype(np.int64),
                                         len(names)))) for r in (result, result2)]
    return {"case": name if draw == 0 else f"{name} draw {draw}", "shape": list(image.shape),
            "threads": threads, "members": cfg.members,
            "settings": " ".join(overrides or []) or "default",
            "train": train, "retrain": retrain, "dice_whole_image": [round(d, 3) for d in dice],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            **gpu_peak(cfg.device)}


def gpu_peak(spec: str) -> dict:
    """On CUDA: the device's name and the most memory its allocator held, in MB."""
    from benchmarks.le_methods import device_label, read_peak
    from semicl.device import resolve_device

    dev = resolve_device(spec)
    if dev.type != "cuda":
        return {}
    return {"device": device_label(dev), "peak_cuda_mb": round(read_peak(dev) / 2**20)}


def by_stage(timed: dict) -> str:
    """Each stage's seconds and steps (prediction: batches) of a timed round, as
    ``finetune 93.9 s (900 steps) · predict 11.9 s (12 steps)``; "–" for older rows."""
    return " · ".join(f"{k} {v['s']} s" + (f" ({v['steps']} steps)" if v["steps"] else "")
                      for k, v in timed.get("stages", {}).items()) or "–"


def gpu_cell(row: dict) -> str:
    """`` (CUDA 812, cuda (NVIDIA H200))`` after the peak RSS, for a row run on a GPU."""
    return f" (CUDA {row['peak_cuda_mb']}, {row['device']})" if "peak_cuda_mb" in row else ""


def table(rows: list[dict]) -> str:
    head = ("| case | shape | threads | networks | settings | first overlay s | Train s "
            "| Retrain s | peak memory MB | Dice after Train / Retrain (whole image) "
            "| Train by stage | Retrain by stage |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| {r['case']} | {'×'.join(map(str, r['shape']))} | {r['threads']} | "
        f"{r.get('members', 1)} | {r.get('settings', 'default')} | "
        f"{r['train']['first_overlay_s']} | {r['train']['seconds']} | {r['retrain']['seconds']} | "
        f"{r['peak_rss_mb']}{gpu_cell(r)} | "
        f"{r['dice_whole_image'][0]:.3f} / {r['dice_whole_image'][1]:.3f} "
        f"| {by_stage(r['train'])} | {by_stage(r['retrain'])} |\n"
        for r in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                    help="torch threads (default: the plugin's, all cores but one)")
    ap.add_argument("--members", nargs="+", type=int, default=[None],
                    help="networks side by side (default: the preset's); several: one row each")
    ap.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                    help="training-config overrides, as benchmarks/scribbles.py's --set")
    ap.add_argument("--variants", nargs="+", default=None, metavar="KEY=VALUE[,KEY=VALUE]",
                    help="several override sets, one row each (\"default\" = none), side by "
                         "side in one run")
    ap.add_argument("--data", default=None, help="folder with the datasets (else $SEMICL_DATA_DIR)")
    ap.add_argument("--draw", type=int, default=0,
                    help="the volumes' stroke draw (benchmarks/scribbles.py's --seeds)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.data, args.threads, args.members[0],
                             args.overrides, args.draw)))
        return 0
    variants = [[] if v == "default" else v.split(",") for v in args.variants] \
        if args.variants else [args.overrides]
    rows = []
    for name in args.cases:
        for members in args.members:
            for overrides in variants:
                cmd = [sys.executable, __file__, "--one", name, "--threads", str(args.threads),
                       "--draw", str(args.draw)]
                cmd += ["--data", args.data] if args.data else []
                cmd += ["--members", str(members)] if members else []
                cmd += ["--set", *overrides] if overrides else []
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    from benchmarks.le_methods import cpu_model

    text = (f"Round speed (issue #12 item 2), preset quick, {cpu_model()} ({platform.machine()}), "
            f"{os.cpu_count()} cores, torch {torch.__version__}, "
            f"load average at the end {os.getloadavg()[0]:.1f}\n\n{table(rows)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
