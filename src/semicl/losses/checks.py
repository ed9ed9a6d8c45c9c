"""Input checks shared by the losses; each raises with a message that says what to pass."""

from __future__ import annotations

import math

import torch

from semicl.errors import LabelError, ShapeMismatchError


def check_temperature(temperature: float) -> float:
    """``temperature`` as a float; raises ValueError unless it is a finite number ``> 0``."""
    if isinstance(temperature, bool) or not (
        isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0
    ):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}.")
    return float(temperature)


def check_view_pair(a: torch.Tensor, b: torch.Tensor, names: str, layout: str) -> None:
    """Two float tensors of one shape ``layout`` (e.g. ``(B, D)``), with B, D >= 1.

    ``names`` reads e.g. ``"z1 and z2"``; the rank is the number of dims in ``layout``.
    """
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise ShapeMismatchError(f"{names} must be torch tensors.")
    ndim = layout.count(",") + 1
    if a.dim() != ndim or a.shape != b.shape or a.shape[0] < 1 or a.shape[1] < 1:
        raise ShapeMismatchError(
            f"{names} must both be {layout} with B, D >= 1; got {tuple(a.shape)} and "
            f"{tuple(b.shape)}."
        )
    if not (a.is_floating_point() and b.is_floating_point()):
        raise ShapeMismatchError(f"{names} must be float tensors, got {a.dtype} and {b.dtype}.")


def check_targets(targets: torch.Tensor, like: torch.Tensor, like_name: str) -> None:
    """``targets`` (B, H, W) integer class indices on the device of ``like`` (B, ., H, W)."""
    b, _, h, w = like.shape
    if tuple(targets.shape) != (b, h, w):
        raise ShapeMismatchError(
            f"targets must be (B, H, W) = {(b, h, w)} to match {like_name} "
            f"{tuple(like.shape)}, got {tuple(targets.shape)}."
        )
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise LabelError(f"targets must be an integer tensor (int64), got {targets.dtype}.")
    if targets.device != like.device:
        raise ShapeMismatchError(
            f"targets are on {targets.device} but {like_name} on {like.device}."
        )
