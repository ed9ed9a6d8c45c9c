"""The tensors a training run needs, gathered once and kept in memory."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from semicl.errors import LabelError
from semicl.labels import check_trainable


@dataclass
class TrainingData:
    """Pre-normalised slices for the three stages.

    Attributes
    ----------
    unlabelled
        (N, 1, H, W) float32: every slice available to the self-supervised stages
        (labelled slices included).
    images
        (M, 1, H, W) float32: slices with at least one labelled pixel.
    targets
        (M, H, W) int64: -1 = ignored, 0 = background, k = structure k.
    class_names
        One name per class, background first.
    preview
        (P, 1, H, W) float32 or None: slices of the image shown live while fine-tuning
        (interactive use); indexed by :attr:`TrainControl.preview_slice`.
    prior_weight, unlabelled_prior_weight
        (M, H, W) and (N, H, W) float32 in [0, 1], or None (1 everywhere): the weight of
        the background prior on each pixel of ``images`` and ``unlabelled``
        (:func:`semicl.prior_weight.prior_weight`; training from strokes only).
    """

    unlabelled: torch.Tensor
    images: torch.Tensor
    targets: torch.Tensor
    class_names: list[str]
    preview: torch.Tensor | None = None
    prior_weight: torch.Tensor | None = None
    unlabelled_prior_weight: torch.Tensor | None = None
    previous: torch.Tensor | None = None
    unlabelled_previous: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] != 1:
            raise ValueError(f"images must be (M, 1, H, W), got {tuple(self.images.shape)}")
        if self.targets.shape != (self.images.shape[0], *self.images.shape[2:]):
            raise ValueError(
                f"targets {tuple(self.targets.shape)} do not match images {tuple(self.images.shape)}"
            )
        if self.unlabelled.ndim != 4:
            raise ValueError(f"unlabelled must be (N, 1, H, W), got {tuple(self.unlabelled.shape)}")
        for name, weight, like in (("prior_weight", self.prior_weight, self.targets),
                                   ("unlabelled_prior_weight", self.unlabelled_prior_weight,
                                    self.unlabelled[:, 0])):
            if weight is not None and weight.shape != like.shape:
                raise ValueError(f"{name} {tuple(weight.shape)} does not match {tuple(like.shape)}")
        if (self.previous is None) != (self.unlabelled_previous is None):
            raise ValueError("previous and unlabelled_previous come together (or not at all)")
        for name, answer, like in (("previous", self.previous, self.images),
                                   ("unlabelled_previous", self.unlabelled_previous,
                                    self.unlabelled)):
            if answer is not None and (answer.ndim != 4 or answer.shape[0] != like.shape[0]
                                       or answer.shape[2:] != like.shape[2:]):
                raise ValueError(f"{name} {tuple(answer.shape)} does not match "
                                 f"{tuple(like.shape)} (one (C, H, W) answer a slice)")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def check(self) -> None:
        """Raise :class:`LabelError` if the targets cannot train a model."""
        if self.images.shape[0] == 0:
            raise LabelError("No labelled slices: paint or load labels before training.")
        check_trainable(self.targets.numpy(), self.class_names)
        top = int(self.targets.max())
        if top >= self.num_classes:
            raise LabelError(
                f"Targets contain class {top} but only {self.num_classes} classes are named."
            )

    @property
    def holds_previous(self) -> bool:
        """An answer of the previous round comes along, with one probability a class."""
        return self.previous is not None and self.previous.shape[1] == self.num_classes

    def to(self, device: torch.device) -> TrainingData:
        moved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        moved["class_names"] = list(self.class_names)
        return TrainingData(**{k: v.to(device) if isinstance(v, torch.Tensor) else v
                               for k, v in moved.items()})
