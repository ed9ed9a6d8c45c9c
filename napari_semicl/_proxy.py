"""napari's proxies of what a plugin is handed.

A plugin's viewer is a ``PublicOnlyProxy``: it warns on private attributes, and each
look-up of a layer (or of the layer list) hands out a new proxy, so two look-ups of one
layer are not ``is``-identical. What a proxy wraps is the object itself.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["unwrapped"]

T = TypeVar("T")


def unwrapped(obj: T) -> T:
    """The object behind napari's proxy (``obj`` itself when it is none)."""
    return getattr(obj, "__wrapped__", obj)
