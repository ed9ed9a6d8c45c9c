"""Tune the quick preset: one MSD run (10 % labelled, splits.json seed 0) per call.

Trains ``preset("quick")`` with overrides, predicts the 44 held-out volumes and appends
one JSON line (config overrides, stage steps and seconds, held-out Dice) to
``benchmarks/results/quick_tuning.jsonl``. The tuning table of docs/performance.md lists
each row with the flags of this script that reproduce it (its rows were made by this
script's first draft, two runs at a time with 1 thread each: the Dice counts there, not
the time). Examples::

    python benchmarks/quick_tuning.py --name ft-old --no-pretrain --geometry strong \
        --set flip=True finetune.lr=1e-3 finetune.epochs=20
    python benchmarks/quick_tuning.py --name ft-now --no-pretrain   # today's fine-tuning
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from semicl.config import preset
from semicl.device import set_cpu_threads
from semicl.events import ProgressEvent, drive
from semicl.experiments.evaluation import evaluate_cases
from semicl.experiments.run import msd_setup
from semicl.experiments.split import HELD_OUT_FRACTION
from semicl.training.pipeline import train

#: the fine-tuning geometry before tuning (the contrastive stages' default); "mild" is
#: FinetuneConfig's own (``scale``, ``rotation_deg``, ``crop``)
STRONG = {"scale": (0.7, 1.3), "rotation_deg": 15.0, "crop": (0.6, 1.0)}
OUT = Path(__file__).resolve().parent / "results" / "quick_tuning.jsonl"


def override(cfg, assignment: str) -> None:
    """``finetune.lr=3e-3`` style: a dotted attribute of the config, a Python literal."""
    import ast

    key, value = assignment.split("=", 1)
    *path, last = key.split(".")
    obj = cfg
    for part in path:
        obj = getattr(obj, part)
    if not hasattr(obj, last):
        raise SystemExit(f"unknown config field {key!r}")
    setattr(obj, last, ast.literal_eval(value))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--data", default=None, help="MSD Task04 folder or the shared data root")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-pretrain", action="store_true", help="fine-tuning only")
    ap.add_argument("--geometry", choices=("mild", "strong"), default="mild",
                    help="fine-tuning's spatial augmentation")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    set_cpu_threads(a.threads)
    cfg = preset("quick")
    cfg.num_threads = a.threads
    if a.no_pretrain:
        cfg.global_stage.enabled = cfg.local_stage.enabled = False
    if a.geometry == "strong":
        cfg.finetune = dataclasses.replace(cfg.finetune, **STRONG)
    for s in a.set:  # after --geometry: finetune.scale=... wins
        override(cfg, s)
    t0 = time.perf_counter()
    ds, split, tdata = msd_setup(a.data, cfg, 0.1, HELD_OUT_FRACTION, None)
    seen = {}

    def note(ev) -> None:
        if isinstance(ev, ProgressEvent):
            seen[ev.stage.value] = [ev.step, round(ev.elapsed_s, 1)]

    model = drive(train(tdata, cfg), note)
    train_s = time.perf_counter() - t0
    acc, _ = evaluate_cases(model, ds.select(split.test))
    s = acc.summary()
    row = {"name": a.name, "no_pretrain": a.no_pretrain, "geometry": a.geometry, "set": a.set,
           "threads": a.threads, "split": split.source, "stages": seen,
           "train_s": round(train_s, 1), "total_s": round(time.perf_counter() - t0, 1),
           "dice_pooled": s["pooled"], "dice_pooled_mean": s["pooled_mean"],
           "dice_per_volume_mean": s["per_volume_mean"]}
    print(json.dumps(row))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
