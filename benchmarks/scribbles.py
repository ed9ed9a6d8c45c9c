"""The real job, measured: one image, a few strokes on a few slices, Dice on the rest (issue #10).

For each case (``scribble_cases.py``) and seed of the stroke draw, in one process:

* **forest** — an ilastik-style random forest (multiscale intensity / edge / texture
  features, balanced classes) fitted on the same strokes;
* **network** — :func:`semicl.interactive.training_round`, the generator the plugin's
  Train runs (same preset, first look included), with Dice of the whole image scored
  every ``--curve-every`` seconds of training (the clock stops while scoring) so the
  table shows when, if ever, the network passes the forest;
* **correction rounds** — the simulated user paints correction lines on the largest
  wrong regions of the worst slices of the *network's* mask
  (:func:`semicl.scribbles.correction_strokes`); the network Retrains warm from its model
  as the plugin's Retrain does, the forest refits on the same scribbles.

Rows go to ``<out>/results.jsonl`` (one per case x seed x variant); ``--report`` writes
``<out>/report.md`` and ``<out>/curves.png`` from them. Variants are the shipped preset
plus ``--set key=value`` overrides (``finetune.affinity_weight=0``), named by ``--label``.
Each network row also scores the painted slices themselves (``dice_painted``) and splits
each structure's errors by the background prior's zone (``zone``, :meth:`Case.errors_by_zone`);
``--whole-slices`` paints the chosen slices completely instead of stroking them, a
diagnostic of what the strokes leave out (write its rows to their own ``--out``).

    python benchmarks/scribbles.py --cases colin27:k5 msd:5 --seeds 0 1 --rounds 3
    python benchmarks/scribbles.py --report
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

from benchmarks.le_methods import device_label, machine_info, rf_fit, rf_predict  # noqa: E402
from benchmarks.scribble_cases import DEFAULT_CASES, Case, expand, load_case  # noqa: E402
from semicl.config import TrainConfig, preset  # noqa: E402
from semicl.device import resolve_device, set_cpu_threads  # noqa: E402
from semicl.events import PreviewEvent, ProgressEvent, drive  # noqa: E402
from semicl.data.normalize import normalize_intensity  # noqa: E402
from semicl.interactive import TrainControl, image_prior_weight, training_round  # noqa: E402
from semicl.islands import keep_stroked_islands  # noqa: E402
from semicl.scribbles import correction_strokes, painted_share  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "scribbles"


def apply_overrides(cfg: TrainConfig, pairs: list[str]) -> TrainConfig:
    """``section.field=value`` (e.g. ``finetune.affinity_weight=0``) onto ``cfg``."""
    for pair in pairs:
        key, _, raw = pair.partition("=")
        *path, field = key.split(".")
        obj = cfg
        for part in path:
            obj = getattr(obj, {"global": "global_stage", "local": "local_stage"}.get(part, part))
        if not hasattr(obj, field):
            raise SystemExit(f"--set {pair}: no field {key!r} in the training config")
        old = getattr(obj, field)
        value = json.loads(raw) if raw not in ("True", "False") else raw == "True"
        setattr(obj, field, type(old)(value) if isinstance(old, (bool, int, float)) and
                not isinstance(value, type(None)) else value)
    cfg.validate()
    return cfg


def mean(d: list[float]) -> float:
    v = [x for x in d if x == x]
    return float(np.mean(v)) if v else float("nan")


def run_forest(case: Case, scribbles: np.ndarray, seed: int) -> dict:
    t0 = time.perf_counter()
    clf = rf_fit([(case.image, scribbles.astype(np.int64) - 1)], case.axis, seed=seed)
    pred = rf_predict(clf, case.image, case.axis)
    d = case.dice(pred)
    return {"dice": d, "mean": mean(d), "seconds": round(time.perf_counter() - t0, 2),
            "volume_ratio": case.volume_ratio(pred)}


def plugin_round(image, scribbles, class_names, axis, cfg, control, init, clock,
                 steps: dict | None = None, keep_islands: bool = False,
                 ends: dict | None = None, predict: bool = True, previous=None):
    """Run one Train (``init`` None: with the plugin's first look, the forest's overlay) or
    Retrain round as the plugin does (``previous``: the probabilities ``init`` gave, shown
    last, as the plugin hands them on); return (its RoundResult, ``clock()`` at the first
    overlay or None). ``steps`` (a dict) receives each stage's steps done (its longest
    network's: with several, the last event may be any network's), ``ends`` each stage's
    ``clock()`` at its last progress event, both keyed by the stage's value. ``predict``
    False: the round ends with the trained model, without predicting the image (no mask)."""
    gen = training_round(image, scribbles, class_names=class_names, config=cfg, axis=axis,
                         init=init, pretrain=init is None, control=control,
                         first_look=init is None,
                         keep_islands=keep_islands, predict=predict, previous=previous)
    first = None

    def note(ev) -> None:
        nonlocal first
        if first is None and isinstance(ev, PreviewEvent):
            first = clock()
        if isinstance(ev, ProgressEvent):
            if steps is not None:
                steps[ev.stage.value] = max(ev.step, steps.get(ev.stage.value, 0))
            if ends is not None:
                ends[ev.stage.value] = clock()

    result = drive(gen, note)
    return result, first


def run_network(case: Case, scribbles: np.ndarray, cfg: TrainConfig, *, last=None,
                curve_every: float = 0.0, keep_islands: bool = False) -> tuple[dict, object]:
    """One Train (``last`` None) or Retrain round (warm from ``last``, the previous round's
    RoundResult, holding on to its answer as the plugin does); Dice every ``curve_every``
    s of training. ``keep_islands``: the round's option of that name (the curve's masks get
    it too). Returns (the row, the RoundResult)."""
    curve: list[tuple[float, float]] = []
    paused = [0.0]
    t0 = time.perf_counter()
    next_at = [curve_every]

    def watch(net, step: int) -> None:
        now = time.perf_counter() - t0 - paused[0]
        if curve_every <= 0 or now < next_at[0]:
            return
        s = time.perf_counter()
        from semicl.inference import predict

        mask = predict(net, case.image, axis=case.axis).mask
        if keep_islands:
            mask = keep_stroked_islands(mask, scribbles)
        curve.append((round(now, 1), mean(case.dice(mask))))
        next_at[0] = now + curve_every
        paused[0] += time.perf_counter() - s

    # the plugin previews the slice in view: the last one painted
    control = TrainControl(watch=watch, preview_slice=int(case.painted[-1]))
    steps: dict[str, int] = {}
    result, first_overlay = plugin_round(case.image, scribbles, case.class_names, case.axis,
                                         cfg, control, None if last is None else last.model,
                                         clock=lambda: time.perf_counter() - t0 - paused[0],
                                         steps=steps, keep_islands=keep_islands,
                                         previous=None if last is None else last.probs)
    seconds = time.perf_counter() - t0 - paused[0]
    d = case.dice(result.mask)
    curve.append((round(seconds, 1), mean(d)))
    reach = cfg.finetune.prior_reach
    zone = None if reach <= 0 else case.errors_by_zone(result.mask, image_prior_weight(
        normalize_intensity(case.image), scribbles, len(case.class_names), case.axis, reach) == 0)
    return ({"dice": d, "mean": mean(d), "dice_painted": case.dice_painted(result.mask),
             "seconds": round(seconds, 2), "curve": curve,
             "volume_ratio": case.volume_ratio(result.mask), "zone": zone, "steps": steps,
             "first_overlay_s": None if first_overlay is None else round(first_overlay, 2)},
            result)


def run_case(case: Case, seed: int, cfg: TrainConfig, label: str, rounds: int,
             curve_every: float, keep_islands: bool = False, whole_slices: bool = False) -> dict:
    rng = np.random.default_rng([seed, 2])
    if whole_slices:
        case = dataclasses.replace(case, scribbles=case.whole_slices())
    row = {"case": case.name, "seed": seed, "label": label, "axis": case.axis,
           "whole_slices": whole_slices,
           "painted_slices": [int(i) for i in case.painted],
           "painted_share": painted_share(case.scribbles), "classes": case.class_names[1:],
           "config": cfg.to_dict(), "keep_islands": keep_islands,
           "device": device_label(resolve_device(cfg.device)), **machine_info()}
    row["forest"] = [run_forest(case, case.scribbles, seed)]
    print(f"  forest {row['forest'][0]['mean']:.3f} in {row['forest'][0]['seconds']:.0f} s",
          flush=True)
    net_row, last = run_network(case, case.scribbles, cfg, curve_every=curve_every,
                                keep_islands=keep_islands)
    row["network"] = [net_row]
    print(f"  network {net_row['mean']:.3f} in {net_row['seconds']:.0f} s "
          f"(curve {net_row['curve']})", flush=True)
    scr = case.scribbles
    for r in range(1, rounds + 1):
        scr = correction_strokes(case.mask, last.mask, scr, case.axis, rng)
        net_row, last = run_network(case, scr, cfg, last=last, keep_islands=keep_islands)
        row["network"].append(net_row)
        row["forest"].append(run_forest(case, scr, seed))
        print(f"  round {r}: network {net_row['mean']:.3f} in {net_row['seconds']:.0f} s, "
              f"forest {row['forest'][-1]['mean']:.3f}", flush=True)
    row["painted_share_final"] = painted_share(scr)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--rounds", type=int, default=3, help="correction rounds after Train")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--label", default="shipped", help="variant name for the rows")
    ap.add_argument("--curve-every", type=float, default=15.0, help="seconds between curve points")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads of the round (the plugin: all cores but one); the "
                         "networks of TrainConfig.members share them, at least one each")
    ap.add_argument("--data", default=None, help="folder with the datasets (else $SEMICL_DATA_DIR)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--keep-islands", action="store_true",
                    help="rounds keep only the pieces touching a stroke (the plugin's option)")
    ap.add_argument("--whole-slices", action="store_true",
                    help="paint the chosen slices completely instead of stroking them (a "
                         "diagnostic: what the strokes leave out; pair it with "
                         "--set 'finetune.labels=\"strokes\"' to keep the strokes' recipe)")
    ap.add_argument("--report", action="store_true", help="only write the report from the rows")
    args = ap.parse_args(argv)
    if args.report:
        from benchmarks.scribble_report import write_report

        print(write_report(args.out))
        return 0
    set_cpu_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in expand(args.cases, args.data):
        for seed in args.seeds:
            cfg = apply_overrides(preset(args.preset), args.overrides)
            case = load_case(name, seed, args.data)
            print(f"{name} seed {seed} [{args.label}]: painted {list(case.painted)}", flush=True)
            row = run_case(case, seed, cfg, args.label, args.rounds, args.curve_every,
                           args.keep_islands, args.whole_slices)
            with open(args.out / "results.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
