"""Slices imaged apart (serial sections): detected, standardised one by one in training and
prediction alike (semicl.data.normalize.standardise_sections,
semicl.slice_smoothing.sections_imaged_apart, semicl.inference.normalise_image,
TrainConfig.sections)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from semicl.config import ModelConfig, TrainConfig
from semicl.data.normalize import normalize_intensity, standardise_sections
from semicl.errors import SemiclError
from semicl.events import drive
from semicl.inference import normalise_image
from semicl.interactive import prepare_image_data, training_round
from semicl.models.network import SegmentationNet
from semicl.scribbles import scribble_volume
from semicl.slice_smoothing import sections_imaged_apart
from semicl.training.trained_model import TrainedModel

CLASSES = ["background", "disk"]


def texture(shape, sigma=3.0, seed=0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return gaussian_filter(noise, sigma, mode="wrap")


def sections(n=8, size=48, jumps=True) -> np.ndarray:
    """``n`` unrelated textures (serial sections), each with its own brightness and
    contrast when ``jumps``."""
    out = []
    for s in range(n):
        sec = texture((size, size), seed=s)
        sec = (sec - sec.mean()) / sec.std()
        out.append(sec * (1 + 0.4 * (s % 3)) + 3 * (s % 2) if jumps else sec)
    return np.stack(out).astype(np.float32) + 10


def test_each_slice_takes_the_volumes_mean_and_spread():
    vol = sections()
    for axis in range(3):
        moved = np.moveaxis(vol, 0, axis)
        out = standardise_sections(moved, axis)
        assert out.dtype == np.float32 and out.shape == moved.shape
        back = np.moveaxis(out, axis, 0).reshape(len(vol), -1)
        np.testing.assert_allclose(back.mean(1), vol.mean(), rtol=1e-5)
        np.testing.assert_allclose(back.std(1), vol.std(), rtol=1e-4)
    # within a slice only the grey levels' scale and offset change: slices that differ by
    # an affine map of grey levels come out the same
    base = texture((3, 16, 16))[0]
    base = (base - base.mean()) / base.std()
    pair = np.stack([base, 0.5 * base + 3, 2 * base - 1])
    out = standardise_sections(pair, 0)
    np.testing.assert_allclose(out[1], out[0], atol=1e-5)
    np.testing.assert_allclose(out[2], out[0], atol=1e-5)


def test_a_flat_slice_and_a_2d_image_stay_as_they_are():
    vol = sections(4)
    vol[2] = 7.0  # a blank section
    out = standardise_sections(vol, 0)
    np.testing.assert_array_equal(out[2], 7.0)
    image = texture((16, 16))
    np.testing.assert_array_equal(standardise_sections(image, 0), image)


def test_unrelated_slices_are_imaged_apart_an_mri_is_not():
    assert sections_imaged_apart(sections(), 0)
    iso = texture((48, 48, 48), sigma=4.0)
    assert not any(sections_imaged_apart(iso, axis) for axis in range(3))
    assert not sections_imaged_apart(iso[::8], 0)  # thick slices, still continuous
    assert not sections_imaged_apart(iso[0], 0)  # 2-D
    assert not sections_imaged_apart(iso[:1], 0)  # one slice


def test_normalise_image_standardises_only_when_asked_or_apart():
    serial, iso = sections(), texture((12, 40, 40), sigma=4.0) * 5 + 3
    for vol in (serial, iso):  # "off" is the plain normalisation, bit for bit
        norm, apart = normalise_image(vol, 0, "off")
        assert not apart
        np.testing.assert_array_equal(norm, normalize_intensity(vol))
    norm, apart = normalise_image(iso, 0, "auto")
    assert not apart
    np.testing.assert_array_equal(norm, normalize_intensity(iso))
    norm, apart = normalise_image(serial, 0, "auto")
    assert apart and norm.min() == 0 and norm.max() == 1
    means = norm.reshape(len(norm), -1).mean(1)
    raw = normalize_intensity(serial).reshape(len(serial), -1).mean(1)
    assert np.ptp(means) < 0.2 * np.ptp(raw)  # the brightness jumps are gone
    assert normalise_image(iso, 0, "on")[1]


def test_config_field_is_validated_and_old_files_do_not_standardise():
    assert TrainConfig().sections == "auto"
    with pytest.raises(SemiclError, match="sections"):
        TrainConfig(sections="yes").validate()
    saved = TrainConfig().to_dict()
    assert TrainConfig.from_dict(saved).sections == "auto"
    del saved["sections"]  # a model file written before the field existed
    assert TrainConfig.from_dict(saved).sections == "off"


def model_with(sections: str) -> TrainedModel:
    torch.manual_seed(0)
    net = SegmentationNet(ModelConfig(base_width=4, depth=2, global_dim=8, local_dim=8,
                                      norm="batch"), num_classes=2)
    with torch.no_grad():  # batch statistics away from the identity, as after training
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    config = dataclasses.replace(TrainConfig(device="cpu"), sections=sections)
    return TrainedModel(net, config, CLASSES, finetuned=True)


def test_a_model_trained_on_standardised_sections_ignores_a_sections_brightness():
    """The same sections, one of them darker and flatter: a model saved with "on"
    predicts them alike; one that does not standardise ("off", and "auto" — a model
    trained on a dataset) answers the darker section differently."""
    vol = sections(6)
    darker = vol.copy()
    darker[3] = 0.6 * vol[3] - 2
    on = model_with("on")
    np.testing.assert_allclose(on.predict(darker).probs, on.predict(vol).probs, atol=1e-4)
    for mode in ("off", "auto"):
        plain = model_with(mode)
        assert np.abs(plain.predict(darker).probs[:, 3] - plain.predict(vol).probs[:, 3]
                      ).max() > 1e-3


def strokes_on(vol: np.ndarray) -> np.ndarray:
    mask = (vol > np.median(vol)).astype(np.uint8)
    return scribble_volume(mask, [1, 4], 0, rng=np.random.default_rng(0))


def test_a_round_decides_on_its_image_and_saves_the_decision():
    from tests.core.test_interactive import tiny_config

    serial = sections(6, 32)
    iso = texture((6, 32, 32), sigma=3.0)  # continuous from slice to slice
    for vol, expected in ((serial, "on"), (iso, "off")):
        data = prepare_image_data(vol, strokes_on(vol), CLASSES, sections="auto")
        assert data.standardised == (expected == "on")
        result = drive(training_round(vol, strokes_on(vol), class_names=CLASSES,
                                      config=tiny_config(members=1), pretrain=False))
        assert result.model.config.sections == expected
    plain = prepare_image_data(serial, strokes_on(serial), CLASSES)  # the default: off
    assert not plain.standardised
    np.testing.assert_array_equal(plain.unlabelled[:, 0].numpy(), normalize_intensity(serial))


def test_real_serial_sections_are_apart_an_mri_is_not(data_dir, msd_dir):
    from semicl.io.readers import read_image

    mri = read_image(msd_dir / "imagesTr" / "hippocampus_015.nii.gz").data
    assert not any(sections_imaged_apart(mri, axis) for axis in range(3))
    em_path = data_dir / "isbi2012_em" / "train-volume.tif"
    if not em_path.is_file():
        pytest.skip("ISBI data not present")
    em = read_image(em_path).data
    assert sections_imaged_apart(em, 0)
    assert not sections_imaged_apart(em, 1)  # across a section: continuous
