"""Screenshots of the real napari window at each step of the user guide.

Drives the plugin like a user (programmatic strokes from the MSD ground truth, the quick
preset with 200 fine-tuning steps, 60 for Retrain) and grabs the whole window with
``viewer.screenshot(canvas_only=False)`` into ``docs/screenshots/``.

    SEMICL_DATA_DIR=../shared/data xvfb-run -a -s "-screen 0 1600x1000x24" \\
        python scripts/screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"


def main() -> int:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("No display: run under xvfb-run.", file=sys.stderr)
        return 2
    os.environ.setdefault("SEMICL_DATA_DIR", str(REPO.parent / "shared" / "data"))
    os.environ["SEMICL_SESSION_DIR"] = tempfile.mkdtemp(prefix="semicl-shots-")
    # napari settings in a throw-away file: no toasts over the canvas, user settings untouched
    os.environ["NAPARI_CONFIG"] = str(Path(os.environ["SEMICL_SESSION_DIR"]) / "napari.yaml")
    from napari.settings import get_settings

    get_settings().application.gui_notification_level = "error"
    from qtpy.QtWidgets import QApplication, QScrollArea
    from semicl.io.download import find_or_fetch_msd
    from semicl.io.msd import load_msd
    from semicl.scribbles import strokes_from_mask

    from napari_semicl.__main__ import open_viewer

    OUT.mkdir(parents=True, exist_ok=True)
    viewer, widget = open_viewer("hippocampus")
    viewer.window.resize(1560, 960)
    app = QApplication.instance()
    area = widget.findChild(QScrollArea)  # the widget's sections scroll as a whole
    dock = area.verticalScrollBar()

    def scroll_to(section) -> None:
        """Scroll the widget so that ``section`` (a group box) is at the top."""
        pump(0.2)  # let the layout settle (an expanded section changes the heights)
        dock.setValue(section.mapTo(area.widget(), section.rect().topLeft()).y())

    def pump(seconds: float, until=None) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end and not (until and until()):
            app.processEvents()
            time.sleep(0.01)

    def shot(name: str) -> None:
        pump(0.5)
        viewer.screenshot(str(OUT / f"{name}.png"), canvas_only=False, flash=False)
        print("wrote", OUT / f"{name}.png")

    image = viewer.layers[0]
    gt = np.asarray(load_msd(find_or_fetch_msd(None)).cases[0].load()[1].data)
    z = int(np.argmax(gt.reshape(gt.shape[0], -1).sum(1)))
    viewer.dims.set_point(0, float(z) * image.scale[0])
    viewer.reset_view()
    shot("01-opened")

    widget.new_scribbles_btn.click()
    scribbles = widget.pickers.scribble_layer()
    data = np.zeros(gt.shape, np.uint8)
    for dz in (-5, 0, 5):
        data[z + dz] = strokes_from_mask(gt[z + dz])
    scribbles.data = data
    shot("02-scribbles")

    s = widget.settings  # the quick preset, with a longer fine-tuning (200 steps)
    s.epochs["finetune"].setValue(0)
    s.steps["finetune"].setValue(200)
    s.preview_s.setValue(1.5)
    s.advanced.expand(animate=False)
    widget.train_btn.click()
    pump(600, until=lambda: len(widget.loss_plot.points("finetune")[0]) > 60)
    scroll_to(widget.settings.parentWidget())  # "3. Train": settings, status, loss curves
    shot("03-training")
    s.advanced.collapse(animate=False)
    dock.setValue(0)
    pump(900, until=lambda: not widget.controller.busy)
    scribbles.visible = False
    shot("04-prediction")

    widget.uncertainty.setChecked(True)
    widget.next_btn.click()
    scroll_to(widget.next_btn.parentWidget())  # "4. Prediction": the two controls used here
    shot("05-uncertainty-next-slice")
    widget.uncertainty.setChecked(False)
    dock.setValue(0)

    pred = widget.controller.view.layer()
    # correct the unpainted slice where the most structure is wrong (the slice "Next slice"
    # picked may hold no structure at all, and a correction there shows nothing)
    painted = {z - 5, z, z + 5}
    wrong = [int(((np.asarray(pred.data[i]) != gt[i]) & (gt[i] > 0)).sum())
             if i not in painted else -1 for i in range(gt.shape[0])]
    zz = int(np.argmax(wrong))
    viewer.dims.set_point(0, float(zz) * image.scale[0])
    fix = np.asarray(pred.data[zz]) != gt[zz]
    pred.data[zz][fix] = gt[zz][fix]
    pred.refresh()
    viewer.layers.selection.active = pred
    pred.mode = "paint"
    shot("06-correction")
    s.steps["finetune"].setValue(60)
    widget.retrain_btn.click()
    pump(900, until=lambda: not widget.controller.busy)
    scribbles.visible = True
    shot("07-retrained")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
