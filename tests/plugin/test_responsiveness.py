"""What keeps the window responsive while a round runs (issue 12 item 10): the plugin's
layers are added without selecting them and without building their drawing overlays, and
progress events update the bar, the status line and the loss readout a few times a
second, not on every step. The times themselves: benchmarks/ui_lag.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _drawing_overlays(layer) -> list:
    from napari_semicl._quiet_add import DRAWING_OVERLAYS

    return [layer._overlays[k] for k in DRAWING_OVERLAYS]


def test_layers_appear_unselected_and_paint_after_their_first_drawing_mode(docked):
    from napari_semicl import _layers

    viewer, widget = docked()
    image = viewer.add_image(np.zeros((4, 30, 30), np.float32), name="img")
    widget.on_new_scribbles()
    scribbles = widget.pickers.scribble_layer()
    assert viewer.layers.selection.active == scribbles and scribbles.mode == "paint"
    selections = []  # real changes (Qt6's layer list also reports empty ones on inserts)
    viewer.layers.selection.events.changed.connect(
        lambda e: selections.extend([(set(e.added), set(e.removed))] if e.added or e.removed
                                    else []))

    data = np.zeros((4, 30, 30), np.uint8)
    data[2, 5:9, 5:9] = 1
    pred = _layers.ensure_labels(viewer, image, _layers.PREDICTION, data.shape, data=data)
    assert selections == [], "napari did not select the new layer (nothing to put back)"
    assert viewer.layers.selection.active == scribbles and scribbles.mode == "paint"
    assert pred.n_edit_dimensions == 2 and np.asarray(pred.data)[2, 5:9, 5:9].all()
    assert not pred.colormap.map(np.array([0]))[0, 3], "background is transparent"
    assert [o.visible for o in _drawing_overlays(pred)] == [False, False]
    # another layer of another shape replaces it, also quietly
    again = _layers.ensure_labels(viewer, image, _layers.PREDICTION, (4, 30, 30))
    assert again is pred, "same shape: the layer is kept"
    unc = np.ones((4, 30, 30), np.float32)
    _layers.set_uncertainty(viewer, image, unc, True)
    assert selections == [] and viewer.layers.selection.active == scribbles

    # the person picks the prediction layer and its brush: the overlays come back
    viewer.layers.selection.active = pred
    pred.mode = "paint"
    assert [o.visible for o in _drawing_overlays(pred)] == [True, True]
    pred.selected_label = 2
    pred.brush_size = 3
    pred.paint((1, 15, 15), 2)
    assert np.asarray(pred.data)[1, 15, 15] == 2
    pred.mode = "pan_zoom"
    pred.mode = "polygon"
    assert [o.visible for o in _drawing_overlays(pred)] == [True, True]


def test_progress_updates_a_few_times_a_second(docked):
    from semicl.events import ProgressEvent, Stage

    from napari_semicl._controller import PROGRESS_EVERY_S

    viewer, widget = docked()
    ctrl = widget.controller
    said: list[str] = []
    widget.session.status.connect(said.append)
    widget.loss_plot._timer.stop()  # its redraws are called below
    widget.session.job, ctrl.worker = "train", object()  # a job in flight (no thread needed)
    t0 = time.perf_counter()
    try:
        for step in range(1, 101):  # a step every 10 ms
            time.sleep(0.01)
            ctrl._on_yield(ProgressEvent(Stage.FINETUNE, step, 100, 1.0 / step))
            if step == 50:
                # the loss readout waits for the plot's redraw, it is not set per step
                assert widget.loss_plot.readout.text() == "Loss: —"
                widget.loss_plot._redraw()
                assert widget.loss_plot.readout.text() == "Fine-tuning: step 50, loss 0.0200"
    finally:
        ctrl._close_pbar()
        widget.session.job, ctrl.worker = None, None
    elapsed = time.perf_counter() - t0
    assert elapsed > 1.0
    # every PROGRESS_EVERY_S at most (0.1 s before), and the stage's last step
    assert 2 <= len(said) <= elapsed / PROGRESS_EVERY_S + 2, (len(said), elapsed)
    assert said[0] == "Fine-tuning: 1/100, loss 1.0000"
    assert said[-1] == "Fine-tuning: 100/100, loss 0.0100"
    assert len(widget.loss_plot.points("finetune")[0]) == 100, "every loss is kept"
