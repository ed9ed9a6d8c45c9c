"""Batched, seeded tensor augmentations for contrastive and supervised training.

All transforms work on ``(B, C, H, W)`` float image batches (``C = 1`` here) and optional
aligned ``(B, H, W)`` int64 targets (``-1`` = ignored), on the tensors' device. Every random
draw comes from the ``torch.Generator`` passed in (parameters are drawn on the generator's
device and moved to the data), so a seeded generator reproduces a run exactly.

The geometric part is written with ``torch.nn.functional.affine_grid``/``grid_sample``
rather than kornia: kornia's random augmentations draw from torch's global RNG (no
``generator`` argument), and its mask path pads with a constant instead of marking
out-of-image target pixels as ignored. Here one affine per sample is applied to the image
(bilinear, zero padding) and its targets (nearest; pixels that come from outside the image
become ``-1``), so labels stay exact integers and aligned with the image.

Inputs are never modified in place and every call returns new tensors, so two calls on one
batch give two independent views: the reference code's two stage-2 "views" were the same
buffer (docs/method.md §7.1). The stages build their two views from these transforms
(:mod:`semicl.training.stages`; tests/core/test_stage_views.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from semicl.errors import InvalidImageError, ShapeMismatchError

Pair = tuple[torch.Tensor, torch.Tensor | None]


def _check(images: torch.Tensor, targets: torch.Tensor | None) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InvalidImageError(
            f"Augmentations take a float (B, C, H, W) image tensor, got {shape}."
        )
    if targets is not None:
        if targets.shape != (images.shape[0], *images.shape[2:]):
            raise ShapeMismatchError(
                f"Targets of shape {tuple(targets.shape)} do not match images "
                f"{tuple(images.shape)}; expected (B, H, W)."
            )
        if targets.is_floating_point():
            raise InvalidImageError("Targets must be an integer (int64) tensor of class indices.")


def _uniform(
    n: int, lo: float, hi: float, generator: torch.Generator | None, device
) -> torch.Tensor:
    """``n`` draws from U(lo, hi) as float64 on ``device``."""
    gdev = generator.device if generator is not None else "cpu"
    u = torch.rand(n, generator=generator, device=gdev, dtype=torch.float64)
    return (lo + (hi - lo) * u).to(device)


def _range(name: str, value, low_bound: float = -math.inf) -> tuple[float, float]:
    lo, hi = (float(value[0]), float(value[1]))
    if not (low_bound <= lo <= hi):
        raise ValueError(
            f"{name} must be a range (lo, hi) with {low_bound} <= lo <= hi, got {value}."
        )
    return lo, hi


@dataclass
class SpatialAugment:
    """One random affine per sample: crop window, zoom, rotation, horizontal flip.

    Parameters
    ----------
    scale : (float, float)
        Zoom factor range (> 1 zooms in).
    rotation_deg : float
        Rotation drawn from ``U(-rotation_deg, rotation_deg)`` degrees.
    flip : bool
        Mirror left-right with probability 0.5 (off by default: anatomy is rarely
        mirror-symmetric within a slice).
    crop : (float, float)
        Side of the sampled window as a fraction of the image side; the window is placed
        uniformly inside the image and resized to full size (random resized crop).
    image_mode : str
        ``'bilinear'`` (default) or ``'nearest'`` interpolation of images.

    Notes
    -----
    In normalised output coordinates ``x``, the input is read at
    ``t + (c / s) * D^-1 R D F x`` with ``D = diag(W/2, H/2)`` (so rotation is rigid on
    non-square images), ``F`` the flip and ``t`` the window centre.
    """

    scale: tuple[float, float] = (0.7, 1.3)
    rotation_deg: float = 15.0
    flip: bool = False
    crop: tuple[float, float] = (0.6, 1.0)
    image_mode: str = "bilinear"

    def __post_init__(self) -> None:
        self.scale = _range("scale", self.scale, 1e-6)
        self.crop = _range("crop", self.crop, 1e-6)
        if self.crop[1] > 1.0:
            raise ValueError(f"crop fractions must be <= 1, got {self.crop}.")
        if self.rotation_deg < 0:
            raise ValueError(f"rotation_deg must be >= 0, got {self.rotation_deg}.")
        if self.image_mode not in ("bilinear", "nearest"):
            raise ValueError(
                f"image_mode must be 'bilinear' or 'nearest', got {self.image_mode!r}."
            )

    def sample(
        self, batch: int, height: int, width: int, generator=None, device="cpu"
    ) -> torch.Tensor:
        """Draw ``(B, 2, 3)`` float64 ``affine_grid`` matrices (output -> input coordinates)."""
        c = _uniform(batch, *self.crop, generator, device)
        s = _uniform(batch, *self.scale, generator, device)
        r = math.radians(self.rotation_deg)
        angle = _uniform(batch, -r, r, generator, device)
        flip = _uniform(batch, 0.0, 1.0, generator, device)
        fx = torch.where(flip < 0.5, -1.0, 1.0) if self.flip else torch.ones_like(flip)
        tx = _uniform(batch, -1.0, 1.0, generator, device) * (1 - c)
        ty = _uniform(batch, -1.0, 1.0, generator, device) * (1 - c)
        a = c / s
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.zeros(batch, 2, 3, dtype=torch.float64, device=device)
        theta[:, 0, 0] = a * cos * fx
        theta[:, 0, 1] = -a * sin * (height / width)
        theta[:, 1, 0] = a * sin * (width / height) * fx
        theta[:, 1, 1] = a * cos
        theta[:, 0, 2] = tx
        theta[:, 1, 2] = ty
        return theta

    def apply(
        self, images: torch.Tensor, targets: torch.Tensor | None, theta: torch.Tensor
    ) -> Pair:
        """Warp ``images (B, C, H, W)`` and ``targets (B, H, W)`` with ``theta (B, 2, 3)``."""
        _check(images, targets)
        grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
        out = F.grid_sample(
            images, grid, mode=self.image_mode, padding_mode="zeros", align_corners=False
        )
        if targets is None:
            return out, None
        # Shift by +1 so that zero padding lands on -1 (ignored) after shifting back.
        # float32 at least: class indices are exact in float32 up to 2**24.
        shifted = (targets + 1).to(torch.promote_types(images.dtype, torch.float32))
        warped = F.grid_sample(
            shifted[:, None],
            grid.to(shifted.dtype),
            mode="nearest",
            padding_mode="zeros",
            align_corners=False,
        )
        return out, warped[:, 0].round().to(torch.int64) - 1

    def __call__(
        self, images: torch.Tensor, targets: torch.Tensor | None = None, generator=None
    ) -> Pair:
        """Apply one random geometry per sample; returns new ``(images, targets)``."""
        _check(images, targets)
        b, _, h, w = images.shape
        theta = self.sample(b, h, w, generator, images.device)
        return self.apply(images, targets, theta)


@dataclass
class IntensityAugment:
    """Per-sample gamma, contrast, brightness and Gaussian noise (in that order).

    Parameters
    ----------
    brightness : float
        Additive shift from ``U(-brightness, brightness)``.
    contrast : (float, float)
        Factor about the sample mean.
    gamma : (float, float)
        Exponent applied to ``clamp(x, min=0)`` (images are expected in ``[0, 1]``).
    noise_std : float
        Standard deviation of additive Gaussian noise.

    A transform whose range is degenerate (0, (1, 1)) is skipped, so all-degenerate
    parameters give the identity. Output is not clipped.
    """

    brightness: float = 0.1
    contrast: tuple[float, float] = (0.8, 1.2)
    gamma: tuple[float, float] = (0.7, 1.5)
    noise_std: float = 0.03

    def __post_init__(self) -> None:
        self.contrast = _range("contrast", self.contrast, 0.0)
        self.gamma = _range("gamma", self.gamma, 1e-6)
        if self.brightness < 0 or self.noise_std < 0:
            raise ValueError("brightness and noise_std must be >= 0.")

    def __call__(
        self, images: torch.Tensor, targets: torch.Tensor | None = None, generator=None
    ) -> Pair:
        """Return new ``(images, targets)``; targets pass through unchanged (not copied)."""
        _check(images, targets)
        b, dev, dt = images.shape[0], images.device, images.dtype
        per = (b, 1, 1, 1)
        out = images.clone()
        if self.gamma != (1.0, 1.0):
            g = _uniform(b, *self.gamma, generator, dev).to(dt).view(per)
            out = out.clamp_min(0) ** g
        if self.contrast != (1.0, 1.0):
            k = _uniform(b, *self.contrast, generator, dev).to(dt).view(per)
            mean = out.mean(dim=(1, 2, 3), keepdim=True)
            out = (out - mean) * k + mean
        if self.brightness > 0:
            shift = _uniform(b, -self.brightness, self.brightness, generator, dev)
            out = out + shift.to(dt).view(per)
        if self.noise_std > 0:
            gdev = generator.device if generator is not None else "cpu"
            noise = torch.randn(images.shape, generator=generator, device=gdev, dtype=dt).to(dev)
            out = out + self.noise_std * noise
        return out, targets
