"""Would test-time augmentation help the round's mask? (issue 10, session 13: no)

For each case of the scribble benchmark (``benchmarks/scribbles.py``: the same strokes,
the plugin's round), one Train round; then its model predicts the image also rotated by
±10° (and scaled by 0.9 / 1.1: inside the fine-tuning augmentation's range), each view's
probabilities warped back and averaged where the view covers the pixel, every network of
the round alike, through the model's own prediction (smoothed across slices as it does). Dice on the unpainted
slices without and with the views, one JSON row per case (appended to ``--out``).

    python benchmarks/tta_probe.py --cases msd:5 colin27:k5 em:k1 --seed 0 \
        --out benchmarks/results/scribbles/tta_probe.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

from benchmarks import scribbles as bench  # noqa: E402
from benchmarks.scribble_cases import expand, load_case  # noqa: E402
from semicl.config import preset  # noqa: E402
from semicl.device import set_cpu_threads  # noqa: E402

#: views: (rotation in degrees, scale); the first is the image as it is
VIEWS = {"none": [(0.0, 1.0)],
         "rotations": [(0.0, 1.0), (-10.0, 1.0), (10.0, 1.0)],
         "rotations_scales": [(0.0, 1.0), (-10.0, 1.0), (10.0, 1.0), (0.0, 0.9), (0.0, 1.1)]}


def view_theta(angle_deg: float, scale: float, h: int, w: int) -> torch.Tensor:
    """(2, 3) ``affine_grid`` matrix of a rotation by ``angle_deg`` and a zoom by ``scale``
    about the centre of an ``h`` x ``w`` image, in pixels (not in [-1, 1] units, which
    would shear a non-square image)."""
    a = math.radians(angle_deg)
    c, s = math.cos(a) / scale, math.sin(a) / scale
    return torch.tensor([[c, -s * h / w, 0.0], [s * w / h, c, 0.0]], dtype=torch.float32)


def inverse_theta(theta: torch.Tensor) -> torch.Tensor:
    return torch.linalg.inv(torch.cat([theta, torch.tensor([[0.0, 0.0, 1.0]])]))[:2]


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """x (B, C, H, W) sampled through ``theta`` (bilinear, zeros outside)."""
    grid = F.affine_grid(theta[None].expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class ViewAverage(torch.nn.Module):
    """``net`` (one network or a round's ensemble) seen through ``views``: ``forward``
    returns the log of its softmax probabilities averaged over the views, each warped back
    onto the slice and counted only where the view saw the pixel — a network the model's
    own prediction (normalisation, slicing, smoothing across slices) runs unchanged."""

    def __init__(self, net: torch.nn.Module, views) -> None:
        super().__init__()
        self.net, self.views = net, list(views)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, H, W) -> (B, C, H, W) log of the view-averaged probabilities."""
        total, weight = 0.0, 0.0
        for angle, scale in self.views:
            theta = view_theta(angle, scale, *x.shape[2:])
            back = inverse_theta(theta)
            probs = warp(torch.softmax(self.net(warp(x, theta)).float(), 1), back)
            seen = (warp(warp(torch.ones_like(x), theta), back) > 0.99).float()
            total, weight = total + probs * seen, weight + seen
        return (total / weight.clamp_min(1e-6)).clamp_min(1e-30).log()


def predict_views(model, image: np.ndarray, axis: int, views) -> np.ndarray:
    """The model's own prediction of ``image``, its network seen through ``views``."""
    return dataclasses.replace(model, net=ViewAverage(model.net, views)).predict(
        image, axis=axis).mask


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=["msd:5", "colin27:k5", "em:k1"])
    ap.add_argument("--seed", type=int, default=0, help="stroke draw")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    set_cpu_threads(args.threads)
    for name in expand(args.cases, args.data):
        case = load_case(name, args.seed, args.data)
        _row, result = bench.run_network(case, case.scribbles, preset("quick"))
        model, mask = result.model, result.mask
        row = {"case": name, "seed": args.seed, "round": bench.mean(case.dice(mask))}
        for key, views in VIEWS.items():
            t0 = time.perf_counter()
            pred = predict_views(model, case.image, case.axis, views)
            row.update({key: bench.mean(case.dice(pred)),
                        f"{key}_s": round(time.perf_counter() - t0, 1),
                        f"{key}_volume_ratio": case.volume_ratio(pred)})
        print(json.dumps(row), flush=True)
        with args.out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
