"""Tables and the Dice-against-time plot of the scribble benchmark (``scribbles.py --report``)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def load_rows(out: Path) -> list[dict]:
    path = Path(out) / "results.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def latest(rows: list[dict]) -> list[dict]:
    """The newest row of each (case, seed, label) — a rerun replaces an older one."""
    keep: dict[tuple, dict] = {}
    for r in rows:
        keep[(r["case"], r["seed"], r["label"])] = r
    return list(keep.values())


def passes_at(curve: list, forest: float) -> float | None:
    """Seconds of training at which the network's Dice first reaches ``forest``."""
    for t, d in curve:
        if d == d and d >= forest:
            return float(t)
    return None


def _fmt(values: list[float], digits: int = 3) -> str:
    v = [x for x in values if x is not None and x == x]
    if not v:
        return "–"
    m = float(np.mean(v))
    s = f"{m:.{digits}f}" if digits else f"{m:.0f}"
    return s + (f" ± {np.std(v):.{digits}f}" if len(v) > 1 and digits else "")


TRAIN_HEAD = ["forest", "network", "net − forest", "train s", "first overlay s"]


def _train_cells(rs: list[dict]) -> list[str]:
    """The Train round of ``rs`` (mean over them): the :data:`TRAIN_HEAD` columns."""
    f0 = [r["forest"][0]["mean"] for r in rs]
    n0 = [r["network"][0]["mean"] for r in rs]
    return [_fmt(f0), _fmt(n0), _fmt([a - b for a, b in zip(n0, f0)]),
            _fmt([r["network"][0]["seconds"] for r in rs], 0),
            _fmt([r["network"][0].get("first_overlay_s") for r in rs], 1)]


def _round_cells(rs: list[dict], n_rounds: int, counted: bool) -> list[str]:
    """``net / forest`` of each correction round 1 .. n_rounds - 1 (with ``(n=..)`` when
    ``counted``), over the rows of ``rs`` that reached it."""
    cells = []
    for i in range(1, n_rounds):
        net = [r["network"][i]["mean"] for r in rs if len(r["network"]) > i]
        fo = [r["forest"][i]["mean"] for r in rs if len(r["forest"]) > i]
        n = f" (n={len(net)})" if counted else ""
        cells.append(f"{_fmt(net)} / {_fmt(fo)}{n}" if net else "–")
    return cells


def _table(head: list[str], lines: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(cells) + " |" for cells in lines])


def summary_table(rows: list[dict]) -> str:
    """One line per (label, case): Train round and each correction round, mean over seeds."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["label"], r["case"])].append(r)
    n_rounds = max((len(r["network"]) for r in rows), default=1)
    head = ["variant", "case", "seeds", *TRAIN_HEAD, "passes forest at s"]
    head += [f"round {i} net / forest" for i in range(1, n_rounds)] + ["round s (mean)"]
    lines = []
    for (label, case), rs in sorted(groups.items()):
        passes = [passes_at(r["network"][0]["curve"], r["forest"][0]["mean"]) for r in rs]
        secs = [x["seconds"] for r in rs for x in r["network"][1:]]
        lines.append([label, case, ",".join(str(r["seed"]) for r in rs), *_train_cells(rs),
                      ", ".join("never" if p is None else f"{p:.0f}" for p in passes),
                      *_round_cells(rs, n_rounds, counted=False), _fmt(secs, 0)])
    return _table(head, lines)


def dataset_table(rows: list[dict]) -> str:
    """One line per (label, dataset, k): the mean over every volume and seed of it."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        parts = r["case"].split(":")
        groups[(r["label"], parts[0], parts[-1])].append(r)
    n_rounds = max((len(r["network"]) for r in rows), default=1)
    head = ["variant", "dataset", "k", "runs", *TRAIN_HEAD]
    head += [f"round {i} net / forest" for i in range(1, n_rounds)]
    lines = [[label, ds, k, str(len(rs)), *_train_cells(rs),
              *_round_cells(rs, n_rounds, counted=True)]
             for (label, ds, k), rs in sorted(groups.items())]
    return _table(head, lines)


def class_table(rows: list[dict]) -> str:
    """Per-class Dice of the Train round (network / forest), mean over seeds."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["label"], r["case"].split(":")[0])].append(r)
    lines = ["| variant | dataset | class | network | forest |", "|---|---|---|---|---|"]
    for (label, ds), rs in sorted(groups.items()):
        for j, name in enumerate(rs[0]["classes"]):
            net = [r["network"][0]["dice"][j] for r in rs]
            fo = [r["forest"][0]["dice"][j] for r in rs]
            lines.append(f"| {label} | {ds} | {name} | {_fmt(net)} | {_fmt(fo)} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> Path | None:
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = sorted({r["case"].split(":")[0] + ":" + r["case"].split(":")[-1] for r in rows})
    fig, axes = plt.subplots(1, len(cases), figsize=(4.2 * len(cases), 3.4), squeeze=False)
    labels = sorted({r["label"] for r in rows})
    # one colour per variant: the 20 of tab20, repeated past that (the default cycle has 10)
    colours = {lab: plt.get_cmap("tab20")(i % 20) for i, lab in enumerate(labels)}
    for ax, case in zip(axes[0], cases):
        for r in rows:
            if r["case"].split(":")[0] + ":" + r["case"].split(":")[-1] != case:
                continue
            t, d = zip(*r["network"][0]["curve"])
            ax.plot(t, d, "-", color=colours[r["label"]], alpha=0.7, lw=1)
            f = r["forest"][0]
            ax.plot([f["seconds"]], [f["mean"]], "k^", ms=5)
        ax.set_title(case)
        ax.set_xlabel("training seconds (CPU; threads in the text)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean Dice, unpainted slices")
    handles = [plt.Line2D([], [], color=colours[lab], label=f"network ({lab})") for lab in labels]
    handles.append(plt.Line2D([], [], color="k", marker="^", ls="", label="forest"))
    axes[0][-1].legend(handles=handles, fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_report(out: Path) -> str:
    rows = latest(load_rows(out))
    text = ["# Scribble benchmark (generated by `benchmarks/scribbles.py --report`)", "",
            "Mean foreground Dice on the slices not painted at the start; mean ± sd over the "
            "seeds of the stroke draw. Rounds: correction strokes on the network's worst "
            "slices, then Retrain (network) / refit (forest).", "",
            "By dataset (mean over its volumes and seeds):", "", dataset_table(rows), "",
            "By case:", "", summary_table(rows), "", "Per class, Train round:", "",
            class_table(rows), ""]
    if plot(rows, Path(out) / "curves.png"):
        text += ["![Dice against training time](curves.png)", ""]
    md = "\n".join(text)
    (Path(out) / "report.md").write_text(md)
    return md
