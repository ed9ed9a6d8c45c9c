"""The background prior's weights (semicl.prior_weight) and how fine-tuning uses them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from semicl.config import FinetuneConfig
from semicl.data.normalize import normalize_intensity
from semicl.errors import SemiclError
from semicl.interactive import prepare_image_data
from semicl.models.network import SegmentationNet
from semicl.prior_weight import beyond_factor, prior_weight, stroke_radius
from semicl.slice_smoothing import slice_step
from semicl.training.stages import run_finetune
from test_step_options import image_with_strokes  # tests/core is on sys.path (no package)
from test_training import collect, tiny_config


def reference(scribbles, num_classes, axis, reach, step):
    """Obviously correct: every pixel against every stroke pixel of each class, the
    radius from each slice's pieces by hand (pieces given by the test's own layout)."""
    vol = np.moveaxis(scribbles, axis, 0)
    grid = np.stack(np.meshgrid(*map(np.arange, vol.shape), indexing="ij"), -1).reshape(-1, 3)
    scale = np.array([step, 1.0, 1.0])
    out = np.ones(len(grid), np.float32)
    for c in range(1, num_classes):
        pts = np.argwhere(vol == c + 1)
        if not len(pts):
            continue
        radius = reach * stroke_radius(vol == c + 1)
        d = np.sqrt((((grid[:, None] - pts[None]) * scale) ** 2).sum(-1)).min(1)
        out[d <= radius] = 0.0
    return np.moveaxis(out.reshape(vol.shape), 0, axis)


def test_the_radius_is_the_median_half_diagonal_of_the_pieces():
    strokes = np.zeros((3, 20, 20), bool)
    strokes[0, 2, 2:11] = True  # 1 x 9: half-diagonal sqrt(82) / 2
    strokes[0, 10:13, 10:14] = True  # 3 x 4: 2.5
    strokes[2, 5:8, 5] = True  # 3 x 1: sqrt(10) / 2
    assert stroke_radius(strokes) == pytest.approx(2.5)  # median of 4.53, 2.5, 1.58
    assert stroke_radius(np.zeros((2, 5, 5), bool)) == 0.0


@pytest.mark.parametrize("axis, step", [(0, 1.0), (1, 2.5), (2, 0.7)])
def test_weights_match_a_brute_force_reference(axis, step):
    scribbles = np.zeros((9, 30, 26), np.uint8)
    scribbles[2, 5, 4:13] = 2  # class 1: a line of 9
    scribbles[6, 20:23, 10] = 2  # and a short one: radius = median of the two
    scribbles[4, 15, 3:14] = 3  # class 2: a longer line, its own radius
    scribbles[8, 28, :] = 1  # background strokes make no zone
    scribbles = np.moveaxis(scribbles, 0, axis).copy()
    got = prior_weight(scribbles, 3, axis=axis, reach=1.5, step=step)
    want = reference(scribbles, 3, axis, 1.5, step)
    assert got.dtype == np.float32 and got.shape == scribbles.shape
    np.testing.assert_array_equal(got, want)
    assert 0 < (got == 0).mean() < 0.75  # zones exist and are bounded


def test_2d_images_reach_0_and_bad_arguments():
    scribbles = np.zeros((16, 16), np.uint8)
    scribbles[8, 4:9] = 2
    got = prior_weight(scribbles, 2, reach=1.0)
    np.testing.assert_array_equal(got, reference(scribbles[None], 2, 0, 1.0, 1.0)[0])
    assert got[8, 6] == 0 and got[0, 15] == 1
    assert (prior_weight(scribbles, 2, reach=0.0) == 1).all()
    assert (prior_weight(np.where(scribbles > 0, 1, 0), 2, reach=1.0) == 1).all()  # no structure
    with pytest.raises(ValueError, match="reach"):
        prior_weight(scribbles, 2, reach=-1.0)
    with pytest.raises(SemiclError, match="stroke terms"):
        FinetuneConfig(prior_reach=-0.5).validate("finetune")


def test_the_prior_grows_one_painted_spacing_past_the_painted_slices():
    f = beyond_factor(np.array([10, 20, 30]), 60, 1.0, 4.0)  # spacing 10
    assert f.dtype == np.float32 and f.shape == (60,)
    assert (f[0:31 + 10] == 1).all()  # slice 0 is 10 before the first: still 1
    assert f[45] == pytest.approx(1.5) and f[59] == pytest.approx(2.9)  # 15 and 29 past
    g = beyond_factor(np.array([40, 44]), 60, 2.0, 4.0)  # spacing 4, slope 2
    assert g[30] == pytest.approx(4.0)  # 10 past: 1 + 2 * 6 / 4 = 4
    assert g[20] == pytest.approx(4.0) and g[52] == pytest.approx(3.0)  # the cap; 8 past
    assert (beyond_factor(np.array([7]), 60, 1.0, 4.0) == 1).all()  # one slice: no spacing
    assert (beyond_factor(np.array([3, 9]), 60, 0.0, 4.0) == 1).all()  # slope 0: off


@pytest.mark.parametrize("axis", [0, 2])
def test_grown_weights_are_the_zone_times_the_factor(axis):
    scribbles = np.zeros((40, 16, 18), np.uint8)
    scribbles[12, 5, 4:13] = 2
    scribbles[20, 8, 3:9] = 3
    scribbles[34, 2, :] = 1  # background strokes alone: not a painted structure slice
    scribbles = np.moveaxis(scribbles, 0, axis).copy()
    got = prior_weight(scribbles, 3, axis=axis, reach=1.0, beyond=1.0)
    zone = reference(scribbles, 3, axis, 1.0, 1.0)
    shape = [1, 1, 1]
    shape[axis] = 40
    factor = beyond_factor(np.array([12, 20]), 40, 1.0, 4.0).reshape(shape)
    np.testing.assert_allclose(got, zone * factor)
    assert np.moveaxis(got, axis, 0)[39].max() == pytest.approx(1 + 11 / 8)
    assert (prior_weight(scribbles, 3, axis=axis, reach=0.0, beyond=1.0)
            == np.broadcast_to(factor, scribbles.shape)).all()
    flat = np.zeros((16, 18), np.uint8)  # a 2-D image has no slices past the painted ones
    flat[5, 4:13] = 2
    np.testing.assert_array_equal(prior_weight(flat, 2, reach=1.0, beyond=1.0),
                                  prior_weight(flat, 2, reach=1.0))
    with pytest.raises(ValueError, match="beyond"):
        prior_weight(flat, 2, beyond=-1.0)
    with pytest.raises(SemiclError, match="stroke terms"):
        FinetuneConfig(prior_beyond=-0.5).validate("finetune")


def test_image_data_carries_the_weights_slice_by_slice():
    image, scribbles = image_with_strokes()
    plain = prepare_image_data(image, scribbles, ["background", "disk"])
    assert plain.prior_weight is None and plain.unlabelled_prior_weight is None
    image, scribbles = np.moveaxis(image, 0, 2), np.moveaxis(scribbles, 0, 2)  # slices last
    data = prepare_image_data(image, scribbles, ["background", "disk"], axis=2, prior_reach=1.0)
    step = slice_step(normalize_intensity(image), 2)  # the image's own slice step
    want = np.moveaxis(prior_weight(scribbles, 2, axis=2, reach=1.0, step=step), 2, 0)
    np.testing.assert_array_equal(data.unlabelled_prior_weight.numpy(), want)
    np.testing.assert_array_equal(data.prior_weight.numpy(), want[[1, 3]])  # painted slices
    assert data.prior_weight.shape == data.targets.shape
    assert (want[1, 8, 5:11] == 0).all() and (want[:, 20] == 1).all()  # the line's zone only


def finetuned(data, prior=0.5, augment=True):
    cfg = dataclasses.replace(tiny_config().finetune, steps=4, epochs=None, min_steps=0,
                              labels="strokes", ema_decay=0.0, background_prior=prior)
    torch.manual_seed(0)
    net = SegmentationNet(tiny_config().model, data.num_classes)
    collect(run_finetune(net, data, cfg, device=torch.device("cpu"), amp=False,
                         generator=torch.Generator().manual_seed(0), augment=augment))
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def test_weights_of_one_change_nothing_and_weights_of_zero_silence_the_prior():
    data = prepare_image_data(*image_with_strokes(), ["background", "disk"])
    ones = dataclasses.replace(data,
                               prior_weight=torch.ones_like(data.targets, dtype=torch.float32),
                               unlabelled_prior_weight=torch.ones_like(data.unlabelled[:, 0]))
    torch.testing.assert_close(finetuned(ones), finetuned(data))  # geometry and padding too
    zeros = dataclasses.replace(
        ones, prior_weight=torch.zeros_like(ones.prior_weight),
        unlabelled_prior_weight=torch.zeros_like(ones.unlabelled_prior_weight))
    # without geometry no pixel comes from outside the image (those keep the prior)
    silent = finetuned(zeros, augment=False)
    torch.testing.assert_close(silent, finetuned(data, prior=1e-12, augment=False))
    assert not torch.allclose(silent, finetuned(data, augment=False))


def test_a_round_builds_its_data_with_the_configured_reach(monkeypatch):
    import semicl.interactive as interactive

    seen = []

    class Built(Exception):
        pass

    def capture(*args, prior_reach=0.0, prior_beyond=0.0, **kwargs):
        seen.append((prior_reach, prior_beyond))
        raise Built

    monkeypatch.setattr(interactive, "prepare_image_data", capture)
    config = tiny_config()
    config.finetune.prior_reach, config.finetune.prior_beyond = 0.75, 0.5
    with pytest.raises(Built):
        next(interactive.training_round(*image_with_strokes(), class_names=["bg", "disk"],
                                        config=config))
    assert seen == [(0.75, 0.5)]
    assert FinetuneConfig().prior_reach == 1.0  # the default every preset inherits
    assert FinetuneConfig().prior_beyond == 1.0


def _msd_like_task(root, n=3):
    """``n`` volumes (6, 10, 12) of noise with a bright box labelled 1/2 (MSD layout)."""
    import json

    import nibabel as nib

    rng = np.random.default_rng(0)
    ids = [f"hippocampus_{i:03d}" for i in range(n)]
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
    for i, cid in enumerate(ids):
        mask = np.zeros((6, 10, 12), np.uint8)
        mask[1:5, 3:7, 2 + i:6 + i] = 1
        mask[1:5, 3:7, 6 + i:9 + i] = 2
        image = (rng.random(mask.shape) * 50 + 100 * (mask > 0)).astype(np.float32)
        nib.save(nib.Nifti1Image(image, np.eye(4)), str(root / "imagesTr" / f"{cid}.nii.gz"))
        nib.save(nib.Nifti1Image(mask, np.eye(4)), str(root / "labelsTr" / f"{cid}.nii.gz"))
    meta = {"name": "Hippocampus", "labels": {"0": "background", "1": "A", "2": "P"},
            "training": [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"}
                         for c in ids]}
    (root / "dataset.json").write_text(json.dumps(meta))
    return ids


def strokes_of(mask):
    """One line through each structure's middle row, one of background, on slices 1-3."""
    scr = np.zeros(mask.shape, np.uint8)
    for z in (1, 2, 3):
        for c in (1, 2):
            ys, xs = np.nonzero(mask[z] == c)
            scr[z, 5, xs.min():xs.max() + 1] = c + 1
        scr[z, 0, :] = 1
    return scr


def test_dataset_strokes_give_each_labelled_volume_its_own_weights(tmp_path):
    from semicl.data.slices import to_slices
    from semicl.experiments.split import MsdSplit, load_training_data
    from semicl.interactive import image_prior_weight
    from semicl.io.msd import load_msd

    ids = _msd_like_task(tmp_path / "Task04")
    ds = load_msd(tmp_path / "Task04")
    split = MsdSplit(ids[:2], ids[2:], [], "test")
    kw = dict(axis=0, size=(12, 12), label_transform=strokes_of)
    data = load_training_data(ds, split, prior_reach=1.0, **kw)
    want = []
    for cid in ids[:2]:
        image, mask = next(c for c in ds.cases if c.case_id == cid).load()
        w = image_prior_weight(normalize_intensity(image.data), strokes_of(mask.data), 3, 0, 1.0)
        assert 0 < w.mean() < 1
        want.append(1 - to_slices(1 - w, 0, (12, 12))[0])  # the padded rows: weight 1
    want = np.concatenate(want)
    got = data.unlabelled_prior_weight.numpy()
    assert got.shape == (18, 12, 12) and got.shape[0] == len(data.unlabelled)
    np.testing.assert_array_equal(got[:12], want)
    assert (got[12:] == 1).all()  # the unlabelled volume keeps the full prior
    assert (got[:12, [0, 11]] == 1).all()  # padding
    painted = np.r_[1:4, 7:10]  # slices 1-3 of both labelled volumes
    np.testing.assert_array_equal(data.prior_weight.numpy(), want[painted])
    assert data.prior_weight.shape == data.targets.shape
    for no_weights in (load_training_data(ds, split, prior_reach=0.0, **kw),
                       load_training_data(ds, split, axis=0, size=(12, 12), prior_reach=1.0)):
        assert no_weights.prior_weight is None and no_weights.unlabelled_prior_weight is None
