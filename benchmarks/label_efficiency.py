"""Label-efficiency benchmark (issue #4): Dice vs labelled fraction, methods side by side.

Protocol (docs/benchmarks.md): MSD Task04 Hippocampus with the fixed ``splits.json``
split (156 train / 44 test); F = share of the 156 training volumes whose labels are
used, all 156 unlabelled to the global stage; Dice of classes 1, 2 and their mean on
3-D test volumes rebuilt from slice predictions, pooled and mean per volume. ``sparse``
keeps a few skeleton strokes per class per slice (about 1 % of pixels). The same script
runs the ISBI-2012 EM stack and Colin27+AAL (label k slices of one volume, score the
rest); see ``le_data.py`` for their class mappings.

Every finished run is appended to ``<out>/results.jsonl`` keyed by (dataset, protocol,
method, fraction, seed, preset, device); rerunning skips finished keys. After each run
``<out>/results.csv``, ``<out>/plots/*.png`` and the generated part of
``docs/benchmarks.md`` are rewritten, one table group per (dataset, protocol, preset,
device).

Examples::

    python benchmarks/label_efficiency.py --dry-run                     # show the CPU grid
    nohup python benchmarks/label_efficiency.py --threads 2 > le.log 2>&1 &   # CPU grid
    python benchmarks/label_efficiency.py --preset paper --device cuda  # GPU, full grid
    python benchmarks/label_efficiency.py --methods random,rf --fractions 0.05 --steps 20 \\
        --out /tmp/le_smoke --doc /tmp/le_smoke/benchmarks.md           # smoke run
    python benchmarks/label_efficiency.py --report-only --merge gpu/results.jsonl
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

import torch  # noqa: E402

from benchmarks.le_data import DATASETS, WITHIN, MsdBench, WithinBench, data_root  # noqa: E402
from benchmarks.le_methods import (  # noqa: E402
    CPU_METHODS, METHODS, GlobalCache, bench_preset, device_label, machine_info,
    preset_label, run_nn, run_rf,
)
from benchmarks.le_report import (  # noqa: E402
    append_result, done_keys, load_results, merge_results, render, row_key, slug, update_doc,
    write_csv, write_jsonl,
)
from semicl.config import TrainConfig  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "results" / "label_efficiency"
DEFAULT_DOC = ROOT / "docs" / "benchmarks.md"
DEFAULT_SLICES = {"em": (1, 2, 4), "colin27": (2, 4, 8)}  # colin27: ~5/10/20 % of its 39
CPU_SLICES = {"em": (2,), "colin27": (4,)}  # structure-holding slices


def csv_list(kind):
    return lambda s: [kind(x) for x in s.split(",") if x.strip()]


def stage_steps(text: str) -> dict[str, int]:
    """``global=860,local=500`` -> {"global": 860, "local": 500} (order kept)."""
    names, out = tuple(stage.value for stage in TrainConfig().stages()), {}
    for part in filter(None, (x.strip() for x in text.split(","))):
        name, sep, n = part.partition("=")
        if not sep or name not in names or not n.isdigit() or int(n) < 1:
            raise argparse.ArgumentTypeError(
                f"{part!r}: expected stage=steps with stage {', '.join(names[:-1])} or {names[-1]}")
        out[name] = int(n)
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=DATASETS, default="hippocampus")
    p.add_argument("--data", help="dataset folder or the shared data root "
                   "(default $SEMICL_DATA_DIR, then ../shared/data)")
    p.add_argument("--methods", type=csv_list(str),
                   help=f"comma list or 'all' of {', '.join(METHODS)} "
                   f"(default: cpu preset {','.join(CPU_METHODS)}; else all)")
    p.add_argument("--fractions", type=csv_list(float),
                   help="hippocampus labelled fractions (default 0.05,0.1,0.2; paper adds 1.0; "
                   "sparse 0.1)")
    p.add_argument("--slices", type=csv_list(int),
                   help="em/colin27: numbers of labelled slices k (default em 1,2,4, colin27 "
                   "2,4,8; cpu preset em 2, colin27 4)")
    p.add_argument("--seeds", type=csv_list(int),
                   help="default 0,1,2 (em/colin27, and the sparse protocol on cpu: 0)")
    p.add_argument("--protocol", choices=("dense", "sparse"), default="dense")
    p.add_argument("--sparse-fraction", type=float, default=0.01,
                   help="sparse protocol: target share of painted pixels per slice")
    p.add_argument("--preset", choices=("cpu", "quick", "paper"), default="cpu")
    p.add_argument("--steps", type=int, help="override every stage's steps (smoke runs; the "
                   "preset is then recorded as '<preset>+steps<N>')")
    p.add_argument("--stage-steps", type=stage_steps, default=None,
                   help="steps of named stages on top of the preset, e.g. global=860,local=500 "
                   "(a study of longer pretraining; rows get their own preset label)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--rf-trees", type=int, default=50)
    p.add_argument("--rf-pixels", type=int, default=20000, help="training pixels per class")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    p.add_argument("--no-doc", action="store_true", help="do not touch the markdown report")
    p.add_argument("--merge", type=Path, nargs="*", default=[],
                   help="fold these results.jsonl files (e.g. from a GPU box) into --out")
    p.add_argument("--report-only", action="store_true", help="only rewrite CSV/plots/report")
    p.add_argument("--dry-run", action="store_true", help="list the runs and exit")
    p.add_argument("--every-s", type=float, default=60.0, help="progress line interval")
    a = p.parse_args(argv)
    cpu = a.preset == "cpu"
    if a.methods is None or a.methods == ["all"]:
        a.methods = list(CPU_METHODS) if cpu and a.methods is None else list(METHODS)
    bad = [m for m in a.methods if m not in METHODS]
    if bad:
        p.error(f"unknown methods {bad}; choose from {', '.join(METHODS)}")
    if a.seeds is None:
        a.seeds = [0] if a.dataset in WITHIN or (cpu and a.protocol == "sparse") else [0, 1, 2]
    if a.dataset in WITHIN:
        a.levels = a.slices or list((CPU_SLICES if cpu else DEFAULT_SLICES)[a.dataset])
    else:
        a.levels = a.fractions or ([0.1] if a.protocol == "sparse" else
                                   [0.05, 0.1, 0.2] if cpu else [0.05, 0.1, 0.2, 1.0])
    return a


def log(msg: str) -> None:
    print(msg, flush=True)


def write_reports(rows: list[dict], a: argparse.Namespace) -> None:
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "results.csv", rows)
    doc_dir = None if a.no_doc else a.doc.resolve().parent
    body = render(rows, out / "plots", doc_dir)
    (out / "report.md").write_text(render(rows, None, None) + "\n")
    if not a.no_doc:
        update_doc(a.doc, body)


def make_bench(a: argparse.Namespace):
    root = data_root(a.dataset, a.data)
    return MsdBench(root) if a.dataset == "hippocampus" else WithinBench(a.dataset, root)


def key_of(a, method: str, fraction: float, seed: int, plabel: str, dlabel: str) -> tuple:
    return row_key({"dataset": a.dataset, "protocol": a.protocol, "method": method,
                    "fraction": fraction, "seed": seed, "preset": plabel, "device": dlabel})


def run_grid(a: argparse.Namespace, rows: list[dict]) -> tuple[list[dict], int]:
    from semicl.device import resolve_device, set_cpu_threads

    if a.threads:
        set_cpu_threads(a.threads)
    dev = resolve_device(a.device)
    dlabel, plabel = device_label(dev), preset_label(a.preset, a.steps, a.stage_steps)
    bench = make_bench(a)
    n_slices = getattr(bench, "n_slices", None)

    def fraction_of(level) -> float:
        return round(level / n_slices, 4) if n_slices else float(level)

    done = done_keys(rows)
    plan = [(lv, s, m) for lv in a.levels for s in a.seeds for m in a.methods]
    pending = [p for p in plan if key_of(a, p[2], fraction_of(p[0]), p[1], plabel, dlabel) not in done]
    log(f"{a.dataset} · {a.protocol} · preset {plabel} · {dlabel}: {len(plan)} runs, "
        f"{len(plan) - len(pending)} already done, {len(pending)} to go")
    if a.dry_run:
        for lv, s, m in plan:
            k = key_of(a, m, fraction_of(lv), s, plabel, dlabel)
            log(f"  {'done' if k in done else 'todo'}  level={lv} seed={s} method={m}")
        return rows, 0
    base = bench_preset(a.preset, a.dataset, a.steps, a.stage_steps)
    cache = GlobalCache(a.out / "cache", plabel, slug([dlabel]))
    machine, failures = machine_info(), 0
    for lv in a.levels:
        for seed in a.seeds:
            todo = [m for (l2, s2, m) in pending if l2 == lv and s2 == seed]
            if not todo:
                continue
            t0 = time.perf_counter()
            prep = bench.prepare(lv, seed, a.protocol, a.sparse_fraction,
                                 prior_reach=base.finetune.prior_reach)
            info = prep.info
            log(f"[level {lv} seed {seed}] {info['split']}: {info['n_labelled_slices']} labelled "
                f"slices, {info['n_unlabelled_slices']} slices for the global stage, "
                f"{100 * info['label_share']:.2f}% of their voxels labelled, "
                f"{len(prep.tests)} test item(s); loaded in {time.perf_counter() - t0:.0f} s")
            for method in todo:
                log(f"  {method} ({METHODS[method][2]})")
                try:
                    if method == "rf":
                        res = run_rf(prep, seed, trees=a.rf_trees, max_per_class=a.rf_pixels, log=log)
                    else:
                        res = run_nn(method, prep, base, seed, device=a.device, threads=a.threads,
                                     cache=cache, every_s=a.every_s, log=log)
                except Exception:  # keep the grid going; the key stays pending
                    failures += 1
                    log(f"  FAILED {method} level {lv} seed {seed}:\n{traceback.format_exc()}")
                    continue
                row = {"dataset": a.dataset, "protocol": a.protocol, "method": method,
                       "fraction": fraction_of(lv), "seed": seed, "preset": plabel,
                       "device": dlabel, **info, "class_names": prep.class_names,
                       "sparse_fraction": a.sparse_fraction if a.protocol == "sparse" else None,
                       **res, "threads": torch.get_num_threads(), "machine": machine,
                       "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
                append_result(a.out / "results.jsonl", row)
                rows = merge_results(rows, [row])
                log(f"  -> {method}: Dice pooled {res['dice_pooled_mean']:.4f} "
                    f"{[round(x, 4) for x in res['dice_pooled']]}, per volume "
                    f"{res['dice_per_volume_mean']:.4f}; wall {res['wall_s']:.0f} s "
                    f"(+ shared global {res['global_s']:.0f} s)")
                write_reports(rows, a)
    return rows, failures


def main(argv=None) -> int:
    a = parse_args(argv)
    results = a.out / "results.jsonl"
    rows = load_results(results)
    if a.merge:
        rows = merge_results(rows, *[load_results(p) for p in a.merge])
        a.out.mkdir(parents=True, exist_ok=True)
        write_jsonl(results, rows)
        log(f"merged {len(a.merge)} file(s): {len(rows)} rows in {results}")
    failures = 0
    if not a.report_only:
        rows, failures = run_grid(a, rows)
        if a.dry_run:
            return 0
    write_reports(rows, a)
    log(f"{len(rows)} rows in {results}; wrote {a.out / 'results.csv'}, {a.out / 'plots'}"
        + ("" if a.no_doc else f", {a.doc}"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
