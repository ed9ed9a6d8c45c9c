"""The ``semicl`` command: train, predict, evaluate, demo.

Every input error is printed as one line (``error: ...``) with exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from semicl.errors import SemiclError


def _size(text: str) -> tuple[int, int] | None:
    if text.lower() in ("native", "none"):
        return None
    parts = [int(p) for p in text.lower().replace("x", ",").split(",") if p]
    return (parts[0], parts[-1])


def build_parser() -> argparse.ArgumentParser:
    from semicl.config import COMPILE_MODES, LOCAL_MODES, PRESETS
    from semicl.stage import TRAINING_STAGES

    p = argparse.ArgumentParser(prog="semicl", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def common_train(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--preset", default="quick", choices=PRESETS)
        sp.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--axis", type=int, default=None, help="slice axis of 3-D volumes")
        sp.add_argument("--local-mode", choices=LOCAL_MODES)
        for stage in TRAINING_STAGES:  # --global-steps, --local-steps, --finetune-steps
            sp.add_argument(f"--{stage.value}-steps", type=int)
        sp.add_argument("--no-global", action="store_true", help="skip global pretraining")
        sp.add_argument("--no-local", action="store_true", help="skip local pretraining")
        sp.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        sp.add_argument("--flip", action="store_true",
                        help="mirror augmentation (for orientation-free images: EM, cells)")
        sp.add_argument("--compile", choices=COMPILE_MODES, default=None,
                        help="torch.compile the network for training (long GPU runs; "
                             "compiling takes tens of seconds a stage)")

    t = sub.add_parser("train", help="train a model (MSD folder, or image + scribbles)")
    t.add_argument("--data", help="MSD/nnU-Net folder (dataset.json, imagesTr, labelsTr); "
                                  "default $SEMICL_DATA_DIR")
    t.add_argument("--labelled-fraction", type=float, default=0.1)
    t.add_argument("--val-fraction", type=float, default=None)
    t.add_argument("--size", type=_size, default=None, help="slice size HxW (default: auto)")
    t.add_argument("--image", type=Path, help="one image (instead of --data)")
    t.add_argument("--scribbles", type=Path, help="scribbles for --image (0 unpainted, "
                                                  "1 background, k structure k-1)")
    t.add_argument("--classes", help="comma-separated class names, background first")
    t.add_argument("--init", type=Path, help="warm-start from this model.pt")
    t.add_argument("--members", type=int, default=None,
                   help="with --image: networks trained side by side on the strokes, their "
                        "predictions averaged (default: the preset's, 2 for quick)")
    t.add_argument("--out", type=Path, required=True, help="run folder; model.pt goes here")
    common_train(t)

    pr = sub.add_parser("predict", help="predict masks for NIfTI/TIFF/PNG inputs")
    pr.add_argument("--model", type=Path, required=True)
    pr.add_argument("--out", type=Path, required=True)
    pr.add_argument("--axis", type=int, default=None)
    pr.add_argument("--device", default="auto")
    pr.add_argument("--keep-islands", type=Path, metavar="SCRIBBLES", default=None,
                    help="keep only each structure's connected pieces that touch its strokes "
                         "in this scribble file (one input; for single objects such as organs)")
    pr.add_argument("--slice-smoothing", type=float, default=None, metavar="PX",
                    help="smooth volumes' probabilities across slices over PX in-plane pixels' "
                         "worth (0 = off; default: the model's own setting, 1 for quick)")
    pr.add_argument("inputs", type=Path, nargs="+")

    ev = sub.add_parser("evaluate", help="Dice of masks against ground truth")
    ev.add_argument("--pred", type=Path, nargs="+", required=True)
    ev.add_argument("--gt", type=Path, nargs="+", required=True)
    ev.add_argument("--classes", help="comma-separated class names, background first")
    ev.add_argument("--out", type=Path, help="also write the table (markdown) here")

    d = sub.add_parser("demo", help="quick end-to-end run on MSD Task04 Hippocampus")
    d.add_argument("--data", help="MSD Task04 folder or its parent (default $SEMICL_DATA_DIR, "
                                  "then the download cache)")
    d.add_argument("--out", type=Path, default=Path("runs/demo"))
    d.add_argument("--labelled-fraction", type=float, default=0.1)
    common_train(d)
    return p


def configure(args: argparse.Namespace):
    """The preset with the command-line overrides applied."""
    from semicl.config import preset

    cfg = preset(args.preset)
    cfg.seed = args.seed
    if args.device:
        cfg.device = args.device
    if args.axis is not None:
        cfg.slice_axis = args.axis
    if args.local_mode:
        cfg.local_stage.mode = args.local_mode
    for name, stage in cfg.stages().items():
        steps = getattr(args, f"{name.value}_steps")
        if steps is not None:
            stage.steps, stage.epochs = steps, None
    cfg.global_stage.enabled = not args.no_global
    cfg.local_stage.enabled = not args.no_local
    cfg.num_threads = args.threads
    if getattr(args, "members", None) is not None:
        if getattr(args, "image", None) is None:
            raise SemiclError("--members applies to training on one image (--image); "
                              "training on a dataset trains one network.")
        cfg.members = args.members
    cfg.flip = cfg.flip or args.flip
    if args.compile:
        cfg.compile = args.compile
    cfg.validate()
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    from semicl.experiments.run import train_from_images, train_from_msd

    cfg = configure(args)
    t0 = time.perf_counter()
    if args.image is not None or args.scribbles is not None:
        if args.image is None or args.scribbles is None:
            raise SemiclError("Give both --image and --scribbles (or --data for an MSD folder).")
        classes = args.classes.split(",") if args.classes else None
        model = train_from_images(args.image, args.scribbles, cfg, classes, args.out, args.init)
    else:
        model = train_from_msd(args.data, cfg, args.labelled_fraction, args.val_fraction,
                               args.size, args.out, args.init)
    print(f"saved {args.out / 'model.pt'} in {time.perf_counter() - t0:.1f} s"
          + ("  (stopped early)" if model.stopped else ""))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from semicl.experiments.evaluation import predict_files
    from semicl.training.trained_model import TrainedModel

    model = TrainedModel.load(args.model, device=args.device)
    if args.slice_smoothing is not None:
        model.config = dataclasses.replace(model.config, slice_smoothing=args.slice_smoothing)
        model.config.validate()
    predict_files(model, args.inputs, args.out, axis=args.axis, keep_islands=args.keep_islands)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from semicl.experiments.evaluation import evaluate_files, pair_files

    names = args.classes.split(",") if args.classes else None
    acc = evaluate_files(pair_files(args.pred, args.gt), len(names) if names else None)
    names = names or ["background"] + [f"class {k}" for k in range(1, acc.num_classes)]
    table = acc.as_table(names)
    print(table)
    if args.out:
        from semicl.io.atomic import atomic_path

        args.out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.out) as tmp:
            Path(tmp).write_text(table + "\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from semicl.experiments.demo import run_demo

    run_demo(args.data, configure(args), args.labelled_fraction, args.out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"train": cmd_train, "predict": cmd_predict, "evaluate": cmd_evaluate,
                "demo": cmd_demo}
    try:
        return handlers[args.command](args)
    except (SemiclError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
