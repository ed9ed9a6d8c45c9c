"""End to end on real MSD volumes: train -> predict -> evaluate, and CLI error messages."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile

from semicl.cli import main

CASES = ["hippocampus_001", "hippocampus_003", "hippocampus_004", "hippocampus_006",
         "hippocampus_007", "hippocampus_008"]


@pytest.fixture(scope="module")
def small_msd(msd_dir: Path, tmp_path_factory) -> Path:
    """An MSD-layout folder of 6 real cases (symlinks to the shared data, nothing copied)."""
    root = tmp_path_factory.mktemp("msd") / "Task04_Hippocampus"
    meta = json.loads((msd_dir / "dataset.json").read_text())
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
        for case in CASES:
            (root / sub / f"{case}.nii.gz").symlink_to(msd_dir / sub / f"{case}.nii.gz")
    meta["training"] = [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"}
                        for c in CASES]
    meta["numTraining"] = len(CASES)
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="module")
def trained_run(small_msd: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "--data", str(small_msd), "--labelled-fraction", "0.5", "--seed", "0",
                 "--preset", "quick", "--global-steps", "3", "--local-steps", "3",
                 "--finetune-steps", "150", "--threads", "2", "--out", str(out)])
    assert code == 0
    return out


def test_train_writes_run_folder(trained_run: Path):
    for name in ("model.pt", "config.json", "split.json", "history.csv"):
        assert (trained_run / name).is_file(), name
    split = json.loads((trained_run / "split.json").read_text())
    assert len(split["labelled"]) == 3 and len(split["unlabelled"]) == 3 and split["test"] == []
    history = (trained_run / "history.csv").read_text().splitlines()
    assert history[0] == "stage,step,loss" and len(history) == 1 + 3 + 3 + 150


def test_predict_and_evaluate_nifti(trained_run: Path, small_msd: Path, tmp_path: Path, capsys):
    split = json.loads((trained_run / "split.json").read_text())
    held = [c for c in CASES if c in split["unlabelled"]][:2]  # labels never used in training
    inputs = [str(small_msd / "imagesTr" / f"{c}.nii.gz") for c in held]
    out = tmp_path / "masks"
    assert main(["predict", "--model", str(trained_run / "model.pt"), "--out", str(out),
                 *inputs]) == 0
    for c, src in zip(held, inputs, strict=True):
        written, original = nib.load(out / f"{c}.nii.gz"), nib.load(src)
        assert written.shape == original.shape
        np.testing.assert_allclose(written.affine, original.affine)
        values = np.unique(np.asarray(written.dataobj))
        assert set(values.tolist()) <= {0, 1, 2}
    capsys.readouterr()
    table = tmp_path / "dice.md"
    assert main(["evaluate", "--pred", str(out), "--gt", str(small_msd / "labelsTr"),
                 "--classes", "background,anterior,posterior", "--out", str(table)]) == 0
    printed = capsys.readouterr().out
    assert "anterior" in printed and table.read_text().strip() in printed.strip()
    # A blank mask scores 0 and a random one about 0.05 here; a trained model far more.
    from semicl.experiments.evaluation import evaluate_files, pair_files

    summary = evaluate_files(pair_files([out], [small_msd / "labelsTr"]), 3).summary()
    assert summary["pooled_mean"] > 0.5, summary


def test_predict_tiff_in_tiff_out(trained_run: Path, small_msd: Path, tmp_path: Path):
    volume = np.asarray(nib.load(small_msd / "imagesTr" / "hippocampus_008.nii.gz").dataobj)
    tif = tmp_path / "scan.tif"
    tifffile.imwrite(tif, volume.astype(np.float32))
    assert main(["predict", "--model", str(trained_run / "model.pt"), "--out",
                 str(tmp_path / "o"), str(tif)]) == 0
    mask = tifffile.imread(tmp_path / "o" / "scan.tif")
    assert mask.shape == volume.shape and mask.dtype == np.uint8


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--data", "{msd}", "--labelled-fraction", "0", "--out", "{tmp}/r"],
         "labelled-fraction"),
        (["train", "--data", "{tmp}/nothing", "--out", "{tmp}/r"], "nothing"),
        (["predict", "--model", "{tmp}/missing.pt", "--out", "{tmp}/o", "{tmp}/x.nii.gz"],
         "not found"),
        (["train", "--image", "{tmp}/a.nii.gz", "--out", "{tmp}/r"], "--scribbles"),
        (["train", "--data", "{msd}", "--device", "cuda:7", "--out", "{tmp}/r"], "cpu"),
        (["train", "--data", "{msd}", "--members", "2", "--out", "{tmp}/r"], "--image"),
    ],
)
def test_cli_errors_are_one_line(argv, message, small_msd, tmp_path, capsys):
    argv = [a.format(msd=small_msd, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_unsupported_input_file(trained_run: Path, tmp_path: Path, capsys):
    bad = tmp_path / "scan.jpg2000"
    bad.write_bytes(b"1234")
    assert main(["predict", "--model", str(trained_run / "model.pt"), "--out",
                 str(tmp_path / "o"), str(bad)]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "o" / "scan.jpg2000").exists()


@pytest.mark.parametrize("extra, flip", [([], False), (["--flip"], True)])
def test_flip_option(extra, flip):
    from semicl.cli import build_parser, configure

    args = build_parser().parse_args(["train", "--out", "x", "--preset", "quick", *extra])
    assert configure(args).flip is flip


@pytest.mark.parametrize("members", [None, 1])
def test_train_on_one_image_with_scribbles(tmp_path: Path, capsys, members):
    """`semicl train --image`: one interactive round (as the plugin's Train), no first look;
    the quick preset's two networks unless ``--members`` says otherwise."""
    from semicl.io.readers import read_image
    from semicl.scribbles import scribble_volume
    from semicl.training.trained_model import TrainedModel

    zz, yy, xx = np.indices((5, 20, 24))
    mask = ((yy - 9) ** 2 + (xx - 11) ** 2 < 25).astype(np.uint8) * (zz > 0)
    image = (0.3 + 0.5 * mask + np.random.default_rng(0).normal(0, 0.05, mask.shape))
    tifffile.imwrite(tmp_path / "img.tif", image.astype(np.float32))
    tifffile.imwrite(tmp_path / "scr.tif",
                     scribble_volume(mask, [9, 13], 2, rng=np.random.default_rng(0)))
    out = tmp_path / "run"
    assert main(["train", "--image", str(tmp_path / "img.tif"), "--scribbles",
                 str(tmp_path / "scr.tif"), "--classes", "background,disk", "--axis", "2",
                 "--global-steps", "2", "--local-steps", "2", "--finetune-steps", "3",
                 "--threads", "1", "--device", "cpu", "--out", str(out),
                 *([] if members is None else ["--members", str(members)])]) == 0
    err = capsys.readouterr().err
    assert "[  global]" in err and "finetune" in err and "first_look" not in err
    history = (out / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["global"] * 2 + ["local"] * 2 + [
        "finetune"] * 3
    model = TrainedModel.load(out / "model.pt", device="cpu")
    assert model.finetuned and model.config.slice_axis == 2 and model.config.image_size is None
    assert model.class_names == ["background", "disk"]
    assert len(model.members) == model.config.members == (members or 2)
    pred = model.predict(read_image(tmp_path / "img.tif").data)
    assert pred.mask.shape == mask.shape


def test_predict_keep_islands(trained_run: Path, small_msd: Path, tmp_path: Path, capsys):
    """`semicl predict --keep-islands SCRIBBLES`: the written mask is the plain prediction
    with only the pieces touching a stroke of their class."""
    from semicl.io.readers import read_mask
    from semicl.islands import keep_stroked_islands

    img = sorted((small_msd / "imagesTr").glob("*.nii.gz"))[0]
    plain, kept = tmp_path / "plain", tmp_path / "kept"
    model_path = str(trained_run / "model.pt")
    assert main(["predict", "--model", model_path, "--out", str(plain), str(img)]) == 0
    raw = np.asarray(read_mask(plain / img.name).data)
    assert raw.any()
    strokes = np.zeros(raw.shape, np.uint8)
    first = tuple(np.argwhere(raw > 0)[0])
    strokes[first] = raw[first] + 1  # one stroke pixel, on one piece of one structure
    nib.save(nib.Nifti1Image(strokes, np.eye(4)), tmp_path / "scr.nii.gz")
    assert main(["predict", "--model", model_path, "--out", str(kept),
                 "--keep-islands", str(tmp_path / "scr.nii.gz"), str(img)]) == 0
    out = np.asarray(read_mask(kept / img.name).data)
    np.testing.assert_array_equal(out, keep_stroked_islands(raw, strokes))
    assert 0 < (out > 0).sum() <= (raw > 0).sum()
    # the scribbles of one image only
    assert main(["predict", "--model", model_path, "--out", str(kept), "--keep-islands",
                 str(tmp_path / "scr.nii.gz"), str(img), str(img)]) == 2
    assert "one at a time" in capsys.readouterr().err


def test_predict_slice_smoothing_follows_the_model_or_the_option(
        trained_run: Path, small_msd: Path, tmp_path: Path, capsys):
    """A quick-preset model smooths volumes across slices (its config says so);
    `--slice-smoothing 0` writes the network's own slice-wise mask; a negative width is
    refused."""
    import dataclasses

    from semicl.io.readers import read_image, read_mask
    from semicl.training.trained_model import TrainedModel

    img = sorted((small_msd / "imagesTr").glob("*.nii.gz"))[1]
    model_path = str(trained_run / "model.pt")
    model = TrainedModel.load(model_path, device="cpu")
    assert model.config.slice_smoothing == 1.0
    written = {}
    for name, extra in (("own", []), ("off", ["--slice-smoothing", "0"])):
        assert main(["predict", "--model", model_path, "--out", str(tmp_path / name), *extra,
                     str(img)]) == 0
        written[name] = np.asarray(read_mask(tmp_path / name / img.name).data)
    volume = read_image(img).data
    np.testing.assert_array_equal(written["own"], model.predict(volume).mask)
    model.config = dataclasses.replace(model.config, slice_smoothing=0.0)
    np.testing.assert_array_equal(written["off"], model.predict(volume).mask)
    assert (written["own"] != written["off"]).any()
    assert main(["predict", "--model", model_path, "--out", str(tmp_path / "x"),
                 "--slice-smoothing", "-1", str(img)]) == 2
    assert "slice_smoothing" in capsys.readouterr().err
