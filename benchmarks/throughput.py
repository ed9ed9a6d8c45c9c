"""Training throughput (slices/s) of each stage, before/after the speed options.

Real MSD Task04 slices are loaded, normalised and kept in memory (tensors on the
device), augmentations run batched on tensors, so the data pipeline is not the
bottleneck. Each variant runs the real stage generator for ``--steps`` timed steps
after ``--warmup`` steps (which include any compiling, reported as "first steps").
Variants (``--variants``, side by side in one run):

* ``fp32``: contiguous, no autocast, plain steps; ``channels_last``; ``channels_last+amp``
  (bf16 autocast, or fp16 with loss scaling) — the CUDA default before StepOptions;
* ``fast``: ``channels_last+amp`` with ``StepOptions.for_device`` (fused AdamW, the loss
  read every few steps) — today's CUDA default; on a CPU: ``StepOptions.for_device``;
* ``compile``, ``graphs``: ``fast`` + ``torch.compile`` of the network, mode "default" /
  "reduce-overhead" (CUDA graphs);
* ``fastx4`` / ``graphsx4``: ``fast`` / ``graphs`` with 4x each stage's batch.

    python benchmarks/throughput.py --threads 2            # CPU
    python benchmarks/throughput.py --device cuda --variants channels_last+amp fast graphs
    python benchmarks/throughput.py --device cuda --profile  # + a torch.profiler table
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
from semicl.experiments.split import MsdSplit, load_training_data
from semicl.io.download import find_or_fetch_msd
from semicl.io.msd import load_msd
from semicl.models.network import SegmentationNet
from semicl.stage import TRAINING_STAGES, Stage
from semicl.training.loop import StepOptions
from semicl.training.pipeline import STAGE_RUNNERS

#: label -> (channels_last, amp, fast step options, compile mode, batch multiplier)
VARIANTS = {
    "fp32": (False, False, False, None, 1),
    "channels_last": (True, False, False, None, 1),
    "channels_last+amp": (True, True, False, None, 1),
    "fast": (True, True, True, None, 1),
    "compile": (True, True, True, "default", 1),
    "graphs": (True, True, True, "reduce-overhead", 1),
    "fastx4": (True, True, True, None, 4),
    "graphsx4": (True, True, True, "reduce-overhead", 4),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_stage(stage, cfg, data, device, *, variant, warmup, steps, batch_size, profile=None):
    """(slices/s, s/step, s of the warm-up steps) of one stage in one variant; with
    ``profile`` (a list), the profiler's table of the timed steps is appended to it."""
    channels_last, amp, fast, compile_mode, times = VARIANTS[variant]
    if device.type != "cuda":  # the fast variants take the CPU's defaults: no NHWC, no autocast
        channels_last, amp = channels_last and not fast, False
    options = (StepOptions.for_device(device, compile_mode) if fast
               else StepOptions(compile_mode=compile_mode))
    fn = STAGE_RUNNERS[stage]
    stage_cfg = copy.deepcopy(cfg.stages()[stage])
    stage_cfg.steps, stage_cfg.epochs = warmup + steps, None
    stage_cfg.batch_size = (batch_size or stage_cfg.batch_size) * times
    seed_everything(0)
    net = SegmentationNet(cfg.model, data.num_classes).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    gen = fn(net, data, stage_cfg, device=device, amp=amp,
             generator=torch.Generator().manual_seed(0), options=options)
    t0 = time.perf_counter()
    t_start = prof = None
    for event in gen:
        if t_start is None and getattr(event, "step", 0) >= warmup:
            _sync(device)
            t_start = time.perf_counter()
            if profile is not None:
                prof = torch.profiler.profile()
                prof.__enter__()
    _sync(device)
    seconds = time.perf_counter() - t_start
    if prof is not None:
        prof.__exit__(None, None, None)
        sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
        profile.append(f"## {stage.value}, {variant}, {steps} steps\n\n"
                       + prof.key_averages().table(sort_by=sort, row_limit=25))
    return stage_cfg.batch_size * steps / seconds, seconds / steps, t_start - t0


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
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=None,
                    help="default: fp32 channels_last fast (CPU), + channels_last+amp (CUDA); "
                         "the first is the baseline of the ratio column")
    ap.add_argument("--stages", nargs="+", choices=[s.value for s in TRAINING_STAGES],
                    default=None, help="stages in the order to time them (default: all three)")
    ap.add_argument("--profile", action="store_true",
                    help="also write torch.profiler tables of each stage's first variant")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    set_cpu_threads(args.threads)
    device = resolve_device(args.device)
    cfg = preset(args.preset)
    ds = load_msd(find_or_fetch_msd(args.data))
    ids = [c.case_id for c in ds.cases[: args.volumes]]
    data = load_training_data(ds, MsdSplit(ids, [], [], "first volumes"), axis=0, size=(64, 48))
    data = data.to(device)
    variants = args.variants or (["channels_last+amp", "fp32", "channels_last", "fast"]
                                 if device.type == "cuda" else ["fp32", "channels_last", "fast"])
    rows, tables = [], []
    stages = [Stage(s) for s in args.stages] if args.stages else list(cfg.stages())
    for stage in stages:
        base = None
        for i, label in enumerate(variants):
            rate, per_step, first = time_stage(
                stage, cfg, data, device, variant=label, warmup=args.warmup, steps=args.steps,
                batch_size=args.batch_size, profile=tables if args.profile and i == 0 else None)
            base = base or rate
            rows.append((stage.value, label, rate, per_step, rate / base, first))
            print(f"{stage.value:9s} {label:18s} {rate:8.1f} slices/s  "
                  f"{1000 * per_step:7.1f} ms/step  x{rate / base:.2f}  "
                  f"first steps {first:.1f} s", flush=True)
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    lines = [f"Device: {device} ({name}), torch {torch.__version__}, threads "
             f"{torch.get_num_threads()}, preset {args.preset}, slices 64x48 from {len(ids)} MSD "
             f"volumes, {args.warmup} warm-up + {args.steps} timed steps", "",
             f"| stage | variant | slices/s | ms/step | vs {variants[0]} | first steps s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {s} | {v} | {r:.1f} | {1000 * p:.1f} | {x:.2f} | {f:.1f} |"
              for s, v, r, p, x, f in rows]
    out = args.out or Path(__file__).parent / "results" / f"throughput_{device.type}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    if tables:
        out.with_name(out.stem + "_profile.txt").write_text("\n\n".join(tables) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
