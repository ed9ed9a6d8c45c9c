"""The one MSD split (semicl.experiments.split.choose_split): a held-out set fixed whatever
the seed, nested labelled fractions, and the same volumes for the CLI, the demo and the
label-efficiency benchmark, with and without splits.json."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from semicl.cli import main
from semicl.errors import DatasetError
from semicl.experiments.split import HELD_OUT_FRACTION, choose_split
from semicl.io.msd import load_msd


def _fake_task(root: Path, n: int, splits: dict | None = None) -> Path:
    ids = [f"hippocampus_{i:03d}" for i in range(n)]
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
        for cid in ids:
            nib.save(nib.Nifti1Image(np.ones((3, 4, 5), np.uint8), np.eye(4)),
                     str(root / sub / f"{cid}.nii.gz"))
    meta = {"name": "Hippocampus", "labels": {"0": "background", "1": "A", "2": "P"},
            "training": [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"}
                         for c in ids]}
    (root / "dataset.json").write_text(json.dumps(meta))
    if splits is not None:
        (root / "splits.json").write_text(json.dumps(splits))
    return root


def _roles(split) -> tuple[list[str], list[str], list[str]]:
    return split.labelled, split.unlabelled, split.test


def test_fixed_split_of_splits_json(msd_dir):
    ds = load_msd(msd_dir)
    test = ds.splits["test"]
    for seed in (0, 1, 2):
        previous: set[str] = set()
        for fraction, n in ((0.05, 8), (0.1, 16), (0.2, 31), (1.0, 156)):
            s = choose_split(ds, fraction, seed, HELD_OUT_FRACTION)
            assert s.labelled == ds.splits["labelled"][str(seed)][f"{fraction:g}"]
            assert len(s.labelled) == n and s.test == test
            assert sorted(s.labelled + s.unlabelled) == sorted(ds.splits["train"])
            assert previous <= set(s.labelled)  # nested
            previous = set(s.labelled)
    assert choose_split(ds, 0.1, 0, 0.2).source == "splits.json seed 0 fraction 0.1"


def test_splits_json_seed_or_fraction_not_listed(msd_dir):
    """The test set stays the file's; drawn labelled sets nest with the listed ones."""
    ds = load_msd(msd_dir)
    s15 = choose_split(ds, 0.15, 0, HELD_OUT_FRACTION)
    assert s15.test == ds.splits["test"] and len(s15.labelled) == round(0.15 * 156)
    listed = ds.splits["labelled"]["0"]
    assert set(listed["0.1"]) <= set(s15.labelled) <= set(listed["0.2"])
    s7 = [choose_split(ds, f, 7, HELD_OUT_FRACTION) for f in (0.05, 0.1, 0.2)]
    assert all(s.test == ds.splits["test"] for s in s7)
    assert set(s7[0].labelled) <= set(s7[1].labelled) <= set(s7[2].labelled)
    assert not set(s7[2].labelled) & set(ds.splits["test"])
    assert "seed 7" in s7[0].source


def test_drawn_split_without_splits_json(tmp_path):
    ds = load_msd(_fake_task(tmp_path / "t", 20))
    assert ds.splits is None
    first = choose_split(ds, 0.5, 0, HELD_OUT_FRACTION)
    assert len(first.test) == 4 and len(first.labelled) == 8 and len(first.unlabelled) == 8
    assert _roles(choose_split(ds, 0.5, 0, HELD_OUT_FRACTION)) == _roles(first)  # deterministic
    for seed in (0, 1, 3):
        splits = [choose_split(ds, f, seed, HELD_OUT_FRACTION) for f in (0.1, 0.25, 0.5, 1.0)]
        assert all(s.test == first.test for s in splits)  # independent of the seed
        for small, large in zip(splits, splits[1:], strict=False):
            assert set(small.labelled) <= set(large.labelled)  # nested
        assert not set(splits[-1].labelled) & set(first.test)
    assert choose_split(ds, 0.5, 1, HELD_OUT_FRACTION).labelled != first.labelled


def test_no_held_out_set_without_val_fraction(tmp_path):
    ds = load_msd(_fake_task(tmp_path / "t", 10))
    s = choose_split(ds, 0.3, 2)
    assert s.test == [] and len(s.labelled) == 3 and len(s.unlabelled) == 7
    assert set(choose_split(ds, 0.1, 2).labelled) <= set(s.labelled)
    assert s.source == "random, seed 2"


@pytest.mark.parametrize("fraction, val, match", [
    (0.0, 0.2, "--labelled-fraction"), (1.5, None, "--labelled-fraction"),
    (0.5, 1.0, "--val-fraction"), (0.01, 0.2, "selects no volume"),
])
def test_split_errors(tmp_path, fraction, val, match):
    ds = load_msd(_fake_task(tmp_path / "t", 10))
    with pytest.raises(DatasetError, match=match):
        choose_split(ds, fraction, 0, val)


def test_splits_json_naming_unknown_cases(tmp_path):
    bad = {"train": ["hippocampus_000", "hippocampus_001"], "test": ["hippocampus_099"],
           "labelled": {"0": {"0.5": ["hippocampus_000"]}}}
    ds = load_msd(_fake_task(tmp_path / "t", 3, bad))
    with pytest.raises(DatasetError, match="hippocampus_099"):
        choose_split(ds, 0.5, 0, HELD_OUT_FRACTION)
    outside = {"train": ["hippocampus_000"], "test": ["hippocampus_001"],
               "labelled": {"0": {"0.5": ["hippocampus_001"]}}}
    ds = load_msd(_fake_task(tmp_path / "u", 3, outside))
    with pytest.raises(DatasetError, match="'train' list"):
        choose_split(ds, 0.5, 0, HELD_OUT_FRACTION)


# ----------------------------------------------------------------------------- one split
class _Stop(Exception):
    pass


@pytest.fixture()
def captured(monkeypatch) -> list:
    """The split each caller passes on to load_training_data (which then stops the run)."""
    import semicl.experiments.run

    seen = []

    def stop(ds, split, **kwargs):
        seen.append(split)
        raise _Stop

    monkeypatch.setattr(semicl.experiments.run, "load_training_data", stop)
    return seen


def _benchmark_split(root: Path, fraction: float, seed: int):
    from benchmarks import le_data

    return le_data.MsdBench(root).split(fraction, seed)


@pytest.mark.parametrize("where, seed", [("real", 0), ("real", 5), ("fake", 0), ("fake", 3)])
def test_cli_demo_and_benchmark_share_the_split(where, seed, captured, request, tmp_path):
    root = (request.getfixturevalue("msd_dir") if where == "real"
            else _fake_task(tmp_path / "Task04_Hippocampus", 20))
    common = ["--data", str(root), "--labelled-fraction", "0.1", "--seed", str(seed),
              "--out", str(tmp_path / "out")]
    with pytest.raises(_Stop):
        main(["train", *common, "--val-fraction", str(HELD_OUT_FRACTION)])
    with pytest.raises(_Stop):
        main(["demo", *common])
    cli, demo = captured
    bench = _benchmark_split(root, 0.1, seed)
    assert _roles(cli) == _roles(demo) == _roles(bench)
    assert cli.test == choose_split(load_msd(root), 0.1, seed + 1, HELD_OUT_FRACTION).test
    if where == "real":
        assert cli.test == load_msd(root).splits["test"]
