"""The dock widget in a real window: docking through npe2 and the Layers > Segment menu,
layer pickers, New scribbles, the class list, presets, devices, shortcuts, buttons."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def test_docked_from_manifest_and_segment_menu(docked):
    from napari._app_model import get_app_model

    viewer, widget = docked()
    assert type(widget).__name__ == "SemiclWidget"
    items = get_app_model().menus.get_menu("napari/layers/segment")
    ids = [getattr(getattr(i, "command", None), "id", None) for i in items]
    assert "napari-semicl.make_widget" in ids
    # nothing can run yet; the buttons say so
    assert widget.train_btn.isEnabled() and not widget.retrain_btn.isEnabled()
    assert not widget.stop_btn.isEnabled() and not widget.predict_btn.isEnabled()
    assert not widget.save_model_btn.isEnabled() and not widget.export_btn.isEnabled()


def test_pickers_follow_the_layer_list(docked):
    viewer, widget = docked()
    p = widget.pickers
    assert p.image.count() == 0 and p.scribbles.count() == 0
    a = viewer.add_image(np.zeros((3, 20, 20), np.float32), name="a")
    assert p.image.currentText() == "a"
    viewer.add_image(np.zeros((3, 20, 20), np.float32), name="b")
    assert [p.image.itemText(i) for i in range(p.image.count())] == ["a", "b"]
    assert p.image.currentText() == "a", "an existing choice is kept"
    a.name = "renamed"
    assert p.image.currentText() == "renamed" and p.image_layer() == a
    viewer.layers.remove(a)
    assert p.image.currentText() == "b"
    lab = viewer.add_labels(np.zeros((3, 20, 20), np.uint8), name="mine")
    assert p.scribbles.currentText() == "mine" and p.scribble_layer() == lab
    pred = viewer.add_labels(np.zeros((3, 20, 20), np.uint8), name="prediction",
                             metadata={"semicl_role": "prediction"})
    assert pred.name not in [p.scribbles.itemText(i) for i in range(p.scribbles.count())]


def test_new_scribbles_matches_the_image(docked):
    viewer, widget = docked()
    img = viewer.add_image(np.random.default_rng(0).random((5, 30, 40)), name="vol",
                           scale=(2.0, 0.5, 0.25), translate=(1.0, 0.0, 3.0))
    widget.new_scribbles_btn.click()
    lab = widget.pickers.scribble_layer()
    assert lab is not None and lab.data.shape == img.data.shape and lab.data.dtype == np.uint8
    assert np.allclose(lab.scale, img.scale) and np.allclose(lab.translate, img.translate)
    assert lab.n_edit_dimensions == 2 and lab.mode == "paint"
    assert viewer.layers.selection.active == lab
    assert not lab.data.any()


def test_class_list_colours_and_picking(docked):
    from napari_semicl import _colors

    viewer, widget = docked()
    viewer.add_image(np.zeros((3, 20, 20), np.float32), name="img")
    widget.on_new_scribbles()
    lab = widget.pickers.scribble_layer()
    widget.classes.add_class()
    assert widget.classes.names() == ["background", "structure 1", "structure 2"]
    for value in (1, 2, 3):
        assert np.allclose(lab.colormap.map(value), _colors.scribble_rgba(value))
        pred_rgba = _colors.prediction_rgba(value - 1)
        assert value == 1 or np.allclose(pred_rgba, _colors.scribble_rgba(value))
    assert _colors.prediction_rgba(0)[3] == 0, "predicted background is transparent"
    widget.classes.list.setCurrentRow(2)
    assert lab.selected_label == 3
    widget.classes.list.item(1).setText("tumour")
    assert widget.classes.names()[1] == "tumour"
    widget.classes.remove_last()
    widget.classes.remove_last()
    assert len(widget.classes.names()) == 2, "never fewer than background + one structure"


def test_reopened_widget_keeps_the_classes_of_the_scribble_layer(docked):
    """Closing the widget and opening it again (issue 12 item 9) brings back the classes
    of the scribble layer; each scribble layer keeps its own classes."""
    viewer, widget = docked()
    viewer.add_image(np.zeros((3, 20, 20), np.float32), name="img")
    widget.on_new_scribbles()
    first = widget.pickers.scribble_layer()
    widget.classes.add_class()
    widget.classes.list.item(1).setText("tumour")
    names = ["background", "tumour", "structure 2"]
    assert widget.classes.names() == names
    viewer.window.remove_dock_widget(widget)
    _dock, again = viewer.window.add_plugin_dock_widget("napari-semicl",
                                                        "Scribble segmentation")
    assert again is not widget and again.pickers.scribble_layer() == first
    assert again.classes.names() == names
    again.on_new_scribbles()  # a new layer starts with the classes shown
    second = again.pickers.scribble_layer()
    assert second != first and again.classes.names() == names
    again.classes.remove_last()
    again.pickers.pick_scribbles(first.name)
    assert again.classes.names() == names
    again.pickers.pick_scribbles(second.name)
    assert again.classes.names() == ["background", "tumour"]


def test_presets_advanced_settings_and_devices(docked):
    from semicl.config import preset
    from semicl.device import available_devices
    from semicl.stage import Stage

    _viewer, widget = docked()
    s = widget.settings
    cfg = s.config()
    quick = preset("quick")
    assert cfg.to_dict() == {**quick.to_dict(), "device": "auto"}
    s.preset.setCurrentText("paper")
    assert s.config().model.base_width == preset("paper").model.base_width
    s.preset.setCurrentText("quick")
    s.steps[Stage.GLOBAL].setValue(7)
    s.enabled[Stage.LOCAL].setChecked(False)
    s.local_mode.setCurrentText("block")
    s.block.setValue(8)
    s.width.setValue(12)
    s.epochs["finetune"].setValue(2.5)
    assert not s.flip.isChecked()
    s.flip.setChecked(True)
    assert s.members.value() == quick.members == 2
    s.members.setValue(1)
    assert s.smooth.isChecked() and quick.slice_smoothing == 1.0
    s.smooth.setChecked(False)
    cfg = s.config()
    assert cfg.flip and cfg.members == 1 and cfg.slice_smoothing == 0.0
    s.smooth.setChecked(True)
    assert s.config().slice_smoothing == 1.0
    assert cfg.global_stage.steps == 7 and not cfg.local_stage.enabled
    assert cfg.local_stage.mode == "block" and cfg.local_stage.block_size == 8
    assert cfg.model.base_width == 12 and cfg.finetune.epochs == 2.5
    devices = [s.device.itemText(i) for i in range(s.device.count())]
    assert devices == ["auto", *available_devices()]


def test_settings_rows_and_lists_follow_stage_and_the_config(qtbot):
    from qtpy.QtWidgets import QLabel

    from napari_semicl._settings import SettingsPanel
    from semicl.config import LOCAL_MODES, PRESETS, preset
    from semicl.stage import TRAINING_STAGES

    panel = SettingsPanel()
    qtbot.addWidget(panel)
    for rows in (panel.enabled, panel.steps, panel.epochs):
        assert list(rows) == list(TRAINING_STAGES)
    labels = [w.text() for w in panel.findChildren(QLabel)]
    assert [t for t in labels if t in ("Global", "Local", "Fine-tune")] == [
        "Global", "Local", "Fine-tune"]
    items = lambda combo: [combo.itemText(i) for i in range(combo.count())]  # noqa: E731
    assert items(panel.preset) == list(PRESETS) and items(panel.local_mode) == list(LOCAL_MODES)
    panel.preset.setCurrentText("paper")
    for stage, st in preset("paper").stages().items():
        assert panel.epochs[stage].value() == st.epochs, stage.value
    panel.steps["finetune"].setValue(123)  # the value string still finds its row
    assert panel.config().finetune.steps == 123


def test_loss_plot_colours_every_stage_with_losses(qtbot):
    from napari_semicl._loss_plot import _STAGE_COLORS, LossPlot
    from semicl.stage import Stage

    # prediction and the first look (a pixel forest's overlay) have no loss
    assert set(_STAGE_COLORS) == set(Stage) - {Stage.PREDICT, Stage.FIRST_LOOK}
    assert len(set(_STAGE_COLORS.values())) == len(_STAGE_COLORS)
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.add(Stage.LOCAL.value, Stage.LOCAL.title, 1, 0.5)  # as the controller sends it
    assert plot.points(Stage.LOCAL) == plot.points("local") == ([1], [0.5])


def test_shortcuts_are_bound_and_do_not_collide(docked, monkeypatch):
    from napari.utils.shortcuts import default_shortcuts

    from napari_semicl import _shortcuts

    viewer, widget = docked()
    napari_keys = {str(kb).lower() for kbs in default_shortcuts.values() for kb in kbs}
    ours = {k for k, _a, _d in _shortcuts.SHORTCUTS}
    for key in ours:
        assert key.replace("-", "+").lower() not in napari_keys, key
    calls = []
    monkeypatch.setattr(widget, "on_train", lambda: calls.append("train"))
    bound = {str(k): f for k, f in viewer.keymap.items()}
    assert {"Shift+T", "Shift+R", "Shift+S", "Shift+H", "Shift+N"} <= set(bound)
    # the bound handlers call the widget's current methods
    for key, func in bound.items():
        if key == "Shift+T":
            func(viewer)
    assert calls == ["train"]
    viewer.window.remove_dock_widget(widget)
    assert "Shift+T" not in {str(k) for k in viewer.keymap}, "unbound when the widget closes"


def test_file_save_layers_uses_the_writer(docked, tmp_path):
    import tifffile

    viewer, _widget = docked()
    data = np.zeros((3, 10, 12), np.uint8)
    data[1, 2:5, 3:7] = 2
    lab = viewer.add_labels(data, name="prediction", scale=(3.0, 1.0, 1.0),
                            metadata={"semicl_class_names": ["background", "a", "b"]})
    out = tmp_path / "saved.tif"
    written = viewer.layers.save(str(out), selected=False, plugin="napari-semicl")
    assert written == [str(out)] and lab == viewer.layers[0]
    with tifffile.TiffFile(out) as tif:
        assert np.array_equal(tif.asarray(), data)
        assert float(tif.imagej_metadata["spacing"]) == 3.0


def test_painting_is_autosaved_to_a_new_session_folder(docked, qtbot, tmp_path):
    import os

    import tifffile

    viewer, widget = docked()
    viewer.add_image(np.random.default_rng(0).random((3, 20, 20)), name="vol")
    root = tmp_path / "sessions"
    (root / "vol").mkdir(parents=True)  # an earlier session of an image with this name
    (root / "vol" / "session.json").write_text("{}")
    assert os.environ["SEMICL_SESSION_DIR"] == str(root)
    widget.on_new_scribbles()
    lab = widget.pickers.scribble_layer()
    lab.paint((1, 10, 10), 2)  # a brush dab, as the user's mouse does
    saved = root / "vol-2" / "scribbles.tif"
    qtbot.waitUntil(saved.is_file, timeout=10_000)
    assert np.array_equal(tifffile.imread(saved), lab.data)
    assert (root / "vol" / "session.json").read_text() == "{}", "never overwritten"
    assert "vol-2" in widget.session_label.text()
