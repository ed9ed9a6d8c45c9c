"""Methods of the label-efficiency benchmark (issue #4): configs, one run, the forest baseline.

Each network method is the engine's three-stage pipeline with stages toggled on a copy
of one preset; the global (SimCLR) stage depends only on the unlabelled slices and the
seed, so it is trained once per (dataset, seed, preset, device), cached under
``<out>/cache/`` and used to warm-start every ``global+...`` method (its cost is recorded
in each row as ``global_s``). ``rf`` is an ilastik-style pixel classifier.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import re
import subprocess
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path

import numpy as np
import torch

from benchmarks.bench_memory import cpu_peak, reset_cpu_peak
from semicl.config import TrainConfig, preset
from semicl.data.normalize import normalize_intensity
from semicl.events import ProgressEvent, drive
from semicl.metrics import DiceAccumulator
from semicl.pixel_forest import PixelForest
from semicl.training.pipeline import train
from semicl.training.trained_model import TrainedModel

# name -> (global stage, local mode or None, description); "rf" is not a network
METHODS: dict[str, tuple[bool, str | None, str]] = {
    "random": (False, None, "random init + fine-tune"),
    "global": (True, None, "global (SimCLR) + fine-tune"),
    "global+local-self": (True, "self", "global + self-supervised local (Chaitanya) + fine-tune"),
    "local-stride": (False, "stride", "supervised local (stride 4) + fine-tune"),
    "local-block": (False, "block", "supervised local (16x16 blocks) + fine-tune"),
    "global+local-stride": (True, "stride", "global + local (stride) + fine-tune [Hu et al.]"),
    "global+local-block": (True, "block", "global + local (block) + fine-tune [Hu et al.]"),
    "global+local-exact": (True, "exact", "global + exact full-resolution local + fine-tune (ours)"),
    "rf": (False, None, "random forest on multiscale features (ilastik-style)"),
}
OURS = "global+local-exact"
CPU_METHODS = ("random", "global+local-block", "global+local-exact", "rf")

# CPU preset, on top of preset("quick"): (global, local, finetune) as (steps, batch)
CPU_STAGES = {
    "hippocampus": ((86, 32), (50, 8), (400, 16)),  # ~3 min a run: 36 runs in ~90 min
    "em": ((50, 4), (10, 1), (100, 2)),
    "colin27": ((100, 8), (30, 2), (300, 4)),
}


def bench_preset(name: str, dataset: str, steps: int | None = None,
                 stage_steps: dict[str, int] | None = None) -> TrainConfig:
    """``cpu`` (this benchmark's, for a 2-core machine), ``quick`` or ``paper``.

    ``paper`` on the one-volume datasets: smaller batches for large slices, step floors
    (epochs over a handful of slices would be a few steps) and an anchor cap in ``exact``
    mode. ``steps`` (smoke runs) sets every stage to that many steps; ``stage_steps``
    ({"global": n, "local": n, "finetune": n}, any subset) sets the named stages only, for
    studies of a longer stage on top of a preset.
    """
    if name == "cpu":
        cfg = preset("quick")
        cfg.preset = "cpu"
        cfg.patch_size = None  # whole slices, as when the stored grid rows were measured
        for stage, (n, b) in zip((cfg.global_stage, cfg.local_stage, cfg.finetune),
                                 CPU_STAGES[dataset]):
            stage.steps, stage.batch_size, stage.epochs = n, b, None
    else:
        cfg = preset(name)
        if name == "paper" and dataset != "hippocampus":
            big = dataset == "em"
            cfg.global_stage.batch_size = 16 if big else 32
            cfg.local_stage.batch_size = 2 if big else 4
            cfg.finetune.batch_size = 4 if big else 8
            cfg.local_stage.max_anchors = 4096
            for stage, floor in ((cfg.global_stage, 1000), (cfg.local_stage, 500),
                                 (cfg.finetune, 2000)):
                stage.min_steps = floor
    cfg.flip = dataset == "em"  # EM has no orientation; anatomy is not mirror-symmetric
    cfg.members = 1  # the grid trains one network per run (pipeline.train), as it always did
    cfg.slice_smoothing = 0.0  # and scores the network's own slice-wise masks, as it always did
    stages = cfg.stages()
    overrides = dict.fromkeys(stages, steps) if steps is not None else {}
    for stage_name, n in {**overrides, **(stage_steps or {})}.items():
        if stage_name not in stages:
            raise ValueError(f"unknown stage {stage_name!r}; choose from {', '.join(stages)}")
        stage = stages[stage_name]
        stage.steps, stage.epochs, stage.min_steps = int(n), None, 0
    cfg.validate()
    return cfg


def preset_label(name: str, steps: int | None,
                 stage_steps: dict[str, int] | None = None) -> str:
    """Rows (and cached global stages) of different step counts never share a label."""
    label = name if steps is None else f"{name}+steps{steps}"
    return label + "".join(f"+{k}{v}" for k, v in (stage_steps or {}).items())


def method_config(base: TrainConfig, method: str, *, seed: int, axis: int,
                  size: tuple[int, int] | None, device: str = "auto",
                  threads: int | None = None) -> TrainConfig:
    """A copy of ``base`` with the stages of ``method`` switched on or off."""
    use_global, mode, _ = METHODS[method]
    cfg = copy.deepcopy(base)
    cfg.global_stage.enabled = use_global
    cfg.local_stage.enabled = mode is not None
    if mode is not None:
        cfg.local_stage.mode = mode
    cfg.finetune.enabled = True
    cfg.seed, cfg.slice_axis, cfg.image_size = int(seed), int(axis), size
    cfg.device, cfg.num_threads = device, threads
    cfg.validate()
    return cfg


# ----------------------------------------------------------------------------- machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def device_label(dev: torch.device) -> str:
    """What the results column is labelled with: never mix two of these."""
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    if dev.type == "mps":
        return f"mps ({platform.machine()})"
    return f"cpu ({cpu_model()}, {cpu_cores()} cores)"


def machine_info() -> dict:
    try:
        root = Path(__file__).resolve().parents[1]
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"platform": platform.platform(), "processor": cpu_model(), "cores": cpu_cores(),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "commit": commit}


# ----------------------------------------------------------------------------- memory
def reset_peak(dev: torch.device) -> int:
    """Reset the peak-memory mark (CUDA allocator, or Linux VmHWM); return the baseline."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        return int(torch.cuda.memory_allocated(dev))
    return reset_cpu_peak()


def read_peak(dev: torch.device) -> int:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        return int(torch.cuda.max_memory_allocated(dev))
    return cpu_peak()


def drive_stages(gen: Generator, dev: torch.device, *, every_s: float = 60.0,
                 log: Callable[[str], None] = print) -> tuple[object, dict]:
    """Run a training generator; per stage record steps, seconds, s/step and peak memory
    (``peak_mb``: CUDA max allocated or process peak RSS; ``delta_mb``: above the mark
    at the stage start). Progress is logged every ``every_s`` seconds."""
    stats: dict[str, dict] = {}
    base = reset_peak(dev)
    last = 0.0

    def note(event) -> None:
        nonlocal base, last
        if not isinstance(event, ProgressEvent):
            return
        name = event.stage.value
        st = stats.setdefault(name, {"steps": 0, "seconds": 0.0})
        st["steps"], st["seconds"] = event.step, round(event.elapsed_s, 3)
        st["s_per_step"] = round(event.elapsed_s / max(1, event.step), 5)
        now = time.perf_counter()
        if event.step == event.total:
            peak = read_peak(dev)
            st["peak_mb"], st["delta_mb"] = round(peak / 2**20, 1), round((peak - base) / 2**20, 1)
            base = reset_peak(dev)
        if now - last >= every_s or event.step == event.total or event.step == 1:
            last = now
            loss = "" if event.loss is None else f" loss {event.loss:.4f}"
            log(f"    [{name:>8}] {event.step}/{event.total}{loss} {event.elapsed_s:.0f} s")

    return drive(gen, note), stats


# ----------------------------------------------------------------------------- scoring
def score(predict: Callable[[np.ndarray], np.ndarray], tests: Sequence, num_classes: int,
          axis: int) -> dict:
    """Dice of ``predict(image)`` on each test item (restricted to its ``slices``)."""
    acc = DiceAccumulator(num_classes)
    for item in tests:
        pred = np.asarray(predict(item.image)).astype(np.int64)
        gt = np.asarray(item.gt).astype(np.int64)
        if item.slices is None:
            acc.add(pred, gt, item.id)
            continue
        p, g = np.take(pred, item.slices, axis), np.take(gt, item.slices, axis)
        if item.per_slice:
            for j, s in enumerate(item.slices):
                acc.add(np.take(p, j, axis), np.take(g, j, axis), f"{item.id}:{int(s)}")
        else:
            acc.add(p, g, item.id)
    s = acc.summary()
    return {"dice_pooled": s["pooled"], "dice_pooled_mean": s["pooled_mean"],
            "dice_per_volume": s["per_volume"], "dice_per_volume_mean": s["per_volume_mean"],
            "n_test": s["num_volumes"]}


# ----------------------------------------------------------------------------- random forest
def _along(a: np.ndarray, axis: int) -> np.ndarray:
    """A volume's slices along ``axis`` (a view), or a 2-D image as one slice."""
    return np.moveaxis(a, axis, 0) if a.ndim == 3 else a[None]


def rf_fit(pairs: Sequence[tuple[np.ndarray, np.ndarray]], axis: int, *, seed: int = 0,
           max_per_class: int = 20000, trees: int = 50) -> PixelForest:
    """Train on the labelled pixels (targets >= 0) of labelled slices along ``axis`` of
    each (image, targets) pair (:class:`semicl.pixel_forest.PixelForest`, the plugin's
    first overlay); at most ``max_per_class`` pixels per class, drawn uniformly."""

    def slices():
        for im, t in pairs:
            yield from zip(_along(normalize_intensity(im), axis),
                           _along(np.asarray(t), axis))

    return PixelForest(slices(), seed=seed, max_per_class=max_per_class, trees=trees)


def rf_predict(clf: PixelForest, image: np.ndarray, axis: int) -> np.ndarray:
    """Mask of ``image`` predicted slice by slice along ``axis``."""
    im = normalize_intensity(image)
    ims = _along(im, axis)
    out = np.empty(ims.shape, np.int64)
    for i, x in enumerate(ims):
        out[i] = clf.predict(x)
    return np.moveaxis(out, 0, axis) if im.ndim == 3 else out[0]


# ----------------------------------------------------------------------------- one run
class GlobalCache:
    """The global-stage model per (dataset, seed, preset, device), trained on first use."""

    def __init__(self, folder: Path, preset_name: str, device_slug: str):
        self.folder, self.preset_name, self.device_slug = Path(folder), preset_name, device_slug
        self._mem: dict[str, tuple[TrainedModel, dict]] = {}

    def get(self, prep, base: TrainConfig, seed: int, device: str, threads: int | None,
            every_s: float, log: Callable[[str], None] = print) -> tuple[TrainedModel, dict]:
        name = f"global-{prep.dataset}-seed{seed}-{self.preset_name}-{self.device_slug}"
        name = re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
        if name in self._mem:
            return self._mem[name]
        pt, meta_path = self.folder / f"{name}.pt", self.folder / f"{name}.json"
        if pt.is_file() and meta_path.is_file():
            model = TrainedModel.load(pt, device)
            meta = json.loads(meta_path.read_text())
            log(f"  global stage: cached {pt.name} ({meta['seconds']:.0f} s when trained)")
        else:
            cfg = method_config(base, "global", seed=seed, axis=prep.axis, size=prep.size,
                                device=device, threads=threads)
            cfg.finetune.enabled = False
            log(f"  global stage: training ({cfg.global_stage.resolved_steps(len(prep.data.unlabelled))} steps)")
            t0 = time.perf_counter()
            model, stages = drive_stages(train(prep.data, cfg), torch.device(model_device(device)),
                                         every_s=every_s, log=log)
            meta = {"seconds": round(time.perf_counter() - t0, 2), "stages": stages}
            self.folder.mkdir(parents=True, exist_ok=True)
            model.save(pt)
            meta_path.write_text(json.dumps(meta) + "\n")
        self._mem[name] = (model, meta)
        return model, meta


def model_device(device: str) -> str:
    from semicl.device import resolve_device

    return str(resolve_device(device))


def run_nn(method: str, prep, base: TrainConfig, seed: int, *, device: str = "auto",
           threads: int | None = None, cache: GlobalCache | None = None, every_s: float = 60.0,
           log: Callable[[str], None] = print) -> dict:
    """Train one network method on ``prep`` and score it; return the row's measurements."""
    cfg = method_config(base, method, seed=seed, axis=prep.axis, size=prep.size,
                        device=device, threads=threads)
    dev = torch.device(model_device(device))
    init, gmeta = None, {}
    run_cfg = cfg
    if cfg.global_stage.enabled and cache is not None:
        init, gmeta = cache.get(prep, base, seed, device, threads, every_s, log)
        run_cfg = copy.deepcopy(cfg)
        run_cfg.global_stage.enabled = False
    t0 = time.perf_counter()
    model, stages = drive_stages(train(prep.data, run_cfg, init=init), dev, every_s=every_s, log=log)
    train_s = time.perf_counter() - t0
    if gmeta:
        stages = {**gmeta.get("stages", {}), **stages}
    t1 = time.perf_counter()
    res = score(lambda im: model.predict(im).mask, prep.tests, len(prep.class_names), prep.axis)
    eval_s = time.perf_counter() - t1
    return {**res, "train_s": round(train_s, 2), "eval_s": round(eval_s, 2),
            "wall_s": round(train_s + eval_s, 2), "global_s": gmeta.get("seconds", 0.0),
            "global_cached": bool(gmeta), "stages": stages, "config": cfg.to_dict()}


def run_rf(prep, seed: int, *, trees: int = 50, max_per_class: int = 20000,
           log: Callable[[str], None] = print) -> dict:
    dev = torch.device("cpu")
    base = reset_peak(dev)
    t0 = time.perf_counter()
    clf = rf_fit(prep.rf_pairs(), prep.axis, seed=seed, max_per_class=max_per_class, trees=trees)
    fit_s = time.perf_counter() - t0
    log(f"    [      rf] fitted {trees} trees in {fit_s:.0f} s")
    t1 = time.perf_counter()
    res = score(lambda im: rf_predict(clf, im, prep.axis), prep.tests, len(prep.class_names),
                prep.axis)
    eval_s = time.perf_counter() - t1
    peak = read_peak(dev)
    return {**res, "train_s": round(fit_s, 2), "eval_s": round(eval_s, 2),
            "wall_s": round(fit_s + eval_s, 2), "global_s": 0.0, "global_cached": False,
            "stages": {"rf": {"seconds": round(fit_s + eval_s, 2), "peak_mb": round(peak / 2**20, 1),
                              "delta_mb": round((peak - base) / 2**20, 1)}},
            "config": {"trees": trees, "max_per_class": max_per_class, "sigma": [1, 8],
                       "features": "intensity+edges+texture"}}
