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


def _advice(messages, since: int) -> str:
    """The newest notification after ``since``: a refusal, shown as advice (a warning that
    is the message itself, not an "unexpected error" wrapped around it)."""
    new = messages[since:]
    assert new, "expected a notification"
    level, text = new[-1]
    assert level == "warning", new
    assert not [m for m in new if m[0] == "error"], new
    assert "Unexpected error" not in text and "report it" not in text, text
    return text


def _message_of(fn, *args) -> str:
    """The message a plugin check raises (to compare the notification with it in full)."""
    from napari_semicl import _layers

    with pytest.raises(_layers.InputError) as info:
        fn(*args)
    return str(info.value)


def _train_refused(widget, messages) -> str:
    n = len(messages)
    widget.train_btn.click()
    assert not widget.controller.busy, "a refused job must not start"
    assert widget.train_btn.isEnabled()
    return _advice(messages, n)


def test_bad_inputs_are_explained(docked, qtbot, messages, caplog):
    from napari_semicl import _layers

    caplog.set_level("INFO")
    viewer, widget = docked()
    widget.settings.set_config(tiny_config(finetune_steps=5))
    widget.settings.first_look.setChecked(False)

    msg = _train_refused(widget, messages)
    assert msg == "Cannot train: " + _message_of(_layers.image_array, None)
    assert msg.startswith("Cannot train: No image") and msg.endswith("pick it under 'Image'.")
    n = len(messages)
    widget.on_new_scribbles()
    assert _advice(messages, n).startswith("New scribbles: No image")

    rng = np.random.default_rng(0)
    img = viewer.add_image(rng.random((4, 48, 40)).astype(np.float32), name="vol")
    msg = _train_refused(widget, messages)
    assert msg == "Cannot train: " + _message_of(_layers.scribble_array, None, (4, 48, 40))
    assert "New scribbles" in msg and msg.endswith("on a few slices.")

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
    assert msg == "Cannot train: " + _message_of(_layers.scribble_array, wrong, (4, 48, 40))
    assert "shape" in msg and msg.endswith("belongs to this image).")
    widget.pickers.scribbles.setCurrentText(scribbles.name)

    rgb = viewer.add_image(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), name="photo",
                           rgb=True)
    widget.pickers.image.setCurrentText(rgb.name)
    msg = _train_refused(widget, messages)
    assert "RGB" in msg and msg.endswith("pick one channel under 'Image'.")

    viewer.add_image(rng.random((2, 3, 16, 16)).astype(np.float32), name="4d")
    widget.pickers.image.setCurrentText("4d")
    msg = _train_refused(widget, messages)
    assert "4 axes" in msg and msg.endswith("and pick one.")

    # a constant image passes the quick checks and fails in the engine's normalisation:
    # the worker's error becomes the engine's message, and the widget is usable again.
    flat = viewer.add_image(np.ones((4, 48, 40), np.float32), name="flat")
    widget.pickers.image.setCurrentText(flat.name)
    widget.pickers.scribbles.setCurrentText(scribbles.name)
    n = len(messages)
    widget.train_btn.click()
    wait_idle(qtbot, widget, timeout_s=60)
    assert "constant" in _advice(messages, n).lower()
    assert widget.train_btn.isEnabled() and not widget.stop_btn.isEnabled()

    # no model yet: Retrain, Predict, next slice, export, save model explain themselves
    widget.pickers.image.setCurrentText(img.name)
    n = len(messages)
    widget.controller.train(widget.request(with_config=True), warm=True)
    assert _advice(messages, n) == "Cannot train: No model to retrain yet: press Train first."
    widget.controller.predict(widget.request())
    assert _advice(messages, n) == "Cannot predict: No model: press Train, or load a model first."
    widget.on_next_slice()
    assert _advice(messages, n) == "Next slice: No prediction yet: train (or predict) first."
    assert widget.controller.export("/tmp/never.tif", widget.request()) is False
    assert _advice(messages, n) == "Export failed: Nothing to export: train or predict first."
    assert widget.controller.save_model("/tmp/never.pt") is False
    assert _advice(messages, n) == "Saving the model failed: No model to save: train first."
    assert not widget.controller.busy
    logged = [r for r in caplog.records if r.name.startswith("napari_semicl")]
    assert not [r for r in logged if r.levelname == "ERROR" or r.exc_info], logged


def test_structures_without_background_are_refused(docked, messages):
    """Two structures painted, no background: Train refuses with advice, nothing is lost."""
    viewer, widget = docked()
    widget.settings.set_config(tiny_config(finetune_steps=5))
    viewer.add_image(np.random.default_rng(0).random((4, 48, 40)).astype(np.float32), name="v")
    widget.classes.set_names(["background", "anterior", "posterior"])
    widget.on_new_scribbles()
    scribbles = widget.pickers.scribble_layer()
    scribbles.data[1, 5:10, 5:30] = 2
    scribbles.data[1, 30:35, 5:30] = 3
    painted = np.array(scribbles.data, copy=True)
    msg = _train_refused(widget, messages)
    assert msg.startswith("Cannot train: No background is labelled, only structures "
                          "(anterior, posterior). Paint a few strokes of background (label 1)")
    assert msg.endswith("would mark every pixel as a structure."), msg
    assert np.array_equal(scribbles.data, painted)
    assert widget.controller.view.layer() is None


def test_open_session_with_missing_image_is_advice(docked, messages, tmp_path, monkeypatch):
    """The session reader's refusal reaches the user as advice, and nothing is opened."""
    from napari_semicl._session import Session, SessionState

    folder = tmp_path / "session"
    st = SessionState(image_name="vol", image_shape=[3, 8, 9], class_names=["background", "x"],
                      image_path=str(tmp_path / "gone.nii.gz"))
    Session(folder).save_state(st)
    viewer, widget = docked()
    monkeypatch.setattr(widget, "ask_path", lambda kind: str(folder))
    widget.open_session_btn.click()
    msg = _advice(messages, 0)
    assert msg.startswith("Open session: The session's image is missing"), msg
    assert msg.endswith("pick the scribbles layer in the widget.")
    assert len(viewer.layers) == 0


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
