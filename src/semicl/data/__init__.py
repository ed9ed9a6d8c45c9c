"""Intensity normalisation, slicing, augmentation, training windows and in-memory slice sets.

Import from the submodules (``from semicl.data.slices import to_slices``); the package
itself holds no names, so ``import semicl.data`` does not import torch.
"""
