"""The plugin's session model without a display: no Qt, no window, no Xvfb.

napari's ``ViewerModel`` (napari without its Qt window) stands in for the viewer; the
model's signals are recorded as the widget would receive them. The first test runs a
round in a fresh interpreter with ``QT_API`` and ``DISPLAY`` unset and checks that no Qt
module was imported on the way (this pytest process may have one: pytest-qt and
tests/conftest.py load it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari", reason="the session model is part of the plugin (napari-semicl[plugin])")

NAMES = ["background", "structure 1"]
SHAPE = (4, 16, 16)
SCALE = (2.0, 0.5, 0.25)


@pytest.fixture(autouse=True)
def _session_dir(tmp_path, monkeypatch):
    """Autosaved sessions go to a temporary folder, never to the home directory."""
    monkeypatch.setenv("SEMICL_SESSION_DIR", str(tmp_path / "sessions"))


@pytest.fixture()
def scene():
    """(viewer, image layer, scribble layer): a 3-D volume with a few strokes."""
    from napari.components import ViewerModel

    viewer = ViewerModel()
    image = viewer.add_image(np.random.default_rng(0).random(SHAPE).astype(np.float32),
                             name="vol", scale=SCALE)
    strokes = np.zeros(SHAPE, np.uint8)
    strokes[1, 2:4, 2:8] = 1  # background
    strokes[1, 8:10, 8:12] = 2  # structure 1
    scribbles = viewer.add_labels(strokes, name="scribbles", scale=SCALE)
    return viewer, image, scribbles


@pytest.fixture()
def recorded():
    """A session model and what each of its signals said (as the widget hears them)."""

    def make(viewer):
        from napari_semicl._session_model import SessionModel

        s = SessionModel(viewer)
        heard: dict[str, list] = {k: [] for k in ("busy", "model", "progress", "status",
                                                  "folder", "save")}
        s.busy_changed.connect(heard["busy"].append)
        s.model_changed.connect(lambda: heard["model"].append(True))
        s.progressed.connect(lambda key, title, ev: heard["progress"].append((key, title)))
        s.status.connect(heard["status"].append)
        s.folder_changed.connect(heard["folder"].append)
        s.save_requested.connect(lambda: heard["save"].append(True))
        return s, heard

    return make


def _model(finetuned: bool = True):
    """A small untrained network wrapped as a TrainedModel (nothing here trains)."""
    from semicl.config import preset
    from semicl.models.network import SegmentationNet
    from semicl.training.trained_model import TrainedModel

    cfg = preset("quick")
    cfg.model.base_width = 4
    return TrainedModel(SegmentationNet(cfg.model, len(NAMES)), cfg, list(NAMES),
                        finetuned=finetuned)


def _request(image, scribbles, **kw):
    from napari_semicl._session_model import Request

    return Request(image_layer=image, scribble_layer=scribbles, class_names=list(NAMES), **kw)


def test_the_session_model_needs_no_qt(tmp_path):
    """A job's life in the model, in an interpreter with no Qt binding chosen and no display:
    no Qt module is imported."""
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from napari.components import ViewerModel
        from semicl.events import PreviewEvent, ProgressEvent
        from semicl.stage import Stage
        from napari_semicl._controller import Controller
        from napari_semicl._session_model import Request

        viewer = ViewerModel()
        image = viewer.add_image(np.zeros((3, 8, 8), np.float32), name="vol")
        scribbles = viewer.add_labels(np.zeros((3, 8, 8), np.uint8), name="scribbles")
        s = Controller(viewer).session
        said = []
        s.status.connect(said.append)
        s.begin("train", image, 0)
        s.record(ProgressEvent(Stage.FINETUNE, 1, 2, 0.5))
        s.preview(PreviewEvent(Stage.FINETUNE, 1, 1, np.ones((8, 8), np.uint8)))
        s.schedule_save(Request(image, scribbles, ["background", "x"]), 0)
        s.flush()
        s.end()
        assert said == ["Starting…"] and s.has_prediction and not s.busy, said
        qt = sorted(m for m in sys.modules if m.split(".")[0] in
                    ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "superqt", "pyqtgraph")
                    or m.startswith(("napari._qt", "napari.qt", "napari._vispy", "vispy.app")))
        assert not qt, qt
        print("no Qt")
    """)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_API", "PYTEST_QT_API", "DISPLAY", "WAYLAND_DISPLAY")}
    env["SEMICL_SESSION_DIR"] = str(tmp_path / "sessions")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().endswith("no Qt")


def test_the_answer_shown_is_kept_for_a_retrain_of_that_model_on_that_image(scene, recorded):
    """A Retrain holds on to the probabilities shown last, but only those its model gave on
    its image along its axis; a loaded model or another image gets none (the engine then
    works the answer out itself)."""
    from semicl.interactive import RoundResult

    viewer, image, scribbles = scene
    s, _ = recorded(viewer)
    req = _request(image, scribbles, config=_model().config)
    model, other = _model(), _model()
    assert s.answer(image, model, 0, SHAPE) is None  # nothing shown yet
    probs = np.random.default_rng(0).random((len(NAMES), *SHAPE)).astype(np.float16)
    s.begin("train", image, 0)
    s.finish(RoundResult(model, probs.argmax(0).astype(np.uint8),
                         np.zeros(SHAPE, np.float32), 0, probs=probs), req)
    s.end()
    assert s.answer(image, model, 0, SHAPE) is probs
    # a plugin's viewer is a proxy handing out a new proxy of the layer each time
    from napari.utils._proxies import PublicOnlyProxy

    assert s.answer(PublicOnlyProxy(viewer).layers[image.name], model, 0, SHAPE) is probs
    assert s.answer(image, other, 0, SHAPE) is None and s.answer(image, None, 0, SHAPE) is None
    assert s.answer(image, model, 1, SHAPE) is None
    # the layer's data replaced by another shape: not this answer
    assert s.answer(image, model, 0, (SHAPE[0] + 1, *SHAPE[1:])) is None
    second = viewer.add_image(np.zeros(SHAPE, np.float32), name="another")
    assert s.answer(second, model, 0, SHAPE) is None
    s.set_model(other)  # a loaded model: the answer shown is not its own
    assert s.answer(image, s.model, 0, SHAPE) is None
    # a round without probabilities (a stop before fine-tuning) leaves the last answer
    s.begin("retrain", image, 0)
    s.finish(RoundResult(other, None, None, 0), req)
    s.end()
    assert s.answer(image, model, 0, SHAPE) is probs


def test_a_training_round_updates_the_state_and_tells_listeners(scene, recorded):
    from semicl.events import PreviewEvent, ProgressEvent
    from semicl.interactive import RoundResult
    from semicl.io.readers import read_image
    from semicl.stage import Stage

    viewer, image, scribbles = scene
    s, heard = recorded(viewer)
    assert not s.busy and not s.can_retrain and not s.has_prediction and s.folder is None
    req = _request(image, scribbles, config=_model().config)

    s.begin("train", image, 0, pretrain=True, scribbled_pixels=20)
    s.save_inputs(req, 0, config=req.config)
    assert s.busy and heard["busy"] == [True] and heard["status"] == ["Starting…"]
    folder = s.folder
    assert folder is not None and heard["folder"] == [folder]
    assert (folder / "scribbles.tif").is_file() and (folder / "session.json").is_file()

    s.record(ProgressEvent(Stage.FINETUNE, 1, 10, 0.5))
    s.record(ProgressEvent(Stage.FINETUNE, 2, 10, None))  # no loss: not in the history
    assert heard["progress"] == [("finetune", "Fine-tuning")] * 2
    assert s.autosave.history == [["finetune", 1, 0.5]]

    preview = np.zeros(SHAPE[1:], np.uint8)
    preview[8:10, 8:12] = 1
    s.preview(PreviewEvent(Stage.FINETUNE, 2, 1, preview))
    assert s.has_prediction and "first_overlay" in s.timings
    assert np.array_equal(s.view.layer().data[1], preview)

    mask = np.zeros(SHAPE, np.uint8)
    mask[:, 8:10, 8:12] = 1
    model = _model()
    s.finish(RoundResult(model, mask, np.zeros(SHAPE, np.float32), 0), req)
    s.end()
    assert heard["busy"] == [True, False] and not s.busy
    assert s.model is model and s.pretrained is None and s.can_retrain
    assert heard["model"] == [True] and heard["status"][-1] == "Training finished."
    assert s.entropy is not None and np.array_equal(s.view.layer().data, mask)
    assert s.view.layer().metadata["semicl_class_names"] == NAMES

    doc = json.loads((folder / "session.json").read_text())
    [info] = doc["rounds"]
    assert info["kind"] == "train" and info["finetuned"] is True and not info["stopped"]
    assert info["scribbled_pixels"] == 20 and info["pretrain"] is True
    assert (folder / "model.pt").is_file() and (folder / "checkpoints" / "round_001.pt").is_file()
    assert (folder / "loss_history.csv").read_text().splitlines() == ["stage,step,loss",
                                                                      "finetune,1,0.5"]
    saved = read_image(folder / "prediction.tif")  # the engine's writer: spacing kept
    assert np.array_equal(saved.data, mask) and saved.spacing == SCALE


def test_stopped_in_pretraining_keeps_the_network_for_retrain(scene, recorded):
    from semicl.interactive import RoundResult

    from napari_semicl import _messages

    viewer, image, scribbles = scene
    s, heard = recorded(viewer)
    _messages.HISTORY.clear()
    s.begin("train", image, 0)
    pretrained = _model(finetuned=False)
    s.finish(RoundResult(pretrained, None, None, 0, stopped=True), _request(image, scribbles))
    assert s.model is None and s.pretrained is pretrained and s.can_retrain
    assert not s.has_prediction and s.entropy is None
    assert heard["status"][-1] == "Training stopped early, kept the last model."
    [(level, text)] = _messages.HISTORY
    assert level == "info" and text.startswith("Stopped during pretraining")


def _first_look(s, index: int, value: int) -> None:
    from semicl.events import PreviewEvent, Stage

    s.preview(PreviewEvent(Stage.FIRST_LOOK, 0, index, np.full(SHAPE[1:], value, np.uint8)))


def test_a_stop_before_finetuning_takes_the_first_looks_overlay_back(scene, recorded):
    """The first look (a pixel forest's overlay of the viewed slice) is not the network's
    answer: a round stopped before fine-tuning leaves no prediction layer it made, and an
    edit the person painted on that overlay is kept as a correction."""
    from semicl.interactive import RoundResult

    viewer, image, scribbles = scene
    s, _heard = recorded(viewer)
    s.begin("train", image, 0)
    _first_look(s, 2, 1)
    assert s.has_prediction and s.view.layer().data[2].all()
    s.view.layer().data[2, 0, 0] = 0  # the person marks a pixel background on the overlay
    s.finish(RoundResult(_model(finetuned=False), None, None, 0, stopped=True),
             _request(image, scribbles))
    assert not s.has_prediction, "the overlay made the layer: it goes"
    corr = s.view.corrections(SHAPE)
    assert corr is not None and corr[2, 0, 0] == 1 and np.count_nonzero(corr) == 1


def test_a_stop_before_finetuning_restores_the_previous_prediction(scene, recorded):
    """An older prediction stays as it was ("until then", the message says): the slice
    the first look overwrote gets its values back, with the person's edits on top."""
    from semicl.interactive import RoundResult

    viewer, image, scribbles = scene
    s, _heard = recorded(viewer)
    old = np.zeros(SHAPE, np.uint8)
    old[:, 4:8, 4:8] = 1
    s.begin("train", image, 0)
    s.finish(RoundResult(_model(), old, np.zeros(SHAPE, np.float32), 0),
             _request(image, scribbles))
    s.begin("train", image, 0)
    _first_look(s, 1, 0)
    _first_look(s, 1, 1)  # a slice previewed twice goes back to what it was before both
    _first_look(s, 3, 1)
    s.view.layer().data[3, 0, 0] = 0  # an edit on the overlay of slice 3
    s.finish(RoundResult(_model(finetuned=False), None, None, 0, stopped=True),
             _request(image, scribbles))
    want = old.copy()
    want[3, 0, 0] = 0  # what the person painted stays
    assert np.array_equal(s.view.layer().data, want)
    corr = s.view.corrections(SHAPE)
    assert corr is not None and corr[3, 0, 0] == 1 and np.count_nonzero(corr) == 1
    assert s.model is not None and s.model.finetuned, "the older model stays too"


def test_prediction_edits_become_corrections_and_stay(scene, recorded):
    """Edits of the prediction (mask convention) are kept as scribbles (class c -> c + 1)
    in the corrections layer and put back on top of every new prediction."""
    viewer, image, scribbles = scene
    s, _heard = recorded(viewer)
    s.view.bind(image, 0)
    s.view.show_full(np.zeros(SHAPE, np.uint8))
    pred = s.view.layer()
    pred.data[2, 0:2, 0:2] = 1  # the person paints structure 1 on the prediction
    s.view.show_full(np.zeros(SHAPE, np.uint8))  # the network still says background there
    corr = s.view.corrections(SHAPE)
    assert corr is not None and np.all(corr[2, 0:2, 0:2] == 2) and corr.sum() == 8
    assert np.all(pred.data[2, 0:2, 0:2] == 1) and pred.data.sum() == 4
    merged = s.view.merged(np.asarray(scribbles.data))
    assert np.all(merged[2, 0:2, 0:2] == 2)
    assert np.array_equal(merged[1], scribbles.data[1]), "the person's strokes win"


def test_painting_is_saved_after_a_pause_and_the_folder_reopens(scene, recorded):
    from napari_semicl._session_model import SessionModel

    viewer, image, scribbles = scene
    s, heard = recorded(viewer)
    s.schedule_save(_request(image, scribbles), 0)
    assert heard["save"] == [True] and s.folder is None, "nothing written before the pause"
    s.flush()
    folder = s.folder
    assert folder is not None and (folder / "scribbles.tif").is_file()
    s.flush()  # nothing pending any more
    assert heard["folder"] == [folder]

    again = SessionModel(viewer)
    state = again.open_folder(folder, image)
    assert again.folder == Path(folder) and state.class_names == NAMES
    assert state.scale == list(SCALE) and again.view.axis == 0


@pytest.mark.parametrize("stopped", [False, True])
def test_the_rounds_last_word_stays_when_it_arrives_inside_a_progress_update(
        scene, monkeypatch, stopped):
    """napari's progress bar processes Qt events when it is updated, so a job's result can
    arrive *inside* the controller's handling of one of its last progress events (under
    PyQt6 the GUI test of Stop caught it): the status line must end with the round's word,
    not with the step that was being shown, and the bar must be closed."""
    import napari.utils
    from semicl.events import ProgressEvent
    from semicl.interactive import RoundResult
    from semicl.stage import Stage

    from napari_semicl._controller import Controller

    viewer, image, scribbles = scene
    ctrl = Controller(viewer)
    said: list[str] = []
    ctrl.session.status.connect(said.append)
    ctrl.session.begin("train", image, 0)
    ctrl._req = _request(image, scribbles)
    ctrl.worker = object()  # the running job (only its identity matters here)
    result = RoundResult(_model(), np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.float32), 0,
                         stopped=stopped)
    closed: list[bool] = []

    class Bar:  # stands in for napari.utils.progress: the job ends during an update
        n = 0

        def __init__(self, total, desc):
            pass

        def update(self, k):
            self.n += k
            ctrl._on_return(result)

        def close(self):
            closed.append(True)

    monkeypatch.setattr(napari.utils, "progress", Bar)
    ctrl._progress("finetune", "Fine-tuning", ProgressEvent(Stage.FINETUNE, 10, 10, 0.1))
    word = "stopped early, kept the last model" if stopped else "finished"
    assert said[-1] == f"Training {word}."
    assert closed == [True] and ctrl._pbar is None
