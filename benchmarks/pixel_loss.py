"""Benchmark: exact pixel-contrastive loss at full resolution vs naive, stride and block.

Issue "Performance: exact pixel-contrastive loss at full resolution". For each size
N (pixels of B slices x 2 views of H x H, 128-d embeddings) and class count, and for
each method, one fresh subprocess measures forward + backward of the loss:

* ``naive-all``  (a)  the reference code's form: full N x N logits over *all* pixels,
  unlabelled ones removed by masks (run only where its memory estimate fits);
* ``naive-lab``  (a') the same restricted to labelled pixels (the obvious cheap fix);
* ``stride4``    (b)  ``SupervisedLocalContrastiveLoss(stride=4)``;
* ``block16``    (c)  ``SupervisedLocalContrastiveLoss(block_size=16)``;
* ``exact``      (d)  ``SupervisedLocalContrastiveLoss()`` (chunked, never N x N).

Peak memory: on CPU, the peak RSS of the subprocess after the loss minus the same
value just before it (inputs built, a tiny warm-up of the same method done), so it
is the loss's own high-water mark including the ``embeddings.grad`` buffer
(``4 N D`` bytes, the same for every method). The peak is ``ru_maxrss``, read as
``VmHWM`` on Linux (see :func:`bench_memory.cpu_peak` for why), reset right before the loss
(``echo 5 > /proc/self/clear_refs``), and the subprocess runs with
``MALLOC_MMAP_THRESHOLD_=131072`` so glibc returns freed large buffers to the OS
instead of keeping them resident for reuse. On CUDA, ``torch.cuda.max_memory_allocated``
minus the allocation before the loss.

Examples::

    python benchmarks/pixel_loss.py --quick
    python benchmarks/pixel_loss.py --sizes 4k,16k,65k,262k,1M --classes 3,8 --threads 2
    python benchmarks/pixel_loss.py --device cuda --sizes 16k,65k,262k,1M,4M
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

from benchmarks.bench_memory import cpu_peak, mem_available, reset_cpu_peak  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"4k": 32, "16k": 64, "65k": 128, "262k": 256, "1M": 512, "4M": 1024}
METHODS = ["naive-all", "naive-lab", "stride4", "block16", "exact"]
NAIVE_BYTES_PER_ENTRY = 26  # measured: ~24 bytes per N x N entry on CPU (see docs)
SLICES = 2  # B slices, each seen in 2 views -> 4 maps of H x H


# ----------------------------------------------------------------------------- worker
def make_targets(h: int, classes: int, labelled: float, g):
    """Targets (2B, H, H) int64, scribble-like, drawn from the generator ``g``.

    Ground truth: ``classes - 1`` discs (together ~20 % of the slice) on background.
    Labelled pixels: straight horizontal and vertical strokes ``max(2, H // 64)`` px thick
    covering ~``labelled`` of the slice (a little less where strokes cross), so
    foreground is a minority (~20 %) of the labelled pixels. Both
    views of a slice share its targets (intensity-only augmentation, as in the paper).
    """
    import torch

    from semicl.labels import IGNORE_INDEX

    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(h), indexing="ij")
    gt = torch.zeros(SLICES, h, h, dtype=torch.long)
    radius = h * math.sqrt(0.2 / (max(classes - 1, 1) * math.pi))
    for b in range(SLICES):
        for c in range(1, classes):
            cy, cx = (torch.rand(2, generator=g) * (h - 2 * radius) + radius).tolist()
            gt[b][(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = c
    lab = torch.zeros(SLICES, h, h, dtype=torch.bool)
    thick = max(2, h // 64)
    n_strokes = max(2, round(labelled * h / thick))
    for b in range(SLICES):
        starts = torch.randperm(h - thick + 1, generator=g)[:n_strokes].tolist()
        for k, r in enumerate(starts):  # alternate horizontal and vertical strokes
            if k % 2:
                lab[b, :, r:r + thick] = True
            else:
                lab[b, r:r + thick] = True
    tgt = torch.where(lab, gt, torch.full_like(gt, IGNORE_INDEX))
    return torch.cat([tgt, tgt])  # view 1, view 2


def make_inputs(h: int, classes: int, labelled: float, seed: int, dim: int = 128):
    """Embeddings (2B, D, H, H) float32 (standard normal) and targets (2B, H, H) int64."""
    import torch

    g = torch.Generator().manual_seed(seed)
    tgt = make_targets(h, classes, labelled, g)
    return torch.randn(2 * SLICES, dim, h, h, generator=g), tgt


def naive_supcon(emb, tgt, tau: float, labelled_only: bool):
    """Plain SupCon L_out with full N x N logits and masks (reference-code style)."""
    import torch
    import torch.nn.functional as F

    d = emb.shape[1]
    z = emb.permute(0, 2, 3, 1).reshape(-1, d)
    y = tgt.reshape(-1)
    if labelled_only:
        keep = y >= 0
        z, y = z[keep], y[keep]
    z = F.normalize(z, dim=1)
    logits = z @ z.T / tau
    eye = torch.eye(y.numel(), dtype=torch.bool, device=z.device)
    denom = (y >= 0)[None, :] & ~eye
    lse = torch.logsumexp(logits.masked_fill(~denom, float("-inf")), dim=1, keepdim=True)
    pos = (y[:, None] == y[None, :]) & denom
    n_pos = pos.sum(1)
    anchor = (y >= 1) & (n_pos > 0)
    mean_log_prob = (pos * (logits - lse)).sum(1) / n_pos.clamp_min(1)
    return -mean_log_prob[anchor].mean()


def build_method(name: str, tau: float, chunk_size: int):
    from semicl.losses import SupervisedLocalContrastiveLoss

    if name == "naive-all":
        return lambda e, t: naive_supcon(e, t, tau, labelled_only=False)
    if name == "naive-lab":
        return lambda e, t: naive_supcon(e, t, tau, labelled_only=True)
    if name == "stride4":
        return SupervisedLocalContrastiveLoss(tau, stride=4, chunk_size=chunk_size)
    if name == "block16":
        return SupervisedLocalContrastiveLoss(tau, block_size=16, chunk_size=chunk_size)
    if name == "exact":
        return SupervisedLocalContrastiveLoss(tau, chunk_size=chunk_size)
    raise ValueError(f"unknown method {name!r}; choose from {METHODS}")


def worker(cfg: dict) -> dict:
    import torch

    from semicl.device import set_cpu_threads

    set_cpu_threads(cfg["threads"])
    dev = torch.device(cfg["device"])
    fn = build_method(cfg["method"], cfg["tau"], cfg["chunk_size"])
    # warm-up (kernels, thread pool) on a tiny problem
    e0, t0 = make_inputs(16, cfg["classes"], 0.3, 1)
    e0 = e0.to(dev).requires_grad_(True)
    fn(e0, t0.to(dev)).backward()
    del e0, t0
    emb, tgt = make_inputs(cfg["h"], cfg["classes"], cfg["labelled"], cfg["seed"])
    emb, tgt = emb.to(dev), tgt.to(dev)
    info = {"labelled": int((tgt >= 0).sum()), "anchors": int((tgt >= 1).sum())}
    times, value, grad = [], None, None
    for rep in range(cfg["repeats"]):
        e = emb.detach().requires_grad_(True)
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            base = reset_cpu_peak()
        start = time.perf_counter()
        loss = fn(e, tgt)
        loss.backward()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        if rep == 0:
            if dev.type == "cuda":
                peak = torch.cuda.max_memory_allocated() - base
            else:
                peak = cpu_peak() - base
            value, grad = float(loss), e.grad.detach()
        del loss, e
        if times[-1] > cfg.get("max_repeat_s", 5.0):
            break  # slow configuration: one run is enough
    if cfg.get("grad_path"):
        torch.save(grad.cpu(), cfg["grad_path"])
    return {**info, "value": value, "peak_bytes": int(peak), "times": times}


# ----------------------------------------------------------------------------- parent
def run_one(cfg: dict, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(cfg)]
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": str(cfg["threads"]),
        "MALLOC_MMAP_THRESHOLD_": "131072",
    }
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return {"error": f"exit {proc.returncode}: {tail[0][:120]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_sizes(text: str) -> list[tuple[str, int]]:
    out = []
    for tok in text.split(","):
        tok = tok.strip()
        if tok in SIZES:
            out.append((tok, SIZES[tok]))
            continue
        n = int(float(tok))
        h = math.isqrt(n // (2 * SLICES))
        if 2 * SLICES * h * h != n:
            raise SystemExit(f"N={n} is not {2 * SLICES} x H x H; use one of {list(SIZES)}")
        out.append((tok, h))
    return out


def fmt_mb(b: int | None) -> str:
    return "—" if b is None else f"{b / 2**20:,.1f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--sizes", default="4k,16k,65k,262k,1M",
                   help=f"comma list of {list(SIZES)} or N = 4 H^2")
    p.add_argument("--classes", default="3,8", help="comma list of class counts (background incl.)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--labelled", type=float, default=0.1, help="labelled share of pixels")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed runs per config (median); runs stop once one takes > 5 s")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tau", type=float, default=0.1)
    p.add_argument("--chunk-size", type=int, default=1024)
    p.add_argument("--naive-max-gb", type=float, default=10.0,
                   help="skip a naive run whose estimated peak exceeds this (or 60%% of free RAM)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per subprocess")
    p.add_argument("--quick", action="store_true", help="4k and 16k, 3 classes, 1 repeat")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None,
                   help="markdown file (default benchmarks/results/pixel_loss_<device>.md)")
    args = p.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.quick:
        args.sizes, args.classes, args.repeats = "4k,16k", "3", 1
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda given but CUDA is not available")
    methods = [m.strip() for m in args.methods.split(",")]
    kind = args.device.split(":")[0]
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"pixel_loss_{kind}.md")
    cap = args.naive_max_gb * 2**30
    if args.device == "cpu":
        cap = min(cap, 0.6 * mem_available())
    elif args.device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(args.device))
        cap = min(cap, 0.8 * props.total_memory)

    rows, started = [], time.perf_counter()
    tmp = tempfile.TemporaryDirectory()
    for label, h in parse_sizes(args.sizes):
        n = 2 * SLICES * h * h
        for classes in [int(c) for c in args.classes.split(",")]:
            results: dict[str, dict] = {}
            g = torch.Generator().manual_seed(args.seed)
            n_lab = int((make_targets(h, classes, args.labelled, g) >= 0).sum())
            for m in methods:
                cfg = {"method": m, "h": h, "classes": classes, "labelled": args.labelled,
                       "seed": args.seed, "threads": args.threads, "device": args.device,
                       "tau": args.tau, "chunk_size": args.chunk_size,
                       "repeats": args.repeats}
                if m.startswith("naive"):
                    count = n if m == "naive-all" else n_lab
                    est = NAIVE_BYTES_PER_ENTRY * count**2
                    if est > cap:
                        gib = f"est. {est / 2**30:.1f} GiB > cap {cap / 2**30:.1f} GiB"
                        results[m] = {"skipped": f"skipped: {gib}"}
                        continue
                    cfg["grad_path"] = str(Path(tmp.name) / f"{m}.pt")
                elif m == "exact":
                    cfg["grad_path"] = str(Path(tmp.name) / "exact.pt")
                res = run_one(cfg, args.timeout)
                results[m] = res
                print(f"N={n} classes={classes} {m}: {res}", file=sys.stderr, flush=True)
            rows.extend(compare(n, label, classes, results, methods, tmp.name))
    tmp.cleanup()
    elapsed = time.perf_counter() - started
    text = render(rows, args, elapsed, torch.__version__)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}", file=sys.stderr)
    return 0


def compare(n, label, classes, results, methods, tmp):
    import torch

    ref_name = next((m for m in ("naive-all", "naive-lab") if "value" in results.get(m, {})), None)
    ref = results.get(ref_name, {}) if ref_name else {}
    ref_grad = torch.load(Path(tmp) / f"{ref_name}.pt") if ref_name else None
    rows = []
    for m in methods:
        r = results.get(m, {})
        row = {"N": n, "label": label, "classes": classes, "method": m, "ref": ref_name}
        if "value" not in r:
            row["note"] = r.get("skipped") or r.get("error", "not run")
            rows.append(row)
            continue
        row.update(labelled=r["labelled"], anchors=r["anchors"], value=r["value"],
                   peak=r["peak_bytes"], time=statistics.median(r["times"]))
        if ref_name and m != ref_name:
            row["dv"] = abs(r["value"] - ref["value"]) / abs(ref["value"])
            row["mem_ratio"] = ref["peak_bytes"] / max(r["peak_bytes"], 1)
            row["time_ratio"] = row["time"] / statistics.median(ref["times"])
            gpath = Path(tmp) / f"{m}.pt"
            if gpath.exists() and m in ("exact", "naive-lab", "naive-all"):
                g = torch.load(gpath)
                row["dg"] = float((g - ref_grad).abs().max() / ref_grad.abs().max())
        rows.append(row)
    for m in methods:  # grads of this (N, classes) are not needed any more
        (Path(tmp) / f"{m}.pt").unlink(missing_ok=True)
    return rows


def render(rows, args, elapsed, torch_version) -> str:
    cmd = "python benchmarks/pixel_loss.py " + " ".join(sys.argv[1:])
    lines = [
        f"# Pixel-contrastive loss benchmark ({args.device})",
        "",
        f"Command: `{cmd}`  ",
        f"torch {torch_version}, {platform.processor() or platform.machine()}, "
        f"{args.threads} thread(s), tau={args.tau}, chunk_size={args.chunk_size}, "
        f"labelled share {args.labelled:.0%}, D=128, B={SLICES} slices x 2 views; "
        f"total {elapsed:.0f} s.",
        "",
        "Forward + backward. `peak` = the loss's own peak memory (incl. the embedding "
        "gradient); `dv`, `dg` = relative value / max-abs gradient difference vs the naive "
        "reference `ref` of that row group; `mem x` = ref peak / this peak; "
        "`time x` = this time / ref time.",
        "",
        "| N | classes | labelled | fg labelled | method | value | dv | dg | peak MiB | mem x "
        "| time s | time x |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "value" not in r:
            lines.append(f"| {r['label']} ({r['N']:,}) | {r['classes']} | | | {r['method']} | "
                         f"{r['note']} | | | | | | |")
            continue

        def f(key, spec):
            if key in r:
                return format(r[key], spec)
            return "ref" if r["method"] == r["ref"] else "—"

        lines.append(
            f"| {r['label']} ({r['N']:,}) | {r['classes']} | {r['labelled']:,} | "
            f"{r['anchors']:,} | {r['method']} | {r['value'] + 0.0:.6f} | {f('dv', '.1e')} | "
            f"{f('dg', '.1e')} | {fmt_mb(r['peak'])} | {f('mem_ratio', '.1f')} | "
            f"{r['time']:.3f} | {f('time_ratio', '.2f')} |"
        )
    return "\n".join(lines + [""] + summary(rows)) + "\n"


def summary(rows) -> list[str]:
    """Check the issue's targets for the exact form (d) against the naive form (a)."""
    exact = [r for r in rows if r["method"] == "exact" and "value" in r]
    vs_a = [r for r in exact if r.get("ref") == "naive-all" and "dv" in r]
    out = ["Targets for (d) `exact` vs (a) `naive-all`:", ""]
    if vs_a:
        out.append(f"* value: max rel. diff {max(r['dv'] for r in vs_a):.1e}; gradient: max rel. "
                   f"diff {max(r.get('dg', float('nan')) for r in vs_a):.1e} (target 1e-5)")
        out.append("* peak memory (a)/(d): " + ", ".join(
            f"{r['label']}/{r['classes']} cl. {r['mem_ratio']:.0f}x" for r in vs_a)
            + " (target >= 10x)")
        out.append("* time (d)/(a): " + ", ".join(
            f"{r['label']}/{r['classes']} cl. {r['time_ratio']:.3f}" for r in vs_a)
            + " (target <= 1.5)")
    else:
        out.append("* (a) did not run at any size")
    out.append("* (d) peak memory per pixel: " + ", ".join(
        f"{r['label']}/{r['classes']} cl. {r['peak'] / r['N']:.0f} B" for r in exact)
        + " (linear in N = constant; the embedding gradient alone is 4 D = 512 B/pixel)")
    return out


if __name__ == "__main__":
    sys.exit(main())
