"""Intensity normalisation, slicing, augmentation and in-memory slice sets.

Names are resolved lazily so ``import semicl.data`` does not import torch; importing a
submodule directly (``from semicl.data.slices import to_slices``) works as usual.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "normalize_intensity": "semicl.data.normalize",
    "SliceGeometry": "semicl.data.slices",
    "to_slices": "semicl.data.slices",
    "labels_to_slices": "semicl.data.slices",
    "from_slices": "semicl.data.slices",
    "SpatialAugment": "semicl.data.augment",
    "IntensityAugment": "semicl.data.augment",
    "TwoViewTransform": "semicl.data.augment",
    "SliceSet": "semicl.data.dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'semicl.data' has no attribute {name!r}")
