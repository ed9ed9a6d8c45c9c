"""Stop keeps the last good model; closing the widget or the viewer mid-run shuts the
worker down cleanly; nothing painted is lost."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from plugin_helpers import assert_round_over, tiny_config, wait_idle

pytestmark = pytest.mark.gui


def _has_points(widget, stage: str, n: int = 1) -> bool:
    return len(widget.loss_plot.points(stage)[0]) >= n


def test_stop_during_finetuning_keeps_last_model(msd_viewer, msd_case, qtbot, messages):
    viewer, widget = msd_viewer
    ctrl = widget.controller
    painted = np.array(widget.pickers.scribble_layer().data, copy=True)
    widget.settings.set_config(tiny_config(finetune_steps=100_000, global_steps=2, local_steps=0))
    widget.train_btn.click()
    qtbot.waitUntil(lambda: _has_points(widget, "finetune", 8), timeout=90_000)
    widget.stop_btn.click()
    assert "Stopping" in widget.status.text()
    waited = wait_idle(qtbot, widget, timeout_s=30)
    assert waited < 30
    assert ctrl.session.model is not None and ctrl.session.model.finetuned and ctrl.session.model.stopped
    assert_round_over(widget, "Training stopped early, kept the last model.")
    pred = ctrl.view.layer()
    assert pred is not None and pred.data.shape == painted.shape and pred.data.any()
    assert ctrl.session.autosave.state.rounds[-1]["stopped"] is True
    assert (ctrl.session.folder / "model.pt").is_file()
    assert np.array_equal(widget.pickers.scribble_layer().data, painted)
    assert widget.train_btn.isEnabled() and widget.retrain_btn.isEnabled()
    assert not widget.stop_btn.isEnabled()
    assert not [m for m in messages if m[0] in ("error", "warning")], messages


def test_first_look_then_stop_during_pretraining(msd_viewer, qtbot, messages):
    """The first look shows the pixel forest's overlay of the viewed slice at once; a Stop
    in pretraining keeps the pretrained network for Retrain and takes the overlay back
    (it was not a network's prediction)."""
    viewer, widget = msd_viewer
    ctrl = widget.controller
    viewer.dims.set_point(0, 14.0)
    widget.settings.set_config(tiny_config(global_steps=100_000, local_steps=0))
    widget.settings.first_look.setChecked(True)
    titles, shown = set(), []
    ctrl.session.progressed.connect(lambda key, title, _ev: titles.add((key, title)))
    ctrl.session.status.connect(shown.append)
    widget.train_btn.click()
    qtbot.waitUntil(lambda: "first_overlay" in ctrl.session.timings, timeout=90_000)
    assert ctrl.view.layer().data[14].any(), "the first look shows the viewed slice"
    assert not ctrl.view.layer().data[13].any(), "that slice only"
    qtbot.waitUntil(lambda: _has_points(widget, "global", 2), timeout=60_000)
    assert ("first_look", "First look") in titles, titles
    widget.stop_btn.click()
    wait_idle(qtbot, widget, timeout_s=30)
    assert ctrl.session.model is None and ctrl.session.pretrained is not None
    assert ctrl.view.layer() is None, "the overlay goes with the round"
    assert any("Stopped during pretraining" in text for _lvl, text in messages), messages
    assert widget.retrain_btn.isEnabled()
    assert not [m for m in messages if m[0] in ("error", "warning")], messages


def _stop_in_global_pretraining(qtbot, widget, points: int) -> None:
    """Train with an endless global stage; press Stop once it has logged ``points`` losses."""
    widget.settings.set_config(tiny_config(global_steps=100_000, local_steps=0))
    widget.train_btn.click()
    qtbot.waitUntil(lambda: _has_points(widget, "global", points), timeout=90_000)
    widget.stop_btn.click()
    wait_idle(qtbot, widget, timeout_s=30)


def test_stop_before_any_finetuning_then_retrain(msd_viewer, qtbot, messages):
    viewer, widget = msd_viewer
    ctrl = widget.controller
    _stop_in_global_pretraining(qtbot, widget, points=2)
    assert ctrl.session.model is None and ctrl.session.pretrained is not None
    assert ctrl.view.layer() is None, "no prediction from an untrained head"
    assert any("Stopped during pretraining" in text for _lvl, text in messages), messages
    assert widget.retrain_btn.isEnabled() and not widget.predict_btn.isEnabled()
    widget.settings.steps["finetune"].setValue(10)
    widget.retrain_btn.click()
    wait_idle(qtbot, widget)
    assert ctrl.session.model is not None and ctrl.session.model.finetuned and ctrl.view.layer() is not None


def test_retrain_after_a_stop_in_pretraining_continues_the_new_network(msd_viewer, qtbot,
                                                                        messages):
    """Issue 12 item 8: the message says Retrain fine-tunes the newly pretrained network,
    so Retrain must warm-start from it, not from an older fine-tuned model."""
    viewer, widget = msd_viewer
    ctrl = widget.controller
    widget.settings.first_look.setChecked(False)
    widget.settings.set_config(tiny_config(finetune_steps=5, global_steps=1, local_steps=0))
    widget.train_btn.click()
    wait_idle(qtbot, widget)
    old = ctrl.session.model
    assert old is not None and old.finetuned
    _stop_in_global_pretraining(qtbot, widget, points=4)
    assert ctrl.session.model is old and ctrl.session.pretrained is not None
    said = [text for _lvl, text in messages if "Stopped during pretraining" in text]
    assert said and "Retrain to fine-tune this network" in said[-1]
    assert "previous model and its prediction stay" in said[-1]
    n_global = sum(1 for stage, *_ in ctrl.session.pretrained.history if stage == "global")
    assert n_global >= 4
    widget.settings.steps["finetune"].setValue(5)
    widget.retrain_btn.click()
    wait_idle(qtbot, widget)
    new = ctrl.session.model
    assert new is not old and new.finetuned and ctrl.session.pretrained is None
    assert sum(1 for stage, *_ in new.history if stage == "global") == n_global


@pytest.mark.parametrize("what", ["widget", "viewer"])
def test_closing_mid_run_stops_the_worker(msd_viewer, qtbot, messages, what):
    viewer, widget = msd_viewer
    ctrl = widget.controller
    scribbles = widget.pickers.scribble_layer()
    painted = np.array(scribbles.data, copy=True)
    widget.settings.set_config(tiny_config(global_steps=100_000, local_steps=0))
    widget.train_btn.click()
    assert widget.settings.config().members == 2
    qtbot.waitUntil(lambda: _has_points(widget, "global", 1), timeout=90_000)
    worker = ctrl.worker
    if what == "widget":
        viewer.window.remove_dock_widget(widget)
    else:
        viewer.close()
    qtbot.waitUntil(lambda: ctrl.worker is None, timeout=30_000)
    assert not worker.is_running
    # every network of the round has stopped with the worker (tiny_config trains two; a
    # network left training aborted the process when Python exited)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("semicl-member")]
    assert np.array_equal(painted, scribbles.data)
    if what == "widget":
        assert ctrl.view.layer() is None and len(viewer.layers) == 2
    assert not [m for m in messages if m[0] in ("error", "warning")], messages
