"""Seconds of a whole-image prediction on a CPU, by slices per batch.

The round's model (two batch-normed networks, their probabilities averaged, one torch
thread each side by side, as the plugin runs them on 2 cores) predicts the three images of
``round_speed.py`` (a 512 x 512 photograph, the Colin27 MRI 181 x 217 x 181, one MSD
hippocampus volume) with each batch size asked for, alternating, each the best of
``--repeats``; "auto" is :func:`semicl.inference.prediction_batch`. The networks are freshly
initialised: the seconds do not depend on the weights. The last column compares every
batch size's probabilities with the first one's (they differ only in the order of sums).

    python benchmarks/predict_speed.py                 # -> results/predict_speed_cpu.md
    python benchmarks/predict_speed.py --cases colin27 --batches 16 4 auto
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

from benchmarks.round_speed import CASES, load

OUT = Path(__file__).parent / "results" / "predict_speed_cpu.md"


def ensemble(classes: int) -> torch.nn.Module:
    """Two freshly initialised batch-normed networks averaged (the round's model), in eval
    mode."""
    from semicl.config import ModelConfig
    from semicl.models.ensemble import NetEnsemble
    from semicl.models.network import SegmentationNet

    torch.manual_seed(0)
    return NetEnsemble([SegmentationNet(ModelConfig(norm="batch"), classes)
                        for _ in range(2)]).eval()


def timed(net, image: np.ndarray, axis: int, batch: int | None) -> tuple[float, np.ndarray, int]:
    """(seconds, probabilities, batches) of one prediction of ``image``."""
    from semicl.events import drive
    from semicl.inference import predict_iter

    total = {}
    t0 = time.perf_counter()
    pred = drive(predict_iter(net, image, axis=axis, batch_size=batch),
                 on_event=lambda e: total.update(batches=e.total))
    return time.perf_counter() - t0, pred.probs, total["batches"]


def one(name: str, data: str | None, batches: list[str], repeats: int) -> list[dict]:
    image, _, names, axis, _ = load(name, data)
    net = ensemble(len(names))
    best: dict[str, float] = {}
    probs: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for _ in range(repeats):
        for b in batches:
            s, p, n = timed(net, image, axis, None if b == "auto" else int(b))
            best[b] = min(best.get(b, float("inf")), s)
            probs.setdefault(b, p)
            counts[b] = n
    ref = probs[batches[0]]
    return [{"case": name, "shape": "×".join(map(str, image.shape)), "batch": b,
             "batches": counts[b], "seconds": best[b], "vs_first": best[b] / best[batches[0]],
             "max_diff": float(np.abs(probs[b] - ref).max()),
             "mask_diff": int((probs[b].argmax(0) != ref.argmax(0)).sum())} for b in batches]


def main(argv: list[str] | None = None) -> int:
    from semicl.device import set_cpu_threads

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--batches", nargs="+", default=["16", "auto"],
                    help="slices per batch to compare, or 'auto' (default: 16 auto)")
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                    help="torch threads (default: the plugin's, all cores but one)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data", default=os.environ.get("SEMICL_DATA_DIR"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    for b in args.batches:
        if b != "auto" and not (b.isdigit() and int(b) >= 1):
            ap.error(f"--batches takes integers >= 1 or 'auto', got {b!r}")
    set_cpu_threads(args.threads)
    rows = [r for c in args.cases for r in one(c, args.data, args.batches, args.repeats)]
    text = (f"Whole-image prediction on a CPU by slices per batch ({platform.machine()}, "
            f"{os.cpu_count()} cores, {args.threads} torch thread(s), two networks side by "
            f"side, best of {args.repeats}; `python benchmarks/predict_speed.py`)\n\n"
            "| case | shape | slices a batch | batches | seconds | against the first | "
            "largest probability difference | mask pixels that differ |\n"
            "|---|---|---|---|---|---|---|---|\n" + "".join(
                f"| {r['case']} | {r['shape']} | {r['batch']} | {r['batches']} | "
                f"{r['seconds']:.2f} | {r['vs_first']:.2f} | {r['max_diff']:.1e} | "
                f"{r['mask_diff']} |\n" for r in rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
