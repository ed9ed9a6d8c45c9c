"""The option "Keep only painted pieces": a checkbox under the Train buttons whose state the
controller's Request carries to Train / Retrain (the engine's ``keep_islands``) and to
Predict (the worker keeps each structure's pieces that touch a stroke of it)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from plugin_helpers import stroke_scribbles, tiny_config, wait_idle

pytestmark = pytest.mark.gui

SHAPE = (15, 40, 40)


def _two_balls() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A noisy volume with two look-alike bright balls of one structure, one above the
    other with three dark slices between them: (image, ball A, ball B). A 2-D network taught
    on a slice of A marks B too (same place, same look); in 3-D they are separate pieces."""
    z, y, x = np.mgrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]

    def ball(cz: int) -> np.ndarray:  # slices cz-2 .. cz+2
        return ((z - cz) / 2.5) ** 2 + ((y - 20) / 9.0) ** 2 + ((x - 20) / 9.0) ** 2 <= 1.0

    a, b = ball(3), ball(11)
    rng = np.random.default_rng(0)
    image = (0.2 + 0.6 * (a | b) + rng.normal(0.0, 0.05, SHAPE)).astype(np.float32)
    return image, a, b


def test_request_carries_keep_only_painted_pieces(docked):
    _viewer, widget = docked()
    box = widget.options.keep_islands
    assert box.text() == "Keep only painted pieces" and not box.isChecked(), "off by default"
    tip = box.toolTip()
    assert "3-D" in tip and "organs" in tip and "cells" in tip
    assert widget.request().keep_islands is False
    box.setChecked(True)
    assert widget.request().keep_islands is True
    assert widget.request(with_config=True).keep_islands is True
    assert widget.request().repeat_pretraining is False, "the other option is its own"


def test_train_and_predict_keep_only_the_stroked_ball(docked, qtbot, messages):
    from scipy import ndimage as ndi

    from semicl.islands import keep_stroked_islands

    image, a, b = _two_balls()
    viewer, widget = docked()
    viewer.add_image(image, name="balls")
    widget.classes.set_names(["background", "ball"])
    widget.on_new_scribbles()
    layer = widget.pickers.scribble_layer()
    strokes = np.zeros(SHAPE, np.uint8)
    strokes[3] = stroke_scribbles(a[3].astype(np.uint8))  # ball A and around it
    strokes[7] = stroke_scribbles(np.zeros(SHAPE[1:], np.uint8))  # a dark slice: background
    assert (strokes[a] == 2).any() and not strokes[b].any()
    layer.data = strokes
    widget.settings.set_config(tiny_config(finetune_steps=40, global_steps=2, local_steps=2))
    widget.settings.first_look.setChecked(False)
    widget.options.keep_islands.setChecked(True)

    widget.train_btn.click()
    wait_idle(qtbot, widget)
    ctrl = widget.controller
    raw = ctrl.session.model.predict(image, axis=0).mask  # the network's own prediction
    assert raw[b].mean() > 0.5, "the network marks the unpainted look-alike ball too"
    shown = np.asarray(ctrl.view.layer().data)
    pieces, n = ndi.label(shown == 1, ndi.generate_binary_structure(3, 3))
    stroked = set(np.unique(pieces[strokes == 2])) - {0}
    assert n >= 1 and stroked == set(range(1, n + 1)), "every kept piece touches a stroke"
    assert shown[a].mean() > 0.5 and not shown[b].any(), "ball A on all its slices, B gone"
    assert np.array_equal(shown, keep_stroked_islands(raw, strokes))
    doc = json.loads((widget.session.folder / "session.json").read_text())
    assert doc["rounds"][-1]["keep_islands"] is True

    # Predict with the option on: the existing model's prediction, painted pieces only
    widget.predict_btn.click()
    wait_idle(qtbot, widget)
    expected = keep_stroked_islands(raw, strokes)
    assert not expected[b].any()
    assert np.array_equal(ctrl.view.layer().data, expected)
    # an edit of the prediction on ball B is a stroke too (harvested as a correction)
    pred = ctrl.view.layer()
    pred.data[11, 18:22, 18:22] = 1
    pred.refresh()
    widget.predict_btn.click()
    wait_idle(qtbot, widget)
    corrections = np.asarray(next(lay for lay in viewer.layers if lay.name == "corrections").data)
    assert (corrections[b] == 2).sum() == 16
    expected = keep_stroked_islands(raw, np.maximum(strokes, corrections))
    expected[11, 18:22, 18:22] = 1
    assert expected[b].mean() > 0.5
    assert np.array_equal(ctrl.view.layer().data, expected)
    full = raw.copy()
    full[11, 18:22, 18:22] = 1  # the edit stays on top of any prediction
    # ... off: the whole prediction
    widget.options.keep_islands.setChecked(False)
    widget.predict_btn.click()
    wait_idle(qtbot, widget)
    assert np.array_equal(ctrl.view.layer().data, full)
    # on, but no scribble layer: the whole prediction, without a word
    widget.options.keep_islands.setChecked(True)
    viewer.layers.remove(layer)
    assert widget.pickers.scribble_layer() is None
    widget.predict_btn.click()
    wait_idle(qtbot, widget)
    assert np.array_equal(ctrl.view.layer().data, full)
    assert widget.status.text() == "Prediction done."
    assert not [m for m in messages if m[0] in ("error", "warning")], messages
