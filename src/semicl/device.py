"""Compute devices, seeding, mixed precision and CPU threads.

``resolve_device("auto")`` picks CUDA, then Apple MPS, then the CPU. Asking for a device
that is not there raises :class:`~semicl.errors.DeviceError` with what to do instead, rather
than failing later inside torch.

Mixed precision: on CUDA :func:`autocast` uses bfloat16 where the GPU supports it, else
float16 (which needs a gradient scaler, see :func:`needs_grad_scaler`). On CPU and MPS it is
a no-op: CPU bfloat16 autocast is slow on most CPUs and MPS support varies between torch
versions.
"""

from __future__ import annotations

import contextlib
import gc
import random
import re
from collections.abc import Iterator

import numpy as np
import torch

from semicl.errors import DeviceError

_CPU_HINT = "use --device cpu (or 'auto')"
_CUDA_HINT = "or install a CUDA build of PyTorch (see https://pytorch.org/get-started/)"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Devices usable here: ``"cpu"``, then ``"cuda:0"``, ``"cuda:1"``, ..., then ``"mps"``."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        out.append("mps")
    return out


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn a user's device string into a :class:`torch.device` that exists here.

    Parameters
    ----------
    spec : str or torch.device
        ``"auto"`` (CUDA if available, else MPS, else CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``; case and surrounding spaces are ignored.

    Returns
    -------
    torch.device

    Raises
    ------
    DeviceError
        Unknown spec, or the requested accelerator (or CUDA index) is not available.
    """
    s = str(spec).strip().lower()
    if s in ("", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if s == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", s)
    if m:
        if not torch.cuda.is_available():
            built = torch.version.cuda is not None
            why = (
                "no CUDA GPU is visible (check the driver and CUDA_VISIBLE_DEVICES)"
                if built
                else "this PyTorch build has no CUDA support"
            )
            raise DeviceError(
                f"Device {spec!r} was requested but {why}; {_CPU_HINT}, {_CUDA_HINT}."
            )
        if m.group(1) is None:
            return torch.device("cuda")
        idx = int(m.group(1))
        n = torch.cuda.device_count()
        if idx >= n:
            raise DeviceError(
                f"Device {spec!r} was requested but only {n} CUDA device(s) exist "
                f"(cuda:0..cuda:{n - 1}); pick one of {available_devices()} or {_CPU_HINT}."
            )
        return torch.device("cuda", idx)
    if s in ("mps", "mps:0"):
        if not _mps_available():
            raise DeviceError(
                f"Device {spec!r} (Apple Metal) was requested but is not available on this "
                f"machine or PyTorch build; {_CPU_HINT}."
            )
        return torch.device("mps")
    raise DeviceError(
        f"Unknown device {spec!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' "
        f"(available here: {available_devices()})."
    )


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all GPUs).

    Parameters
    ----------
    seed : int
        Any non-negative integer.
    """
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def amp_dtype(device: torch.device | str, enabled: bool = True) -> torch.dtype | None:
    """The autocast dtype :func:`autocast` would use, or ``None`` when it does nothing."""
    dev = torch.device(device)
    if not enabled or dev.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device | str, enabled: bool = True) -> Iterator[None]:
    """Mixed-precision context: CUDA bf16 (fp16 on older GPUs); CPU/MPS: nothing.

    Parameters
    ----------
    device : torch.device or str
        The device the forward pass runs on.
    enabled : bool
        ``False`` makes this a null context everywhere.
    """
    dtype = amp_dtype(device, enabled)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type="cuda", dtype=dtype):
        yield


def needs_grad_scaler(device: torch.device | str, enabled: bool = True) -> bool:
    """Whether training needs a ``torch.amp.GradScaler``: only for float16 autocast on CUDA."""
    return amp_dtype(device, enabled) == torch.float16


def set_cpu_threads(n: int | None) -> int:
    """Set torch's intra-op CPU thread count.

    Parameters
    ----------
    n : int or None
        Threads to use (>= 1); ``None`` leaves the current setting.

    Returns
    -------
    int
        The thread count in effect afterwards.
    """
    if n is not None:
        if int(n) < 1:
            raise DeviceError(f"The number of CPU threads must be >= 1, got {n}.")
        torch.set_num_threads(int(n))
    return torch.get_num_threads()


def release_memory(device: torch.device | str) -> None:
    """Give a GPU's cached, unused memory back to the driver (and so to other programs).

    PyTorch's caching allocator keeps the memory of freed tensors (a training run's
    activations, a prediction's batches) for reuse; inside a long-lived program such as
    napari it would stay held until the program exits. Called after training and after
    prediction; tensors still referenced (the trained network) stay. A no-op elsewhere.
    """
    dev = torch.device(device)
    if dev.type != "cuda" or not torch.cuda.is_initialized():
        return
    gc.collect()  # generators and autograd graphs in reference cycles still hold tensors
    with torch.cuda.device(dev):
        clear_workspaces = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
        if clear_workspaces is not None:  # cuBLAS keeps a workspace per stream otherwise
            clear_workspaces()
        torch.cuda.empty_cache()
