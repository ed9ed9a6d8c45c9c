"""An in-memory set of normalised 2-D slices with their targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from semicl.data.normalize import normalize_intensity
from semicl.data.slices import SliceGeometry, labels_to_slices, to_slices
from semicl.errors import DatasetError, LabelError, ShapeMismatchError
from semicl.labels import IGNORE_INDEX, mask_to_targets, scribbles_to_targets

KINDS = ("mask", "scribble")


@dataclass
class SliceSet:
    """Slices of one or more volumes, ready for training.

    Attributes
    ----------
    images : torch.Tensor
        ``(N, 1, H, W)`` float32, each volume normalised to ``[0, 1]``.
    targets : torch.Tensor or None
        ``(N, H, W)`` int64 class indices, ``-1`` = ignored; ``None`` for an unlabelled set.
    volume_ids : torch.Tensor
        ``(N,)`` int64: index of the source volume in the ``from_volumes`` lists.
    slice_ids : torch.Tensor
        ``(N,)`` int64: index of the slice within its volume.
    geometries : list of SliceGeometry
        One per source volume (indexed by ``volume_ids``), to map predictions back.
    """

    images: torch.Tensor
    targets: torch.Tensor | None
    volume_ids: torch.Tensor
    slice_ids: torch.Tensor
    geometries: list[SliceGeometry] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.ndim != 4 or self.images.shape[1] != 1:
            raise ShapeMismatchError(
                f"images must be (N, 1, H, W), got {tuple(self.images.shape)}."
            )
        if self.targets is not None and tuple(self.targets.shape) != (n, *self.images.shape[2:]):
            raise ShapeMismatchError(
                f"targets {tuple(self.targets.shape)} do not match images "
                f"{tuple(self.images.shape)}."
            )
        if self.volume_ids.shape != (n,) or self.slice_ids.shape != (n,):
            raise ShapeMismatchError("volume_ids and slice_ids must have one entry per slice.")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def slice_size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> SliceSet:
        """The slices at ``indices`` (integer indices or a boolean mask of length N)."""
        if not isinstance(indices, torch.Tensor):
            indices = np.asarray(indices)
        idx = torch.as_tensor(indices)
        if idx.dtype == torch.bool:
            idx = torch.nonzero(idx, as_tuple=False).flatten()
        idx = idx.to(torch.int64).reshape(-1)
        return SliceSet(
            images=self.images[idx],
            targets=None if self.targets is None else self.targets[idx],
            volume_ids=self.volume_ids[idx],
            slice_ids=self.slice_ids[idx],
            geometries=self.geometries,
        )

    def painted(self) -> torch.Tensor:
        """``(N,)`` bool: the slices with at least one labelled (non ``-1``) pixel."""
        if self.targets is None:
            return torch.zeros(len(self), dtype=torch.bool)
        return (self.targets != IGNORE_INDEX).flatten(1).any(dim=1)

    def labelled(self) -> SliceSet:
        """The slices with at least one labelled (non ``-1``) pixel; empty if unlabelled."""
        return self.subset(self.painted())

    @classmethod
    def from_volumes(
        cls,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray | None] | None = None,
        *,
        axis: int = 0,
        size: tuple[int, int] | None = None,
        kind: str = "mask",
        num_classes: int | None = None,
    ) -> SliceSet:
        """Normalise, slice and stack volumes (and convert their labels to targets).

        Parameters
        ----------
        images : sequence of np.ndarray
            2-D ``(H, W)`` or 3-D volumes (or :class:`~semicl.io.volume.ImageVolume`).
        labels : sequence of (np.ndarray or None), or None
            Same shapes as ``images``. ``kind='mask'``: dense masks (0 background, padded
            pixels become background); ``kind='scribble'``: scribbles (0 unpainted, padded
            pixels ignored). A ``None`` entry gives all ``-1`` targets; ``labels=None`` gives
            an unlabelled set (``targets is None``).
        axis : int
            Slicing axis of 3-D volumes.
        size : (int, int) or None
            Slice size (centre pad/crop); ``None`` keeps the native size, which must then be
            the same for every volume.
        kind : {'mask', 'scribble'}
        num_classes : int, optional
            Number of classes including background, to validate label values.

        Raises
        ------
        DatasetError, ShapeMismatchError, LabelError, InvalidImageError
        """
        if kind not in KINDS:
            raise LabelError(f"kind must be 'mask' or 'scribble', got {kind!r}.")
        if len(images) == 0:
            raise DatasetError("No volumes given; add at least one image.")
        if labels is not None and len(labels) != len(images):
            raise ShapeMismatchError(
                f"Got {len(images)} images but {len(labels)} label volumes; give one per image."
            )
        imgs, tgts, vids, sids, geoms = [], [], [], [], []
        for v, volume in enumerate(images):
            volume = np.asarray(getattr(volume, "data", volume))
            slices, geom = to_slices(normalize_intensity(volume), axis, size)
            imgs.append(slices)
            geoms.append(geom)
            vids.append(np.full(len(slices), v, dtype=np.int64))
            sids.append(np.arange(len(slices), dtype=np.int64))
            if labels is not None:
                tgts.append(_targets(labels[v], geom, kind, num_classes, v))
        shapes = {s.shape[1:] for s in imgs}
        if len(shapes) > 1:
            raise ShapeMismatchError(
                f"Slices have different sizes {sorted(shapes)}; pass size=(H, W) "
                "(e.g. (64, 64)) so every slice is padded/cropped to one size."
            )
        return cls(
            images=torch.from_numpy(np.concatenate(imgs))[:, None],
            targets=None if labels is None else torch.from_numpy(np.concatenate(tgts)),
            volume_ids=torch.from_numpy(np.concatenate(vids)),
            slice_ids=torch.from_numpy(np.concatenate(sids)),
            geometries=geoms,
        )


def _targets(
    label, geom: SliceGeometry, kind: str, num_classes: int | None, index: int
) -> np.ndarray:
    """``(S, H, W)`` int64 targets for volume ``index``."""
    if label is None:
        return np.full((geom.num_slices, *geom.size), IGNORE_INDEX, dtype=np.int64)
    label = np.asarray(getattr(label, "data", label))
    if tuple(label.shape) != geom.shape:
        raise ShapeMismatchError(
            f"Labels of volume {index} have shape {tuple(label.shape)} but the image has shape "
            f"{geom.shape}; draw labels on the same grid as the image."
        )
    if kind == "mask":
        targets, fill = mask_to_targets(label, num_classes), 0
    else:
        targets, fill = scribbles_to_targets(label, num_classes), IGNORE_INDEX
    return labels_to_slices(targets, geom, fill=fill).astype(np.int64, copy=False)
