"""What one update of the fine-tuning's weight average costs, against a fine-tuning step.

Side by side in one process: ``torch.optim.swa_utils.AveragedModel`` with the
bias-corrected ``multi_avg_fn`` the engine used until session 26 (its count read on the
host each update), and :class:`semicl.training.weight_average.WeightAverage`; and, for
scale, one forward + backward + AdamW step of the same network on a batch of 16 windows
of 64 px (the quick preset's fine-tuning batch on Colin27's slices). On CUDA the updates
are timed with a synchronisation after each, so the old form's wait for the device
shows as its own time, not hidden in the next step.

    python benchmarks/weight_average_speed.py --device cpu --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

from benchmarks.le_methods import device_label  # noqa: E402
from semicl.device import resolve_device, set_cpu_threads  # noqa: E402
from semicl.models.unet import UNet  # noqa: E402
from semicl.training.weight_average import WeightAverage, ema_weight  # noqa: E402


def old_average(net: torch.nn.Module, decay: float):
    """The engine's average before session 26 (AveragedModel + a grouped update)."""

    @torch.no_grad()
    def update(averaged, current, n) -> None:
        d = ema_weight(decay, int(n) + 1)
        for a, c in zip(averaged, current, strict=True):
            if a.is_floating_point():
                a.lerp_(c, 1.0 - d)
            else:
                a.copy_(a * d + c * (1.0 - d))

    avg = torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=update, use_buffers=True)
    return lambda: avg.update_parameters(net)


def timed(fn, dev: torch.device, repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls (after 5 warm-up calls)."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    set_cpu_threads(args.threads)
    dev = resolve_device(args.device)
    torch.manual_seed(0)
    net = UNet(in_channels=1, base_width=16, depth=4, norm="batch").to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x = torch.randn(16, 1, 64, 64, device=dev)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        net(x).square().mean().backward()
        opt.step()

    ours = WeightAverage(net, 0.99)
    rows = [("AveragedModel update (before)", timed(old_average(net, 0.99), dev, args.repeats)),
            ("WeightAverage update (now)", timed(ours.update, dev, args.repeats)),
            ("one fine-tuning step (16 windows of 64 px)",
             timed(step, dev, max(10, args.repeats // 20)))]
    step_s = rows[-1][1]
    tensors = sum(1 for _ in net.parameters()) + sum(1 for _ in net.buffers())
    text = (f"Weight-average update against a fine-tuning step, U-Net width 16 depth 4 "
            f"(batch norm, {tensors} tensors), {device_label(dev)}, torch {torch.__version__}, "
            f"{args.threads} thread(s); medians of {args.repeats} updates\n\n"
            "| what | ms | share of a step |\n|---|---|---|\n"
            + "".join(f"| {name} | {s * 1e3:.3f} | {s / step_s:.3f} |\n" for name, s in rows))
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
