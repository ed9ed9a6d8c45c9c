"""Event-loop lag of a real napari window while the plugin trains on one image.

Issue #12 item 2: three image sizes (``--image``): ``msd``, one MSD Task04 hippocampus
volume (``--case`` index, default ``hippocampus_001``; 3 classes, slices along axis 0,
strokes on 3 slices at the quartiles of the structures' extent); ``colin27``, the Colin27
MRI (181 x 217 x 181, 4 classes, axial slices: axis 2, which the viewer is turned to, as
a user would, so the plugin takes it as the slice axis); ``camera``, the 512 x 512
photograph ``skimage.data.camera`` (2-D, 2 classes). Colin27 and the photograph come from
``round_speed.load`` (the same strokes as ``round_speed.py``); the MSD volume and its
strokes are the ones this script always used (numbers stay comparable).

A QTimer fires every ``--probe-ms``; the lag of each firing is how late it came (the time
the event loop could not run). A second timer paints a dot on the scribble layer every
200 ms (a user painting during training) and times each paint. The table gives p50 / p95
/ max lag while idle, during each training stage and overall, the main thread's time for
each live preview (the first one creates the prediction layer), progress event and the
round's end, and Python's full garbage collections during training; then the lags over
100 ms with what overlapped them, and the time from pressing Train to the first overlay
(and to the first overlay of the pretrained network's fine-tuning), printed and written to
``benchmarks/results/ui_lag_<image>.md``.

Run (a display is needed; Xvfb is enough)::

    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/ui_lag.py --image colin27
    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/ui_lag.py --limit-s 60  # shorter

Target (issue #12 item 2): p95 lag <= 50 ms while the round runs; first overlay <= 15 s
(quick preset).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np

if not __package__:  # run as a file (python benchmarks/<name>.py)
    import _as_script  # noqa: F401  (the repository root onto sys.path)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
IMAGES = ("msd", "colin27", "camera")


def _stats(values: list[float]) -> tuple[int, float, float, float]:
    if not values:
        return 0, float("nan"), float("nan"), float("nan")
    a = np.asarray(values) * 1000.0
    return len(a), float(np.percentile(a, 50)), float(np.percentile(a, 95)), float(a.max())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options; ``out`` defaults to ``results/ui_lag_<image>.md``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", choices=IMAGES, default="msd",
                    help="msd: one MSD hippocampus volume; colin27: the Colin27 MRI; "
                    "camera: the 512 x 512 photograph (2-D)")
    ap.add_argument("--data-dir", default=os.environ.get("SEMICL_DATA_DIR")
                    or str(REPO.parent / "shared" / "data"))
    ap.add_argument("--case", type=int, default=0, help="MSD volume (index; --image msd)")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--limit-s", type=float, default=0.0,
                    help="press Stop after this many seconds (0 = train to the end)")
    ap.add_argument("--probe-ms", type=int, default=10)
    ap.add_argument("--no-first-look", dest="first_look", action="store_false",
                    help="Train without the first look (the pixel forest's overlay)")
    ap.add_argument("--preview-s", type=float, default=3.0)
    ap.add_argument("--no-paint", action="store_true", help="do not paint during training")
    ap.add_argument("--out", default=None,
                    help="report file (default: benchmarks/results/ui_lag_<image>.md)")
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = str(HERE / "results" / f"ui_lag_{args.image}.md")
    return args


def load_image(name: str, data_dir: str, case_index: int = 0) -> dict:
    """The image, its ground truth, class names, slice axis, voxel scale, the strokes and
    the painted slices (a 2-D image: its one slice, 0) of ``--image``."""
    if name == "msd":  # the volume and strokes this benchmark always used
        from semicl.io.download import find_or_fetch_msd
        from semicl.io.msd import load_msd
        from semicl.scribbles import scribble_volume

        ds = load_msd(find_or_fetch_msd(data_dir))
        case = ds.cases[case_index]
        image, labels = case.load()
        gt = np.asarray(labels.data)
        fg = np.flatnonzero(gt.reshape(gt.shape[0], -1).any(1))
        slices = [int(fg[len(fg) // 4]), int(fg[len(fg) // 2]), int(fg[3 * len(fg) // 4])]
        scribbles = scribble_volume(gt, slices, 0)  # strokes_from_mask on each slice
        return {"title": f"MSD Task04 `{case.case_id}`", "layer": case.case_id,
                "image": image.data, "gt": gt, "names": list(ds.class_names), "axis": 0,
                "scale": tuple(image.spacing), "scribbles": scribbles, "slices": slices}
    from benchmarks.round_speed import load
    from napari_semicl._layers import annotated_slices

    image, gt, names, axis, scribbles = load(name, data_dir)
    gt = np.asarray(gt)
    slices = sorted(annotated_slices(np.asarray(scribbles), axis))  # a 2-D image: [0]
    title = ("Colin27 T1 + AAL (caudate / putamen / thalamus)" if name == "colin27"
             else "`skimage.data.camera` (Otsu mask: figure vs rest)")
    return {"title": title, "layer": name, "image": np.asarray(image), "gt": gt,
            "names": list(names), "axis": int(axis) if image.ndim == 3 else 0,
            "scale": (1.0,) * image.ndim, "scribbles": np.asarray(scribbles, np.uint8),
            "slices": slices}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("No display: run under xvfb-run -a -s '-screen 0 1280x1024x24'.", file=sys.stderr)
        return 2
    import tempfile

    os.environ["SEMICL_SESSION_DIR"] = tempfile.mkdtemp(prefix="semicl-ui-lag-")

    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication
    from semicl.metrics import dice_per_class

    im = load_image(args.image, args.data_dir, args.case)
    gt, axis, slices, scale = im["gt"], im["axis"], im["slices"], im["scale"]
    viewer = napari.Viewer(show=True)
    viewer.add_image(im["image"], name=im["layer"], scale=scale)
    if gt.ndim == 3 and axis != 0:  # a user turns the view: the slices along ``axis``
        viewer.dims.order = (axis, *(i for i in range(3) if i != axis))
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-semicl", "Scribble segmentation")
    widget.classes.set_names(im["names"])
    widget.on_new_scribbles()
    scribbles = widget.pickers.scribble_layer()
    scribbles.data = im["scribbles"]
    widget.settings.preset.setCurrentText(args.preset)
    widget.settings.first_look.setChecked(args.first_look)
    widget.settings.preview_s.setValue(args.preview_s)
    mid = slices[len(slices) // 2]  # the slice in view (previewed): the middle painted one
    if gt.ndim == 3:
        viewer.dims.set_point(axis, float(mid) * scale[axis])
    ctrl = widget.controller
    app = QApplication.instance()

    stage = {"now": "idle"}
    lags: dict[str, list[float]] = {}
    paints: list[float] = []
    overlays: list[tuple[float, str]] = []
    last = [time.perf_counter()]
    interval = args.probe_ms / 1000.0

    stamped: list[tuple[float, float, str]] = []  # (time, lag, stage): probes while training

    def probe() -> None:
        now = time.perf_counter()
        lag = max(0.0, now - last[0] - interval)
        lags.setdefault(stage["now"], []).append(lag)
        if stage["now"] != "idle":
            stamped.append((now, lag, stage["now"]))
        last[0] = now

    ctrl.progressed.connect(lambda key, _title, _ev: stage.__setitem__("now", key))
    show_slice = ctrl.view.show_slice

    updates: list[float] = []

    def timed_show(index, mask):
        t = time.perf_counter()
        overlays.append((t, stage["now"]))
        show_slice(index, mask)
        updates.append(time.perf_counter() - t)

    ctrl.view.show_slice = timed_show
    progress_calls: list[float] = []
    ends: list[float] = []
    on_yield, on_return = ctrl._on_yield, ctrl._on_return

    def timed_yield(ev) -> None:  # the main thread's work for one event of the job
        t = time.perf_counter()
        on_yield(ev)
        if not hasattr(ev, "mask"):
            progress_calls.append(time.perf_counter() - t)

    def timed_return(result) -> None:
        t = time.perf_counter()
        on_return(result)
        ends.append(time.perf_counter() - t)

    ctrl._on_yield, ctrl._on_return = timed_yield, timed_return  # bound when Train starts
    # dabs on slices without strokes (a 2-D image: anywhere on it)
    free = [z for z in range(gt.shape[axis]) if z not in slices] if gt.ndim == 3 else [0]
    rng = np.random.default_rng(0)

    def paint() -> None:
        if stage["now"] == "idle" or args.no_paint:
            return
        coord = [int(rng.integers(0, n)) for n in gt.shape]
        if gt.ndim == 3:
            coord[axis] = int(rng.choice(free))
        t = time.perf_counter()
        scribbles.paint(tuple(coord), 1)
        paints.append(time.perf_counter() - t)

    timer = QTimer()
    timer.setInterval(args.probe_ms)
    timer.timeout.connect(probe)
    painter = QTimer()
    painter.setInterval(200)
    painter.timeout.connect(paint)

    def pump(seconds: float, until=None) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end and not (until and until()):
            app.processEvents()
            time.sleep(0.002)

    pump(2.0)  # let the window settle
    t_warm = time.perf_counter()  # the plugin's warm-up imports (a person paints meanwhile)
    pump(120, until=lambda: not any(t.name == "semicl-warm-up" for t in threading.enumerate()))
    t_warm = time.perf_counter() - t_warm
    last[0] = time.perf_counter()
    collections: list[tuple[float, float, int]] = []  # (start, seconds, generation)
    gc_start = [0.0]

    def on_gc(phase: str, info: dict) -> None:  # Python's collector stops every thread
        if phase == "start":
            gc_start[0] = time.perf_counter()
        else:
            collections.append((gc_start[0], time.perf_counter() - gc_start[0],
                                int(info["generation"])))

    gc.callbacks.append(on_gc)
    timer.start()
    pump(3.0)  # idle baseline
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    painter.start()
    t0, cpu0 = time.perf_counter(), time.thread_time()
    widget.train_btn.click()  # the main thread checks and copies the inputs, then starts
    t_press = time.perf_counter() - t0
    stage["now"] = "starting"
    # what the plugin took from the view: its slice axis and the slice it previews
    seen = (ctrl.view.axis, getattr(ctrl.control, "preview_slice", None))
    limit = args.limit_s if args.limit_s > 0 else 1e9
    pump(limit, until=lambda: not ctrl.busy)
    t_stop = None
    if ctrl.busy:
        t_stop = time.perf_counter()
        widget.stop_btn.click()
        pump(120, until=lambda: not ctrl.busy)
        t_stop = time.perf_counter() - t_stop
    t_end, main_cpu = time.perf_counter(), time.thread_time() - cpu0
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    timer.stop()
    painter.stop()
    gc.callbacks.remove(on_gc)

    first = overlays[0][0] - t0 if overlays else float("nan")
    first_main = next((t - t0 for t, st in overlays if st == "finetune"), float("nan"))
    pred = ctrl.view.layer()
    dice = (dice_per_class(np.asarray(pred.data), gt, len(im["names"])).tolist()
            if pred is not None else [])
    training = [v for k, vals in lags.items() if k != "idle" for v in vals]
    order = ["idle", "starting", "first_look", "global", "local", "finetune", "predict"]
    rows = [(k, _stats(lags[k])) for k in order if k in lags]
    rows.append(("all training", _stats(training)))
    rows.append(("Train press (main thread)", _stats([t_press])))
    rows.append(("paint() call", _stats(paints)))
    rows.append(("overlay update", _stats(updates)))
    rows.append(("layer creation (1st overlay)", _stats(updates[:1])))
    if overlays:  # every probe from the first overlay until 1 s after it was applied
        t_make = overlays[0][0]
        t_next = t_make + updates[0] + 1.0
        rows.append(("lag around layer creation", _stats(
            [lag for t, lag, _st in stamped if t_make <= t <= t_next])))
    rows.append(("progress event", _stats(progress_calls)))
    rows.append(("round end (final prediction)", _stats(ends)))
    rows.append(("garbage collection, gen 2", _stats(
        [d for t, d, g in collections if g == 2 and t >= t0])))
    # the lags over 100 ms: when (s after Train), in which stage, and what ran then
    spans = ([(t0, t_press, "Train press")]
             + [(t, u, "overlay") for (t, _st), u in zip(overlays, updates)]
             + [(t, d, f"gc{g}") for t, d, g in collections if d > 0.02])
    spikes = []
    for t, lag, st in stamped:
        if lag > 0.1:
            what = sorted({w for a, d, w in spans if a < t and a + d > t - lag - 0.01})
            spikes.append(f"{t - t0:.1f} s, {st}: {1000 * lag:.0f} ms"
                          + (f" ({', '.join(what)})" if what else ""))
    torch_threads = __import__("torch").get_num_threads()
    cmd = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"# UI lag while training (napari-semicl): `{args.image}` {tuple(gt.shape)}",
        "",
        f"- command: `python benchmarks/ui_lag.py {cmd}`"
        " (under `xvfb-run -a -s \"-screen 0 1280x1024x24\"`)",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average "
        f"{load:.2f} at start, {load_end:.2f} at the end (other jobs share this machine); "
        f"torch threads in the worker: {torch_threads}, networks side by side (one "
        f"thread each at least): {widget.settings.members.value()}; "
        f"napari {napari.__version__}, Qt binding {__import__('qtpy').API_NAME}",
        f"- image `{args.image}`: {im['title']}, shape {tuple(gt.shape)}, "
        f"{len(im['names'])} classes {im['names']}, "
        + (f"slice axis {axis}, scribbles on slices {slices}, slice in view {mid}; "
           if gt.ndim == 3 else "2-D, scribbles on the image; ")
        + f"the plugin's slice axis {seen[0]}, previewed slice {seen[1]}; "
        + f"preset `{args.preset}`, first look {'on' if args.first_look else 'off'}, preview every "
        f"{args.preview_s} s, probe every {args.probe_ms} ms, painting every 200 ms: "
        f"{'no' if args.no_paint else 'yes'}",
        f"- waited {t_warm:.1f} s for the plugin's warm-up imports before the idle baseline "
        "(a person paints meanwhile)",
        f"- time from pressing Train to the first overlay: **{first:.1f} s**"
        + (" (first look)" if args.first_look else ""),
        f"- time to the first overlay of the pretrained network (fine-tuning stage): "
        f"{first_main:.1f} s",
        f"- training ran {t_end - t0:.1f} s"
        + (f" (stopped at {args.limit_s:.0f} s; Stop took {t_stop:.2f} s)" if t_stop else "")
        + (f"; final foreground Dice per class {[round(d, 3) for d in dice]}" if dice else ""),
        f"- main (GUI) thread CPU time during training: {main_cpu:.1f} s "
        f"({100 * main_cpu / max(t_end - t0, 1e-9):.0f}% of one core)",
        "",
        "| phase | samples | p50 (ms) | p95 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (n, p50, p95, mx) in rows:
        lines.append(f"| {name} | {n} | {p50:.1f} | {p95:.1f} | {mx:.1f} |")
    lines.append("")
    lines.append("Lags over 100 ms (seconds after Train; what overlapped them): "
                 + ("; ".join(spikes) if spikes else "none") + ".")
    lines.append("")
    lines.append("Lag = how late a 10 ms QTimer fired (0 = on time). `Train press` = "
                 "main-thread time of the Train button's click (the plugin checks and copies "
                 "the image and strokes, saves the inputs, starts the job). "
                 "`paint() call` = duration "
                 "of `Labels.paint` on the main thread (a user's brush dab); `overlay update` = "
                 "main-thread time to apply one live preview (the first one creates the layer); "
                 "`lag around layer creation` = lags of the probes from the first overlay "
                 "until 1 s after it; `progress event` = main-thread time to apply one "
                 "progress event (bar, status, loss curve; napari's progress bar processes "
                 "pending Qt events inside it); `round end` = applying the job's result "
                 "(final prediction, uncertainty, autosave); `garbage collection, gen 2` = "
                 "Python's full collections during training (they stop every thread).")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
