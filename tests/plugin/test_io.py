"""Reader, writer, sample data, session folder, manifest and entry point (no window needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

REPO = Path(__file__).resolve().parents[2]


def _nifti(path: Path, shape=(6, 8, 10), zooms=(2.0, 0.5, 0.75)) -> np.ndarray:
    import nibabel as nib

    data = np.arange(np.prod(shape), dtype=np.int16).reshape(shape)
    img = nib.Nifti1Image(data, np.diag([*zooms, 1.0]))
    nib.save(img, str(path))
    return data


def test_nifti_reader_keeps_spacing(tmp_path):
    from napari_semicl._reader import get_reader

    path = tmp_path / "scan.nii.gz"
    data = _nifti(path)
    reader = get_reader(str(path))
    assert reader is not None and get_reader(str(tmp_path / "x.tif")) is None
    [(arr, meta, kind)] = reader(str(path))
    assert kind == "image" and meta["name"] == "scan"
    assert np.array_equal(arr, data)
    assert meta["scale"] == pytest.approx((2.0, 0.5, 0.75))
    assert meta["metadata"]["semicl_source"] == str(path.resolve())


def test_writer_tiff_round_trip_with_spacing_and_names(tmp_path):
    from semicl.io.readers import read_mask

    from napari_semicl._writer import write_mask_layer

    mask = np.zeros((4, 9, 7), np.int32)
    mask[1, 2:5, 1:4] = 1
    mask[2, 5:8, 2:6] = 2
    names = ["background", "anterior", "posterior"]
    out = tmp_path / "m.tif"
    written = write_mask_layer(str(out), mask, {"scale": (3.0, 0.5, 0.25),
                                                "metadata": {"semicl_class_names": names}})
    assert written == [str(out)]
    back = tifffile.imread(out)
    assert back.dtype == np.uint8 and np.array_equal(back, mask)
    vol = read_mask(out)
    assert vol.spacing == pytest.approx((3.0, 0.5, 0.25))
    with tifffile.TiffFile(out) as tif:
        assert json.loads(tif.imagej_metadata["class_names"]) == names


def test_writer_nifti_reuses_the_source_geometry(tmp_path):
    import nibabel as nib

    from napari_semicl._writer import write_mask_layer

    src = tmp_path / "scan.nii.gz"
    _nifti(src)
    mask = np.zeros((6, 8, 10), np.uint8)
    mask[2, 3, 4] = 1
    out = tmp_path / "mask.nii.gz"
    write_mask_layer(str(out), mask, {"scale": (2.0, 0.5, 0.75),
                                      "metadata": {"semicl_source": str(src)}})
    img = nib.load(str(out))
    assert np.array_equal(np.asarray(img.dataobj), mask)
    assert np.allclose(img.affine, nib.load(str(src)).affine)


def test_sample_data_from_the_data_folder(data_dir, monkeypatch):
    from napari_semicl._sample_data import colin27, hippocampus

    monkeypatch.setenv("SEMICL_DATA_DIR", str(data_dir))
    [(arr, meta, kind)] = hippocampus()
    assert kind == "image" and arr.ndim == 3
    assert meta["metadata"]["semicl_class_names"] == ["background", "Anterior", "Posterior"]
    assert len(meta["scale"]) == 3
    if (data_dir / "colin27_aal" / "ch2.nii.gz").is_file():
        [(brain, bmeta, _)] = colin27()
        assert brain.shape == (181, 217, 181) and bmeta["name"] == "colin27"


def test_sample_data_offline_is_a_notification(tmp_path, monkeypatch, messages):
    from semicl.errors import DataUnavailableError
    from semicl.io import download

    from napari_semicl._sample_data import colin27, hippocampus

    def offline(*_a, **_k):
        raise DataUnavailableError("No network and no local copy of MSD Task04.")

    monkeypatch.setattr(download, "find_or_fetch_msd", offline)
    monkeypatch.setenv("SEMICL_DATA_DIR", str(tmp_path))
    assert hippocampus() == [] and colin27() == []
    texts = " ".join(t for _l, t in messages)
    assert "SEMICL_DATA_DIR" in texts and "No network" in texts and "Colin27" in texts


def _session(folder: Path, image: np.ndarray, scribbles: np.ndarray) -> Path:
    """A session folder written by the plugin's Session (as a colleague's copy would be)."""
    from napari_semicl._session import Session, SessionState

    st = SessionState(image_name="vol", image_shape=list(image.shape), scale=[2.0, 0.5, 0.25],
                      translate=[0.0, 0.0, 0.0], class_names=["background", "x"], axis=0,
                      history=[["finetune", 1, 0.5]])
    s = Session(folder)
    s.save_image(image, st.scale)
    s.save_labels("scribbles", scribbles, st.scale)
    s.save_state(st)
    return folder


def test_session_folder_round_trip(tmp_path, napari_settings):
    from napari_semicl._reader import get_session_reader
    from napari_semicl._session import Session

    folder = tmp_path / "s"
    image = np.random.default_rng(0).random((3, 8, 9)).astype(np.float32)
    scribbles = np.zeros(image.shape, np.uint8)
    scribbles[1, 2:4, 2:6] = 2
    _session(folder, image, scribbles)
    assert get_session_reader(str(tmp_path)) is None
    layers = get_session_reader(str(folder))(str(folder))
    kinds = {meta["name"]: (kind, arr) for arr, meta, kind in layers}
    assert kinds["vol"][0] == "image" and np.array_equal(kinds["vol"][1], image)
    assert kinds["scribbles"][0] == "labels" and np.array_equal(kinds["scribbles"][1], scribbles)
    from semicl.io.readers import read_image

    # labels go through the engine's mask writer, the image copy through its image
    # writer: Z and X/Y spacing kept
    assert read_image(folder / "scribbles.tif").spacing == (2.0, 0.5, 0.25)
    assert read_image(folder / "image.tif").spacing == (2.0, 0.5, 0.25)
    signed = np.arange(-36, 36, dtype=np.int32).reshape(2, 4, 9)  # not an ImageJ type
    Session(tmp_path / "t").save_image(signed, [2.0, 0.5, 0.25])
    np.testing.assert_array_equal(Session(tmp_path / "t").load_array("image"), signed)
    assert Session(folder).load_state().class_names == ["background", "x"]
    [scrib_meta] = [meta for _a, meta, _k in layers if meta["name"] == "scribbles"]
    assert scrib_meta["metadata"]["semicl_class_names"] == ["background", "x"]


def test_session_opens_without_a_reader_question(tmp_path, napari_settings):
    """The session reader claims folders and session.json, never other files (napari would
    ask which reader to use for each). A session opened once is remembered in napari's reader
    preferences, so its folder opens without a question; a person's own choice is kept."""
    from napari.components import ViewerModel
    from napari.plugins import _initialize_plugins, _npe2

    from napari_semicl._reader import remember_session_folder

    _initialize_plugins()
    image = np.zeros((3, 8, 9), np.float32)
    folder = _session(tmp_path / "copied", image, np.zeros(image.shape, np.uint8))
    tifffile.imwrite(tmp_path / "other.tif", image[0])
    assert "napari-semicl" not in _npe2.get_readers(str(tmp_path / "other.tif"))
    assert list(_npe2.get_readers(str(folder / "session.json"))) == ["napari-semicl"]
    prefs = napari_settings.plugins
    prefs.extension2reader = {"/gone/session/": "napari-semicl", "*.tif": "napari"}
    viewer = ViewerModel()
    layers = viewer.open(str(folder / "session.json"), plugin=None)  # File > Open
    assert {(lay.name, lay.source.reader_plugin) for lay in layers} == {
        ("vol", "napari-semicl"), ("scribbles", "napari-semicl")}
    key = os.path.realpath(folder) + os.sep
    assert prefs.extension2reader == {"*.tif": "napari", key: "napari-semicl"}
    layers = viewer.open(str(folder), plugin=None)  # File > Open Folder, without a dialog
    assert [lay.source.reader_plugin for lay in layers] == ["napari-semicl"] * 2
    other = _session(tmp_path / "mine", image, np.zeros(image.shape, np.uint8))
    prefs.extension2reader = {os.path.realpath(other) + os.sep: "napari"}
    assert not remember_session_folder(other), "the person's choice for that folder stays"
    assert not remember_session_folder(tmp_path), "not a session"
    assert prefs.extension2reader == {os.path.realpath(other) + os.sep: "napari"}


def test_manifest_is_valid_and_imports_stay_light():
    link = REPO / "napari_semicl" / "napari.yaml"
    assert link.is_symlink() and link.resolve() == (REPO / "napari.yaml").resolve()
    npe2 = Path(sys.executable).with_name("npe2")
    res = subprocess.run([str(npe2), "validate", "napari-semicl"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    code = ("import sys, napari_semicl._widget, napari_semicl._reader, napari_semicl._writer, "
            "napari_semicl._sample_data, napari_semicl.__main__; "
            "assert 'torch' not in sys.modules, 'torch imported at plugin import'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_main_without_display_runs_the_headless_demo(monkeypatch, capsys):
    import semicl.cli

    from napari_semicl import __main__ as entry

    calls = []
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(semicl.cli, "main", lambda argv: calls.append(argv) or 0)
    assert entry.main(["--steps", "3"]) == 0
    assert calls == [["demo", "--steps", "3"]]
    assert "No display" in capsys.readouterr().out
