"""load_msd on the real Task04 folder and on synthetic layouts (the split: test_msd_split.py)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from semicl.errors import DatasetError
from semicl.io.msd import load_msd


def _write_case(root, cid, dtype=np.uint8):
    arrays = (("imagesTr", np.ones((3, 4, 5), dtype)), ("labelsTr", np.zeros((3, 4, 5), np.uint8)))
    for sub, arr in arrays:
        (root / sub).mkdir(exist_ok=True)
        nib.save(nib.Nifti1Image(arr, np.eye(4)), str(root / sub / f"{cid}.nii.gz"))


def _fake_task(tmp_path, n=5, training=True, name="Task04_Hippocampus"):
    root = tmp_path / name
    root.mkdir()
    ids = [f"hippocampus_{i:03d}" for i in range(n)]
    for cid in ids:
        _write_case(root, cid)
    (root / "imagesTr" / "._hippocampus_000.nii.gz").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    meta = {"name": "Hippocampus", "labels": {"2": "Posterior", "0": "background", "1": "Anterior"}}
    if training:
        meta["training"] = [
            {"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in ids
        ]
    (root / "dataset.json").write_text(json.dumps(meta))
    return root, ids


def test_real_task04(msd_dir):
    ds = load_msd(msd_dir)
    assert len(ds) == 200 and ds.num_classes == 3
    assert ds.class_names == ["background", "Anterior", "Posterior"]
    assert ds.splits is not None
    img8, lab8 = ds.case("hippocampus_001").load()
    img32, lab32 = ds.case("hippocampus_003").load()
    assert img8.data.dtype == np.uint8 and img32.data.dtype == np.float32
    assert img8.shape == lab8.shape and img32.shape == lab32.shape
    assert lab32.data.dtype.kind in "iu"


def test_real_parent_folder_and_splits(data_dir, msd_dir):
    ds = load_msd(data_dir)
    assert ds.root == msd_dir
    assert (len(ds.splits["train"]), len(ds.splits["test"])) == (156, 44)
    assert sorted(ds.splits["labelled"]) == ["0", "1", "2"]


def test_parent_with_original_name_and_appledouble(tmp_path):
    root, ids = _fake_task(tmp_path)
    ds = load_msd(tmp_path)
    assert ds.root == root and ds.case_ids == ids
    assert ds.class_names == ["background", "Anterior", "Posterior"]
    img, lab = ds.cases[0].load()
    assert img.shape == lab.shape == (3, 4, 5)


def test_fallback_listing_without_training(tmp_path):
    root, ids = _fake_task(tmp_path, training=False)
    assert load_msd(root).case_ids == ids  # the ._ file is ignored


def test_missing_files_raise(tmp_path):
    with pytest.raises(DatasetError, match="dataset.json"):
        load_msd(tmp_path)
    root, ids = _fake_task(tmp_path)
    missing = root / "labelsTr" / f"{ids[2]}.nii.gz"
    missing.unlink()
    with pytest.raises(DatasetError, match=ids[2]):
        load_msd(root)


def test_bad_label_map(tmp_path):
    root, _ = _fake_task(tmp_path)
    meta = json.loads((root / "dataset.json").read_text())
    meta["labels"] = {"0": "background", "2": "x"}
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="0..K-1"):
        load_msd(root)
