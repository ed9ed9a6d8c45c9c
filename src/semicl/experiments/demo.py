"""``semicl demo``: the README's main job, headless.

Trains the chosen preset on MSD Task04 Hippocampus with a share of the training
volumes labelled (:func:`semicl.experiments.split.choose_split`: the project's fixed split
when ``splits.json`` is present), predicts the held-out volumes, writes their masks, a
Dice table and a PNG figure.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np

from semicl.config import TrainConfig
from semicl.experiments.evaluation import evaluate_cases
from semicl.experiments.reporting import drive_with_progress
from semicl.experiments.run import msd_setup, save_run, write_json
from semicl.experiments.split import HELD_OUT_FRACTION
from semicl.training.pipeline import train


def overlay_figure(examples, class_names, path: Path, axis: int = 0) -> Path:
    """Image / ground truth / prediction on the most foreground-rich slice of each example."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    colours = ListedColormap([(0, 0, 0, 0), (1.0, 0.3, 0.2, 0.6), (0.2, 0.6, 1.0, 0.6),
                              (0.3, 0.9, 0.3, 0.6), (0.9, 0.8, 0.1, 0.6)][: len(class_names)])
    fig, axes = plt.subplots(len(examples), 3, figsize=(7.5, 2.6 * len(examples)), squeeze=False)
    for row, (cid, image, gt, pred) in zip(axes, examples, strict=True):
        k = int(np.argmax((np.moveaxis(gt, axis, 0) > 0).reshape(gt.shape[axis], -1).sum(1)))
        img = np.moveaxis(image, axis, 0)[k]
        for ax, (title, lab) in zip(row, [("image", None), ("ground truth", gt), ("prediction", pred)],
                                    strict=True):
            ax.imshow(img, cmap="gray")
            if lab is not None:
                ax.imshow(np.moveaxis(lab, axis, 0)[k], cmap=colours, vmin=0,
                          vmax=len(class_names) - 1, interpolation="nearest")
            ax.set_title(f"{cid} {title}", fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_demo(data: str | Path | None, config: TrainConfig, labelled_fraction: float,
             out: Path) -> dict:
    t0 = time.perf_counter()
    ds, split, tdata = msd_setup(data, config, labelled_fraction, HELD_OUT_FRACTION, None)
    model = drive_with_progress(train(tdata, config))
    t_train = time.perf_counter() - t0
    save_run(out, model, split)
    acc, examples = evaluate_cases(model, ds.select(split.test), out_dir=out / "masks",
                                   keep=3)
    table = acc.as_table(model.class_names)
    wall = time.perf_counter() - t0
    summary = acc.summary()
    (out / "dice.md").write_text(
        f"# semicl demo: {ds.name}, {len(split.labelled)} labelled volumes ({split.source})\n\n"
        f"preset {config.preset}, device {model.device}, {platform.processor() or platform.machine()}"
        f", training {t_train:.0f} s, total {wall:.0f} s\n\n{table}\n")
    fig = overlay_figure(examples, model.class_names, out / "overlay.png", config.slice_axis)
    write_json(out / "summary.json", {"dice": summary, "wall_s": wall, "train_s": t_train,
                                      "split": split.source, "preset": config.preset})
    print(table)
    print(f"masks in {out / 'masks'}, table {out / 'dice.md'}, figure {fig}")
    print(f"demo finished in {wall:.0f} s (training {t_train:.0f} s)")
    return summary
