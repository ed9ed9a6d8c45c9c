"""Does averaging networks trained with different seeds tame a Train's spread? (issue 10)

One case of the scribble benchmark (``benchmarks/scribbles.py``: the same strokes, the
plugin's round), trained once per training seed; each network's class probabilities are
saved, then averaged, and the Dice on the unpainted slices is reported for every member
and for their average. Each member is one network (``members=1``); the round itself has
trained two side by side since session 9 (``TrainConfig.members``), and its two are
exactly this script's seeds 0 and 1 (Colin27 k5 draw 0: 0.644 both ways).

    python benchmarks/seed_average.py --case colin27:k5 --draw 0 --train-seeds 0 1
    python benchmarks/seed_average.py --case colin27:k5 --draw 0 --train-seeds 0 1 --combine

``--combine`` only reads the saved probabilities (``--dir``, default
``benchmarks/results/seed_average``, float16 ``.npy``, not for the repository).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

from benchmarks.scribble_cases import load_case  # noqa: E402
from benchmarks.scribbles import apply_overrides, mean, plugin_round  # noqa: E402
from semicl.config import preset  # noqa: E402
from semicl.device import set_cpu_threads  # noqa: E402
from semicl.interactive import TrainControl  # noqa: E402

DIR = Path(__file__).resolve().parent / "results" / "seed_average"


def probs_path(folder: Path, case: str, draw: int, seed: int) -> Path:
    return folder / f"{case.replace(':', '_')}_d{draw}_t{seed}.npy"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", required=True, help="a scribble-benchmark case, e.g. colin27:k5")
    ap.add_argument("--draw", type=int, default=0, help="seed of the stroke draw")
    ap.add_argument("--train-seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--combine", action="store_true", help="only average the saved members")
    ap.add_argument("--dir", type=Path, default=DIR)
    ap.add_argument("--data", default=None, help="folder with the datasets (else $SEMICL_DATA_DIR)")
    args = ap.parse_args(argv)
    case = load_case(args.case, args.draw, args.data)
    args.dir.mkdir(parents=True, exist_ok=True)
    if not args.combine:
        set_cpu_threads(1)
        for seed in args.train_seeds:
            t0 = time.perf_counter()
            cfg = apply_overrides(preset("quick"), [f"seed={seed}", "members=1"])
            control = TrainControl(preview_slice=int(case.painted[-1]))
            result, _ = plugin_round(case.image, case.scribbles, case.class_names, case.axis,
                                     cfg, control, None, clock=time.perf_counter)
            probs = result.model.predict(case.image, axis=case.axis).probs
            np.save(probs_path(args.dir, args.case, args.draw, seed), probs.astype(np.float16))
            print(f"{args.case} draw {args.draw} training seed {seed}: "
                  f"{mean(case.dice(result.mask)):.3f} in {time.perf_counter() - t0:.0f} s",
                  flush=True)
    total = None
    for seed in args.train_seeds:
        p = np.load(probs_path(args.dir, args.case, args.draw, seed)).astype(np.float32)
        print(f"  member {seed}: {mean(case.dice(p.argmax(0))):.3f}")
        total = p if total is None else total + p
    avg = total.argmax(0)
    dice = case.dice(avg)
    print(f"  average of {len(args.train_seeds)}: {mean(dice):.3f} "
          f"(per class {[round(d, 3) for d in dice]}, "
          f"volume ratio {case.volume_ratio(avg)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
