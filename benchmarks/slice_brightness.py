"""Does the trained network's answer follow each slice's brightness? (issue #10, session 12)

Trains one Train round of the scribble benchmark (``benchmarks/scribbles.py``, the plugin's
code) on a case, then predicts the image twice with that model: as it is, and with every
slice mapped to the volume's mean and standard deviation (each slice alone, an affine map).
If the network had learnt the structures rather than the painted slice's grey levels, the
two would agree. Writes a markdown table: Dice, volume ratio and the predicted structure
share of chosen slices beside each slice's mean grey level.

    python benchmarks/slice_brightness.py --case em:k1 --slices 4 6 7 10 17 20 \
        --out benchmarks/results/scribbles/slice_brightness_em_k1.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

from benchmarks import scribbles as bench  # noqa: E402
from benchmarks.scribble_cases import load_case  # noqa: E402
from semicl.config import preset  # noqa: E402
from semicl.device import set_cpu_threads  # noqa: E402


def standardised(image: np.ndarray, axis: int) -> np.ndarray:
    """Each slice along ``axis`` mapped affinely to the whole volume's mean and std."""
    vol = np.moveaxis(np.asarray(image, np.float32), axis, 0)
    mean, std = vol.mean(), vol.std()
    out = np.stack([(z - z.mean()) / max(float(z.std()), 1e-6) * std + mean for z in vol])
    return np.moveaxis(out, 0, axis)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", default="em:k1")
    ap.add_argument("--seed", type=int, default=0, help="stroke draw")
    ap.add_argument("--slices", type=int, nargs="+", default=[4, 6, 7, 10, 17, 20])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    set_cpu_threads(args.threads)
    case = load_case(args.case, args.seed, args.data)
    row, result = bench.run_network(case, case.scribbles, preset("quick"))
    model = result.model
    vol = np.moveaxis(np.asarray(case.image, np.float32), case.axis, 0)
    lines = [f"Case `{args.case}`, stroke draw {args.seed}, painted slices "
             f"{[int(i) for i in case.painted]}; one Train round (quick preset, "
             f"{args.threads} thread(s)); Dice over the unpainted slices.", "",
             "| input | Dice | volume ratio | " +
             " | ".join(f"slice {z} share" for z in args.slices) + " |",
             "|---|---|---|" + "---|" * len(args.slices)]
    truth = np.moveaxis(case.mask, case.axis, 0)
    lines.append("| ground truth | – | – | " + " | ".join(
        f"{(truth[z] > 0).mean():.2f}" for z in args.slices) + " |")
    lines.append("| slice mean grey level | – | – | " + " | ".join(
        f"{vol[z].mean():.0f}" for z in args.slices) + " |")
    for name, image in (("as it is", case.image), ("each slice standardised",
                                                    standardised(case.image, case.axis))):
        pred = model.predict(image, axis=case.axis).mask
        shares = np.moveaxis(pred, case.axis, 0)
        lines.append(f"| {name} | {bench.mean(case.dice(pred)):.3f} | "
                     f"{case.volume_ratio(pred)} | " +
                     " | ".join(f"{(shares[z] > 0).mean():.2f}" for z in args.slices) + " |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
