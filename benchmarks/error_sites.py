"""Where a round's errors sit: one scribble-benchmark case, the default Train, then a breakdown.

On the slices not painted at the start (as ``benchmarks/scribbles.py`` scores them):
per class, the missed voxels within 2 px of the structure's edge and deeper, the false
voxels on slices outside the structure's true extent along the slice axis and inside it,
the voxels given another structure; then the Dice the same mask would have with every
structure grown by one / two pixels in-plane, with the background probability scaled
down, and with the false voxels outside each true extent removed (an oracle: what a
network that knew each structure's extent would gain).

    python benchmarks/error_sites.py --case colin27:k5 --seed 0
    python benchmarks/error_sites.py --case msd:hippocampus_015:k3 --seed 1 --set members=1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage as ndi

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)


def breakdown(mask: np.ndarray, probs: np.ndarray, truth: np.ndarray, painted) -> list[str]:
    """Lines of text: mask / truth (Z, Y, X) with slices along axis 0, probs (C, Z, Y, X)."""
    from semicl.metrics import dice_per_class

    rest = np.setdiff1d(np.arange(len(truth)), painted)
    m, t, p = mask[rest], truth[rest], probs[:, rest]
    classes = probs.shape[0]

    def mean_dice(pred: np.ndarray) -> float:
        return float(np.mean(dice_per_class(pred.astype(np.int64), t.astype(np.int64), classes)))

    # each class's scored slices outside its true extent along the slice axis
    outside = {}
    for k in range(1, classes):
        zs = np.flatnonzero((truth == k).any((1, 2)))
        outside[k] = ~np.isin(rest, np.arange(zs.min(), zs.max() + 1)) if len(zs) else \
            np.ones(len(rest), bool)
    lines = []
    for k in range(1, classes):
        depth = np.stack([ndi.distance_transform_edt(s == k) for s in t])
        missed, false = (t == k) & (m != k), (m == k) & (t != k)
        lines.append(
            f"class {k}: true {int((t == k).sum())}, missed {int(missed.sum())} "
            f"(edge <= 2 px {int((missed & (depth <= 2)).sum())}, deeper "
            f"{int((missed & (depth > 2)).sum())}, given another structure "
            f"{int((missed & (m > 0)).sum())}); false {int(false.sum())} (outside the true "
            f"extent {int(false[outside[k]].sum())}, on another structure "
            f"{int((false & (t > 0)).sum())})")
    base = dice_per_class(m.astype(np.int64), t.astype(np.int64), classes)
    lines.append(f"Dice {np.round(base, 3).tolist()} mean {np.mean(base):.4f}")
    for grow in (1, 2):
        g = m.copy()
        for k in range(1, classes):
            g[np.stack([ndi.binary_dilation(s == k, iterations=grow) for s in m]) & (g == 0)] = k
        lines.append(f"  every structure grown {grow} px in-plane: {mean_dice(g):.4f}")
    for scale in (0.7, 0.5):
        q = p.copy()
        q[0] *= scale
        lines.append(f"  background probability x {scale}: {mean_dice(q.argmax(0)):.4f}")
    oracle = m.copy()
    for k in range(1, classes):
        oracle[outside[k][:, None, None] & (oracle == k)] = 0
    lines.append(f"  false voxels outside each true extent removed (oracle): "
                 f"{mean_dice(oracle):.4f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    from benchmarks.scribble_cases import load_case
    from benchmarks.scribbles import apply_overrides, plugin_round
    from semicl.config import preset
    from semicl.data.normalize import normalize_intensity
    from semicl.events import drive
    from semicl.training.control import TrainControl

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="colin27:k5")
    ap.add_argument("--seed", type=int, default=0, help="the stroke draw")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides, key=value")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=None, help="folder with the datasets (else $SEMICL_DATA_DIR)")
    args = ap.parse_args(argv)
    case = load_case(args.case, args.seed, args.data)
    cfg = apply_overrides(preset("quick"), args.set)
    cfg.num_threads = args.threads
    t0 = time.perf_counter()
    # the round trains; its model then predicts once, as the round would (the image
    # normalised once, then predicted as normalised), keeping the probabilities too
    result, _ = plugin_round(case.image, case.scribbles, case.class_names, case.axis, cfg,
                             TrainControl(preview_slice=int(case.painted[-1])), None,
                             clock=lambda: time.perf_counter() - t0, predict=False)
    pred = drive(result.model.predict_iter(normalize_intensity(case.image), axis=case.axis,
                                           normalized=True))
    print(f"{args.case} draw {args.seed}: Train {np.mean(case.dice(pred.mask)):.4f} "
          f"in {time.perf_counter() - t0:.0f} s")
    for line in breakdown(np.moveaxis(pred.mask, case.axis, 0),
                          np.moveaxis(pred.probs, case.axis + 1, 1),
                          np.moveaxis(case.mask, case.axis, 0), case.painted):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
