"""Training throughput (slices/s) of each stage, before/after the speed options.

Real MSD Task04 slices are loaded, normalised and kept in memory (tensors on the
device), augmentations run batched on tensors, so the data pipeline is not the
bottleneck. Each variant runs the real stage generator for ``--steps`` timed steps
after ``--warmup`` steps. Variants: ``fp32`` (contiguous, no autocast), and on CUDA
``channels_last`` and ``channels_last+amp`` (bf16 autocast, or fp16 with loss scaling).

    python benchmarks/throughput.py --threads 2            # CPU
    python benchmarks/throughput.py --device cuda          # GPU
"""

from __future__ import annotations

import argparse
import copy
import platform
import time
from pathlib import Path

import torch

from semicl.config import preset
from semicl.device import resolve_device, seed_everything, set_cpu_threads
from semicl.io.download import find_or_fetch_msd
from semicl.io.msd import load_msd
from semicl.models.network import SegmentationNet
from semicl.msd_experiment import MsdSplit, load_training_data
from semicl.training.pipeline import STAGE_RUNNERS


def time_stage(stage, cfg, data, device, *, channels_last, amp, warmup, steps, batch_size):
    fn = STAGE_RUNNERS[stage]
    stage_cfg = copy.deepcopy(cfg.stages()[stage])
    stage_cfg.steps, stage_cfg.epochs = warmup + steps, None
    if batch_size:
        stage_cfg.batch_size = batch_size
    seed_everything(0)
    net = SegmentationNet(cfg.model, data.num_classes).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    gen = fn(net, data, stage_cfg, device=device, amp=amp,
             generator=torch.Generator().manual_seed(0))
    t_start = None
    for event in gen:
        if getattr(event, "step", 0) == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_start = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t_start
    return stage_cfg.batch_size * steps / seconds, seconds / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--volumes", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=0, help="override every stage's batch")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    set_cpu_threads(args.threads)
    device = resolve_device(args.device)
    cfg = preset(args.preset)
    ds = load_msd(find_or_fetch_msd(args.data))
    ids = [c.case_id for c in ds.cases[: args.volumes]]
    data = load_training_data(ds, MsdSplit(ids, [], [], "first volumes"), axis=0, size=(64, 48))
    data = data.to(device)
    variants = [("fp32", False, False)]
    if device.type == "cuda":
        variants += [("channels_last", True, False), ("channels_last+amp", True, True)]
    else:
        variants += [("channels_last", True, False)]
    rows = []
    for stage in cfg.stages():
        base = None
        for label, cl, amp in variants:
            rate, per_step = time_stage(stage, cfg, data, device, channels_last=cl, amp=amp,
                                        warmup=args.warmup, steps=args.steps,
                                        batch_size=args.batch_size)
            base = base or rate
            rows.append((stage.value, label, rate, per_step, rate / base))
            print(f"{stage.value:9s} {label:18s} {rate:8.1f} slices/s  "
                  f"{1000 * per_step:7.1f} ms/step  x{rate / base:.2f}", flush=True)
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    lines = [f"Device: {device} ({name}), threads {torch.get_num_threads()}, preset {args.preset}, "
             f"slices 64x48 from {len(ids)} MSD volumes, {args.steps} timed steps", "",
             "| stage | variant | slices/s | ms/step | vs fp32 |", "|---|---|---|---|---|"]
    lines += [f"| {s} | {v} | {r:.1f} | {1000 * p:.1f} | {x:.2f} |" for s, v, r, p, x in rows]
    out = args.out or Path(__file__).parent / "results" / f"throughput_{device.type}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
