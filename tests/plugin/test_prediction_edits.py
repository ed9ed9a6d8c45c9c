"""Edits of the prediction layer stay in that layer (issue 12 item 5): a live preview during
training, the round's final prediction and a later Predict all refresh the layer, and none
of them may overwrite a pixel the person painted; an export right after contains the edits.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from plugin_helpers import wait_idle

pytestmark = pytest.mark.gui

VIEWED = 14  #: the slice the person looks at while training (its previews come live)


def _paint_block(layer, z: int, rows: slice, cols: slice, value: int) -> np.ndarray:
    """Paint ``value`` over a block of slice ``z`` as a person's brush does (napari's
    ``data_setitem``: undo history, paint event, redraw); returns the edited voxels, those
    whose value changed (napari, too, skips the others)."""
    where = np.zeros(layer.data.shape, bool)
    where[z, rows, cols] = True
    edited = where & (np.asarray(layer.data) != value)
    assert edited.any()
    layer.data_setitem(np.nonzero(where), value)
    assert np.all(np.asarray(layer.data)[where] == value)
    return edited


def test_edits_survive_previews_final_prediction_predict_and_export(
        msd_viewer, qtbot, tmp_path, monkeypatch, messages):
    viewer, widget = msd_viewer
    ctrl = widget.controller
    widget.settings.steps["finetune"].setValue(300)  # long enough for a few previews
    widget.settings.preview_s.setValue(0.5)
    viewer.dims.set_point(0, float(VIEWED))
    refreshed: list[int] = []  # slice of each live preview
    network: list[np.ndarray] = []  # what the network sent: preview slices, whole masks
    show_slice, show_full = ctrl.view.show_slice, ctrl.view.show_full

    def preview(index, mask):
        show_slice(index, mask)
        refreshed.append(int(index))
        network.append(np.array(mask))

    def full(mask):
        show_full(mask)
        network.append(np.array(mask))

    monkeypatch.setattr(ctrl.view, "show_slice", preview)
    monkeypatch.setattr(ctrl.view, "show_full", full)

    widget.train_btn.click()
    qtbot.waitUntil(lambda: bool(refreshed), timeout=120_000)
    assert ctrl.busy, "the first preview comes while training runs"
    pred = ctrl.view.layer()
    # a far corner of the viewed slice, where the network sees background: the person
    # paints "posterior" (class 2) there
    edit = _paint_block(pred, VIEWED, slice(0, 4), slice(0, 4), 2)
    n = len(refreshed)
    qtbot.waitUntil(lambda: len(refreshed) > n or not ctrl.busy, timeout=120_000)
    assert len(refreshed) > n, "a live preview came before the round ended"
    assert refreshed[-1] == VIEWED, "the preview is of the viewed (edited) slice"
    assert (network[-1][edit[VIEWED]] != 2).any(), "the network disagrees with the edit"
    assert np.all(np.asarray(pred.data)[edit] == 2), "the preview kept the edit"

    wait_idle(qtbot, widget)
    assert widget.status.text() == "Training finished."
    assert (network[-1][edit] != 2).any(), "the final prediction disagrees with the edit"
    pred = ctrl.view.layer()
    assert np.all(np.asarray(pred.data)[edit] == 2), "the final prediction kept the edit"
    widget.classes.list.setCurrentRow(2)  # picking "posterior" (scribble 3) ...
    assert pred.selected_label == 2, "... picks class 2 on the prediction (mask convention)"

    # after the round: erase a predicted structure (paint background) on another slice,
    # then Predict refreshes the whole layer
    z2 = next(z for z in range(pred.data.shape[0])
              if z != VIEWED and np.count_nonzero(np.asarray(pred.data[z])) >= 20)
    ys, xs = np.nonzero(np.asarray(pred.data[z2]))
    rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
    erased = _paint_block(pred, z2, rows, cols, 0)
    assert ctrl.session.model is not None
    widget.predict_btn.click()
    wait_idle(qtbot, widget)
    assert widget.status.text() == "Prediction done."
    assert network[-1][erased].any(), "the network still predicts the erased structure"
    data = np.asarray(ctrl.view.layer().data)
    assert np.all(data[edit] == 2), "Predict kept the edit made during the round"
    assert not data[erased].any(), "Predict kept the erased structure erased"
    kept = ~(edit | erased)
    assert np.array_equal(data[kept], network[-1][kept]), "elsewhere: the network's mask"

    # both edits are corrections (scribble convention: class + 1) for the next Retrain
    corr = ctrl.view.corrections(data.shape)
    assert corr is not None
    assert np.all(corr[edit] == 3) and np.all(corr[erased] == 1)

    # the Export button writes what the layer shows, edits included
    out = tmp_path / "mask.tif"
    monkeypatch.setattr(widget, "ask_path", lambda kind: str(out))
    widget.export_btn.click()
    back = tifffile.imread(out)
    assert np.array_equal(back, data)
    assert np.all(back[edit] == 2) and not back[erased].any()
    assert not [m for m in messages if m[0] in ("error", "warning")], messages
