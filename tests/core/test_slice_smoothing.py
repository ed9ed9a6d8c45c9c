"""Smoothing a 2-D network's probabilities across slices (semicl.slice_smoothing)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from semicl.config import TrainConfig
from semicl.errors import SemiclError
from semicl.inference import predict
from semicl.models.network import SegmentationNet
from semicl.slice_smoothing import MIN_SIGMA, slice_sigma, slice_step, smooth_across_slices
from semicl.training.trained_model import TrainedModel


def smooth_field(shape, sigma, seed=0) -> np.ndarray:
    """An isotropic random texture: white noise blurred by the same Gaussian on every axis."""
    noise = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return gaussian_filter(noise, sigma, mode="wrap")


def test_an_isotropic_volume_steps_one_pixel_per_slice():
    vol = smooth_field((48, 48, 48), 3.0)
    for axis in range(3):
        assert slice_step(vol, axis) == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("every", [3, 5])
def test_slices_farther_apart_step_that_many_pixels(every):
    """Keeping every n-th slice of an isotropic texture: one slice step is n pixels."""
    vol = smooth_field((96, 64, 64), 4.0)[::every]
    assert slice_step(vol, 0) == pytest.approx(every, rel=0.2)
    sigma = slice_sigma(vol, 0, 1.0)
    if every == 3:
        assert sigma == pytest.approx(1 / 3, rel=0.2)
    else:  # a fifth of a slice: below MIN_SIGMA, left out
        assert sigma == 0.0


def test_unrelated_slices_are_far_and_not_smoothed():
    """Independent slices (serial sections far apart) change more than any in-plane offset."""
    vol = np.stack([smooth_field((64, 64), 3.0, seed=s) for s in range(8)])
    assert slice_step(vol, 0) > 8  # as far as texture three times the blur apart
    assert slice_sigma(vol, 0, 1.0) == 0.0  # 1/16 of a slice: below MIN_SIGMA, left out


def test_degenerate_inputs():
    assert slice_step(np.zeros((4, 8, 8)), 0) == 1.0  # constant: nothing to compare
    with pytest.raises(ValueError):
        slice_step(np.zeros((1, 8, 8)), 0)
    assert slice_sigma(np.zeros((8, 8)), 0, 1.0) == 0.0  # 2-D image
    assert slice_sigma(smooth_field((16, 16, 16), 2.0), 0, 0.0) == 0.0  # switched off
    assert slice_sigma(np.zeros((1, 8, 8)), 0, 1.0) == 0.0  # one slice
    assert MIN_SIGMA > 0


def test_smoothing_keeps_distributions_and_removes_a_lone_slice():
    """A structure on one slice only (the network's slice-to-slice noise) is averaged away;
    one spanning many slices stays, and every voxel still sums to 1."""
    probs = np.zeros((2, 20, 6, 6), np.float32)
    probs[0] = 1.0
    probs[0, 4], probs[1, 4] = 0.3, 0.7  # lone slice
    probs[0, 10:16], probs[1, 10:16] = 0.3, 0.7  # a structure six slices long
    out = smooth_across_slices(probs, 0, 1.0)
    assert out.shape == probs.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(0), 1.0, atol=1e-6)
    mask = out.argmax(0)
    assert not mask[4].any()
    assert mask[11:15].all()
    # the weights are the normalised Gaussian (sigma 1, cut at 4 sigma): the lone slice
    # keeps its own weight of its 0.7, its neighbours get theirs
    w = np.exp(-0.5 * np.arange(-4, 5) ** 2)
    w /= w.sum()
    np.testing.assert_allclose(out[1, 1:6, 0, 0], 0.7 * w[1:6], rtol=1e-4)
    assert smooth_across_slices(probs, 0, 0.0) is probs


def test_smoothing_runs_along_the_given_axis():
    probs = np.zeros((2, 6, 7, 8), np.float32)
    probs[0] = 1.0
    probs[:, :, :, 3] = [[[0.0]], [[1.0]]]
    out = smooth_across_slices(probs, 2, 1.0)
    np.testing.assert_allclose(out[1, :, :, 3], out[1, 0, 0, 3])  # constant along 0 and 1
    assert 0 < out[1, 0, 0, 2] < out[1, 0, 0, 3] < 1
    np.testing.assert_array_equal(smooth_across_slices(probs, -1, 1.0), out)  # numpy's count


def model_with(smoothing: float) -> TrainedModel:
    torch.manual_seed(0)
    cfg = TrainConfig(slice_smoothing=smoothing)
    net = SegmentationNet(cfg.model, 3).eval()
    return TrainedModel(net, cfg, ["background", "a", "b"], finetuned=True)


def test_a_models_prediction_of_a_volume_is_smoothed_across_slices():
    vol = smooth_field((12, 32, 32), 2.0)
    plain = model_with(0.0).predict(vol)
    smoothed = model_with(1.0).predict(vol)
    sigma = slice_sigma(vol, 0, 1.0)
    assert sigma > 0
    expected = smooth_across_slices(plain.probs, 0, sigma)
    np.testing.assert_allclose(smoothed.probs, expected, atol=1e-6)
    np.testing.assert_array_equal(smoothed.mask, expected.argmax(0))
    assert smoothed.mask.dtype == plain.mask.dtype
    # along another axis, the step is measured along that axis
    other = model_with(1.0).predict(vol, axis=2)
    np.testing.assert_allclose(other.probs, smooth_across_slices(
        model_with(0.0).predict(vol, axis=2).probs, 2, slice_sigma(vol, 2, 1.0)), atol=1e-6)


def test_a_2d_image_and_an_unsmoothing_model_predict_as_the_network():
    image = smooth_field((32, 32), 2.0)
    model = model_with(1.0)
    np.testing.assert_array_equal(model.predict(image).probs, predict(model.net, image).probs)
    vol = smooth_field((6, 32, 32), 2.0)
    np.testing.assert_array_equal(model_with(0.0).predict(vol).probs,
                                  predict(model_with(0.0).net, vol).probs)


def test_config_field_is_validated_and_old_files_load_without_it():
    with pytest.raises(SemiclError, match="slice_smoothing"):
        TrainConfig(slice_smoothing=-1.0).validate()
    saved = TrainConfig().to_dict()
    del saved["slice_smoothing"]  # a model file written before the field existed
    assert TrainConfig.from_dict(saved).slice_smoothing == 0.0
    from semicl.config import preset
    assert preset("quick").slice_smoothing == 1.0
    assert dataclasses.replace(preset("quick"), slice_smoothing=0).slice_smoothing == 0


def test_real_volumes_step_as_their_sampling(data_dir, msd_dir):
    """An MSD hippocampus crop (1-mm voxels) steps about a pixel per slice; ISBI-2012's
    serial EM sections (50 nm apart, 4-nm pixels) are far apart: not smoothed."""
    from semicl.io.readers import read_image

    mri = read_image(msd_dir / "imagesTr" / "hippocampus_015.nii.gz").data
    assert 0.7 < slice_step(mri, 0) < 1.4
    em_path = data_dir / "isbi2012_em" / "train-volume.tif"
    if not em_path.is_file():
        pytest.skip("ISBI data not present")
    em = read_image(em_path).data
    assert slice_sigma(em, 0, 1.0) == 0.0
