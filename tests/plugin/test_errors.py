"""Every bad input becomes a notification that says what to do; nothing crashes, nothing
painted is lost, and the widget is ready for the next try."""

from __future__ import annotations

import numpy as np
import pytest
from plugin_helpers import tiny_config, wait_idle

pytestmark = pytest.mark.gui


def _last_error(messages) -> str:
    errors = [text for level, text in messages if level == "error"]
    assert errors, f"expected an error notification, got {messages}"
    return errors[-1]


def _train_refused(widget, messages) -> str:
    n = len(messages)
    widget.train_btn.click()
    assert not widget.controller.busy, "a refused job must not start"
    assert widget.train_btn.isEnabled()
    assert len(messages) > n
    return _last_error(messages)


def test_bad_inputs_are_explained(docked, qtbot, messages):
    viewer, widget = docked()
    widget.settings.set_config(tiny_config(finetune_steps=5))
    widget.settings.first_look.setValue(0)

    assert "No image" in _train_refused(widget, messages)

    rng = np.random.default_rng(0)
    img = viewer.add_image(rng.random((4, 48, 40)).astype(np.float32), name="vol")
    assert "No scribbles" in _train_refused(widget, messages)
    assert "New scribbles" in _last_error(messages)

    widget.on_new_scribbles()
    scribbles = widget.pickers.scribble_layer()
    assert "No labelled pixels" in _train_refused(widget, messages)

    scribbles.data[1, 5:10, 5:10] = 2
    assert "Only one class" in _train_refused(widget, messages)

    scribbles.data[1, 20:25, 5:10] = 4  # label 4 but only two classes defined
    msg = _train_refused(widget, messages)
    assert "label 4" in msg and "add a class" in msg
    scribbles.data[1, 20:25, 5:10] = 1

    wrong = viewer.add_labels(np.zeros((4, 30, 30), np.uint8), name="wrong shape")
    widget.pickers.scribbles.setCurrentText(wrong.name)
    msg = _train_refused(widget, messages)
    assert "shape" in msg and "New scribbles" in msg
    widget.pickers.scribbles.setCurrentText(scribbles.name)

    rgb = viewer.add_image(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), name="photo",
                           rgb=True)
    widget.pickers.image.setCurrentText(rgb.name)
    assert "RGB" in _train_refused(widget, messages)

    viewer.add_image(rng.random((2, 3, 16, 16)).astype(np.float32), name="4d")
    widget.pickers.image.setCurrentText("4d")
    assert "4 axes" in _train_refused(widget, messages)

    # a constant image passes the quick checks and fails in the engine's normalisation:
    # the worker's error becomes the engine's message, and the widget is usable again.
    flat = viewer.add_image(np.ones((4, 48, 40), np.float32), name="flat")
    widget.pickers.image.setCurrentText(flat.name)
    widget.pickers.scribbles.setCurrentText(scribbles.name)
    n = len(messages)
    widget.train_btn.click()
    wait_idle(qtbot, widget, timeout_s=60)
    assert len(messages) > n and "constant" in _last_error(messages).lower()
    assert widget.train_btn.isEnabled() and not widget.stop_btn.isEnabled()

    # no model yet: Retrain, Predict, next slice, export, save model explain themselves
    widget.pickers.image.setCurrentText(img.name)
    widget.controller.train(widget.request(with_config=True), warm=True)
    assert "press Train first" in _last_error(messages)
    widget.controller.predict(widget.request())
    assert "No model" in _last_error(messages)
    widget.on_next_slice()
    assert "No prediction yet" in _last_error(messages)
    assert widget.controller.export("/tmp/never.tif", widget.request()) is False
    assert "Nothing to export" in _last_error(messages)
    assert widget.controller.save_model("/tmp/never.pt") is False
    assert not widget.controller.busy


def test_out_of_memory_becomes_advice(docked, qtbot, messages, monkeypatch):
    import torch

    from napari_semicl import _messages, _workers

    viewer, widget = docked()
    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((48, 40)).astype(np.float32), name="img")
    widget.on_new_scribbles()
    scribbles = widget.pickers.scribble_layer()
    scribbles.data[5:10, 5:30] = 1
    scribbles.data[30:35, 5:30] = 2
    painted = np.array(scribbles.data, copy=True)

    def out_of_memory(*args, **kwargs):
        yield from ()
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(_workers, "train_job", out_of_memory)
    widget.train_btn.click()
    wait_idle(qtbot, widget, timeout_s=30)
    assert _messages.OOM_HINT in _last_error(messages)
    assert np.array_equal(scribbles.data, painted)
    assert widget.train_btn.isEnabled() and not widget.stop_btn.isEnabled()
