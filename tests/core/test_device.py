"""Device resolution, seeding, autocast and threads."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from semicl import device as dev
from semicl.errors import DeviceError


@pytest.fixture()
def no_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)


@pytest.fixture()
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)


def test_auto_is_cpu_without_accelerators(no_accelerators):
    assert dev.resolve_device("auto") == torch.device("cpu")
    assert dev.resolve_device() == torch.device("cpu")
    assert dev.resolve_device(" CPU ") == torch.device("cpu")
    assert dev.available_devices() == ["cpu"]


def test_auto_on_this_machine():
    d = dev.resolve_device("auto")
    if not torch.cuda.is_available() and not dev._mps_available():
        assert d.type == "cpu"
    assert dev.available_devices()[0] == "cpu"


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_missing_raises_with_advice(no_accelerators, spec):
    with pytest.raises(DeviceError, match="--device cpu") as info:
        dev.resolve_device(spec)
    assert "CUDA" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_cuda_present(two_gpus):
    assert dev.resolve_device("auto").type == "cuda"
    assert dev.resolve_device("cuda") == torch.device("cuda")
    assert dev.resolve_device("cuda:1") == torch.device("cuda", 1)
    assert dev.available_devices() == ["cpu", "cuda:0", "cuda:1"]
    with pytest.raises(DeviceError, match="only 2 CUDA device"):
        dev.resolve_device("cuda:2")


def test_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    assert dev.resolve_device("auto") == torch.device("mps")
    assert dev.resolve_device("mps") == torch.device("mps")
    assert dev.available_devices() == ["cpu", "mps"]
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    with pytest.raises(DeviceError, match="--device cpu"):
        dev.resolve_device("mps")


@pytest.mark.parametrize("spec", ["gpu", "tpu", "cuda:x", "cuda:-1", "cpu:0x"])
def test_unknown_spec(spec):
    with pytest.raises(DeviceError, match="Unknown device"):
        dev.resolve_device(spec)


def test_torch_device_accepted():
    assert dev.resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_seed_everything_reproducible():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    dev.seed_everything(5)
    a = draw()
    dev.seed_everything(5)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    dev.seed_everything(6)
    assert draw()[0] != a[0]


def test_autocast_is_null_on_cpu():
    x = torch.randn(2, 2)
    with dev.autocast(torch.device("cpu"), enabled=True):
        assert (x @ x).dtype == torch.float32
    assert dev.amp_dtype("cpu") is None
    assert not dev.needs_grad_scaler("cpu", True)
    assert not dev.needs_grad_scaler("mps", True)


def test_cuda_amp_dtype_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert dev.amp_dtype("cuda") == torch.bfloat16
    assert not dev.needs_grad_scaler("cuda", True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert dev.amp_dtype("cuda") == torch.float16
    assert dev.needs_grad_scaler("cuda", True)
    assert not dev.needs_grad_scaler("cuda", False)
    assert dev.amp_dtype("cuda", enabled=False) is None


def test_set_cpu_threads():
    before = torch.get_num_threads()
    try:
        assert dev.set_cpu_threads(None) == before
        assert dev.set_cpu_threads(1) == 1
        with pytest.raises(DeviceError):
            dev.set_cpu_threads(0)
    finally:
        torch.set_num_threads(before)
