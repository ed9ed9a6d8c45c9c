"""Results of the label-efficiency benchmark: the JSON-lines store, tables, plot, report.

One row per finished run, keyed by (dataset, protocol, method, fraction, seed, preset,
device). Tables and plots are made per (dataset, protocol, preset, device) group, so
results from different devices (or presets) never share a column.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from benchmarks.le_methods import METHODS, OURS

KEY_FIELDS = ("dataset", "protocol", "method", "fraction", "seed", "preset", "device")
GROUP_FIELDS = ("dataset", "protocol", "preset", "device")
GOALS = {0.05: 0.85, 0.1: 0.87, 0.2: 0.88}  # issue #4: ours, hippocampus, dense, pooled
BEGIN, END = "<!-- label-efficiency:begin -->", "<!-- label-efficiency:end -->"


# ----------------------------------------------------------------------------- store
def row_key(row: dict) -> tuple:
    return (row["dataset"], row["protocol"], row["method"], f"{float(row['fraction']):.4f}",
            int(row["seed"]), row["preset"], row["device"])


def load_results(path: Path) -> list[dict]:
    """Rows of a JSON-lines file, one per key (the last wins); a torn last line is skipped."""
    rows: list[dict] = []
    if Path(path).is_file():
        for line in Path(path).read_text().splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
                row_key(row)
            except (ValueError, KeyError, TypeError):
                continue
            rows.append(row)
    return merge_results(rows)


def merge_results(*lists: Iterable[dict]) -> list[dict]:
    """Union of row lists; for a repeated key the later row replaces the earlier one."""
    out: dict[tuple, dict] = {}
    for rows in lists:
        for row in rows:
            k = row_key(row)
            out.pop(k, None)
            out[k] = row
    return list(out.values())


def append_result(path: Path, row: dict) -> None:
    """Append one row (flushed and synced, so a crash loses at most the run in progress)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def done_keys(rows: Iterable[dict]) -> set[tuple]:
    return {row_key(r) for r in rows}


def write_jsonl(path: Path, rows: Sequence[dict]) -> None:
    tmp = Path(path).with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)


def flatten(row: dict, prefix: str = "") -> dict:
    """Scalars of a row for CSV: nested dicts as ``a.b``, lists as ``name_1, name_2 ...``."""
    out = {}
    for k, v in row.items():
        if k in ("config", "labelled_slices"):
            continue
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, name + "."))
        elif isinstance(v, list | tuple):
            out.update({f"{name}_{i + 1}": x for i, x in enumerate(v)})
        else:
            out[name] = v
    return out


def write_csv(path: Path, rows: Sequence[dict]) -> None:
    flat = [flatten(r) for r in rows]
    cols = list(KEY_FIELDS) + sorted({c for r in flat for c in r} - set(KEY_FIELDS))
    tmp = Path(path).with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(flat)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- aggregation
def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return float("nan"), None
    m = sum(vals) / len(vals)
    if len(vals) < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))


def fmt_cell(m: float, sd: float | None, n: int) -> str:
    if n == 0 or math.isnan(m):
        return "—"
    if sd is None:
        return f"{m:.3f} (n={n})"
    return f"{m:.3f} ± {sd:.3f} (n={n})"


def groups(rows: Iterable[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        out[tuple(r[f] for f in GROUP_FIELDS)].append(r)
    return dict(sorted(out.items(), key=lambda kv: tuple(str(x) for x in kv[0])))


def cells(rows: Sequence[dict]) -> dict[tuple[str, float], list[dict]]:
    out: dict[tuple[str, float], list[dict]] = defaultdict(list)
    for r in rows:
        out[(r["method"], round(float(r["fraction"]), 4))].append(r)
    return out


def method_order(rows: Sequence[dict]) -> list[str]:
    present = {r["method"] for r in rows}
    return [m for m in METHODS if m in present] + sorted(present - set(METHODS))


def fraction_label(rows: Sequence[dict], fraction: float) -> str:
    r = next((x for x in rows if round(float(x["fraction"]), 4) == fraction), {})
    if r.get("dataset", "hippocampus") == "hippocampus":
        return f"{100 * fraction:g}%"
    return f"{r.get('n_labelled', '?')} sl. ({100 * fraction:.1f}%)"


def fractions(rows: Sequence[dict]) -> list[float]:
    return sorted({round(float(r["fraction"]), 4) for r in rows})


def seeds_of(rs: Sequence[dict], group_seeds: Sequence[int]) -> str:
    """``seed 1`` / ``seeds 0, 2`` for runs whose seeds are not all of the group's, else ''."""
    seeds = sorted({int(r["seed"]) for r in rs})
    if not rs or seeds == sorted(group_seeds):
        return ""
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def seed_note(cell: str, rs: Sequence[dict], group_seeds: Sequence[int]) -> str:
    """``cell`` with its seeds named when they are not all of the group's seeds, so that a
    column holding runs of different seeds (e.g. seed 0 for one method, seed 1 for another)
    says so: ``0.824 (n=1; seed 1)``."""
    note = seeds_of(rs, group_seeds)
    return f"{cell[:-1]}; {note})" if note and cell.endswith(")") else cell


def metric_table(rows: Sequence[dict], metric: str) -> str:
    """Markdown: methods x fractions, mean ± sd over seeds of ``metric`` (a cell whose seeds
    are not all of the table's names them)."""
    fr, cl = fractions(rows), cells(rows)
    all_seeds = sorted({int(r["seed"]) for r in rows})
    head = "| method | " + " | ".join(fraction_label(rows, f) for f in fr) + " |"
    lines = [head, "|---" * (len(fr) + 1) + "|"]
    for m in method_order(rows):
        name = f"**{m}** (ours)" if m == OURS else m
        vals = []
        for f in fr:
            rs = cl.get((m, f), [])
            cell = fmt_cell(*mean_sd([r[metric] for r in rs]), len(rs))
            vals.append(seed_note(cell, rs, all_seeds))
        lines.append(f"| {name} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def class_table(rows: Sequence[dict], class_names: Sequence[str] | None = None) -> str:
    """Markdown: per-class pooled Dice (mean over seeds), classes separated by ' / '."""
    fr, cl = fractions(rows), cells(rows)
    lines = ["| method | " + " | ".join(fraction_label(rows, f) for f in fr) + " |",
             "|---" * (len(fr) + 1) + "|"]
    for m in method_order(rows):
        vals = []
        for f in fr:
            rs = cl.get((m, f), [])
            if not rs:
                vals.append("—")
                continue
            per = zip(*[r["dice_pooled"] for r in rs])
            vals.append(" / ".join(f"{mean_sd(list(c))[0]:.3f}" for c in per))
        lines.append(f"| {m} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def paired_table(rows: Sequence[dict], base: str = "random") -> str:
    """Markdown: per method and fraction, mean ± sd over seeds of (method - ``base``) pooled
    mean Dice, pairing runs of the same seed (same labelled volumes, same test set)."""
    fr, cl = fractions(rows), cells(rows)
    lines = ["| method − " + base + " | " + " | ".join(fraction_label(rows, f) for f in fr) + " |",
             "|---" * (len(fr) + 1) + "|"]
    for m in method_order(rows):
        if m == base:
            continue
        vals = []
        for f in fr:
            ref = {int(r["seed"]): r["dice_pooled_mean"] for r in cl.get((base, f), [])}
            d = [r["dice_pooled_mean"] - ref[int(r["seed"])] for r in cl.get((m, f), [])
                 if int(r["seed"]) in ref]
            mu, sd = mean_sd(d)
            vals.append("—" if not d else f"{mu:+.3f}" + ("" if len(d) < 2 else f" ± {sd:.3f}")
                        + f" (n={len(d)})")
        lines.append(f"| {m} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def _stage(rs: Sequence[dict], stage: str, field: str) -> str:
    m, _ = mean_sd([r.get("stages", {}).get(stage, {}).get(field, float("nan")) for r in rs])
    return "—" if math.isnan(m) else (f"{m:.3f}" if field == "s_per_step" else f"{m:.0f}")


def cost_table(rows: Sequence[dict]) -> str:
    """Markdown: per method, mean over its runs of wall time and per-stage cost. Peak MB:
    CUDA max allocated on a GPU, process peak RSS on a CPU; +MB: above the stage start."""
    lines = ["| method | runs | wall min/run | + shared global min | global s/step | local s/step "
             "| local peak MB | local +MB | finetune s/step | finetune peak MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    by_m: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_m[r["method"]].append(r)
    for m in method_order(rows):
        rs = by_m[m]
        wall = mean_sd([r["wall_s"] / 60 for r in rs])[0]
        glob = mean_sd([r.get("global_s", 0) / 60 for r in rs])[0]
        lines.append(f"| {m} | {len(rs)} | {wall:.1f} | {glob:.1f} | "
                     f"{_stage(rs, 'global', 's_per_step')} | {_stage(rs, 'local', 's_per_step')} | "
                     f"{_stage(rs, 'local', 'peak_mb')} | {_stage(rs, 'local', 'delta_mb')} | "
                     f"{_stage(rs, 'finetune', 's_per_step')} | "
                     f"{_stage(rs, 'finetune', 'peak_mb')} |")
    return "\n".join(lines)


def goal_lines(rows: Sequence[dict]) -> list[str]:
    """Plain verdicts of issue #4's goal (hippocampus, dense: ours >= goal and above every
    other method of the same group), on pooled mean foreground Dice."""
    cl, out = cells(rows), []
    for f, goal in GOALS.items():
        ours = cl.get((OURS, round(f, 4)), [])
        if not ours:
            out.append(f"- {100 * f:g}%: no `{OURS}` run yet.")
            continue
        m = mean_sd([r["dice_pooled_mean"] for r in ours])[0]
        others = [(mean_sd([r["dice_pooled_mean"] for r in rs])[0], meth)
                  for (meth, ff), rs in cl.items() if ff == round(f, 4) and meth != OURS]
        best = max(others, default=(float("nan"), None))
        verdict = "meets" if m >= goal else "does NOT meet"
        line = f"- {100 * f:g}%: ours {m:.3f} {verdict} the goal {goal:.2f}"
        if best[1] is None:
            line += "; no baseline in this group yet."
        else:
            rel = "above" if m > best[0] else "NOT above"
            line += f"; best other method `{best[1]}` {best[0]:.3f}, ours is {rel} it."
        out.append(line)
    return out


def plot_group(rows: Sequence[dict], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    fr, cl = fractions(rows), cells(rows)
    all_seeds = sorted({int(r["seed"]) for r in rows})
    for ax, metric, name in zip(axes, ("dice_pooled_mean", "dice_per_volume_mean"),
                                ("pooled over the test set", "mean per test volume")):
        for m in method_order(rows):
            xs, ys, es = [], [], []
            for f in fr:
                rs = cl.get((m, f), [])
                if rs:
                    mu, sd = mean_sd([r[metric] for r in rs])
                    xs.append(100 * f)
                    ys.append(mu)
                    es.append(sd or 0.0)
            if xs:
                note = seeds_of([r for r in rows if r["method"] == m], all_seeds)
                ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3,
                            label=f"{m} ({note})" if note else m,
                            linewidth=2.5 if m == OURS else 1.2)
        ax.set_xscale("log")
        ax.set_xticks([100 * f for f in fr], [f"{100 * f:.3g}" for f in fr])
        ax.minorticks_off()
        ax.set_xlabel("labelled fraction (%)")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean foreground Dice")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def slug(parts: Sequence[str]) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9.+-]+", "_", "-".join(str(p) for p in parts)).strip("_")


def group_section(key: tuple, rows: Sequence[dict], plot_rel: str | None) -> str:
    dataset, protocol, preset, device = key
    r0 = rows[0]
    mach = r0.get("machine", {})
    seeds = sorted({int(r["seed"]) for r in rows})
    cls = r0.get("class_names", [])
    parts = [f"### {dataset} · {protocol} · preset `{preset}` · {device}", "",
             f"Machine: {mach.get('platform', '?')}, {mach.get('processor', '?')}, "
             f"{mach.get('cores', '?')} cores; torch {mach.get('torch', '?')}; seeds {seeds}; "
             f"{len(rows)} runs; test items per run: {r0.get('n_test', '?')}.", "",
             "Mean foreground Dice, **pooled** over the test set (mean ± sd over seeds):", "",
             metric_table(rows, "dice_pooled_mean"), "",
             "Mean foreground Dice, **mean per test volume**"
             + (" (per test slice)" if dataset == "em" else "") + ":", "",
             metric_table(rows, "dice_per_volume_mean"), "",
             f"Pooled Dice per class ({' / '.join(cls[1:]) or 'classes 1..'}; mean over seeds):", "",
             class_table(rows), "",
             "Paired gain over random init (same seed: same labelled volumes), pooled mean "
             "foreground Dice:", "", paired_table(rows), "", "Cost per run (wall = train + predict/score; the global "
             "stage is trained once per seed and shared, its time shown apart):", "",
             cost_table(rows), ""]
    if dataset == "hippocampus" and protocol == "dense":
        parts += ["Goal of issue #4 (pooled mean foreground Dice):", "", *goal_lines(rows), ""]
    if plot_rel:
        parts += [f"![Dice vs labelled fraction]({plot_rel})", ""]
    return "\n".join(parts)


def render(rows: Sequence[dict], plot_dir: Path | None, doc_dir: Path | None) -> str:
    """The generated part of docs/benchmarks.md (and the plots, when ``plot_dir`` is set)."""
    if not rows:
        return "_No results yet: run `benchmarks/label_efficiency.py`._\n"
    out = []
    for key, rs in groups(rows).items():
        rel = None
        if plot_dir is not None:
            png = plot_group(rs, plot_dir / f"{slug(key)}.png", " · ".join(map(str, key)))
            rel = os.path.relpath(png, doc_dir) if doc_dir is not None else str(png)
        out.append(group_section(key, rs, rel))
    return "\n".join(out)


def update_doc(doc: Path, body: str) -> None:
    """Replace the text between the markers of ``doc`` (append the markers if missing)."""
    doc = Path(doc)
    text = doc.read_text() if doc.is_file() else "# Benchmarks\n"
    block = f"{BEGIN}\n{body.rstrip()}\n{END}"
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = doc.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, doc)
