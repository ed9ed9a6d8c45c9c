"""The full model: a U-Net backbone with a global, a local and a segmentation head.

One network serves all three stages, so weights flow between stages without any
``strict=False`` key juggling (docs/method.md §2, §7.3):

* stage 1 (global) trains ``unet`` encoder + bottleneck and ``global_head``
  (:meth:`SegmentationNet.global_embedding`);
* stage 2 (local) trains the whole ``unet`` and ``local_head``
  (:meth:`SegmentationNet.local_embedding`);
* stage 3 (fine-tuning) trains the whole ``unet`` and ``seg_head``
  (:meth:`SegmentationNet.forward`).

Head sizes: the global head is ``bottleneck_channels → bottleneck_channels → global_dim``
(as the reference ``512 → 512 → 256``); the local head is ``base_width → local_dim →
local_dim`` (the reference uses a hidden width of 256 for 128-d embeddings; ``local_dim``
keeps the full-resolution hidden map smaller).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import Tensor, nn

from semicl.config import ModelConfig
from semicl.models.heads import DenseProjectionHead, GlobalProjectionHead, SegmentationHead
from semicl.models.unet import UNet, check_image_batch
from semicl.stage import TRAINING_STAGES, Stage

#: the head each training stage trains (``head_parameters`` names heads after their modules)
_STAGE_HEADS = {Stage.GLOBAL: "global", Stage.LOCAL: "local", Stage.FINETUNE: "seg"}


@contextlib.contextmanager
def evaluating(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in eval mode inside the block (frozen batch statistics, no dropout), back in
    the mode it had afterwards, also when the block raises or a generator around it is
    closed."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


class SegmentationNet(nn.Module):
    """U-Net + global projection head + dense projection head + segmentation head.

    Parameters
    ----------
    model_cfg : ModelConfig
        ``in_channels``, ``base_width``, ``depth``, ``global_dim``, ``local_dim``.
    num_classes : int
        Segmentation classes, background included (>= 2).

    Attributes
    ----------
    unet : UNet
    global_head : GlobalProjectionHead
        On the bottleneck (pooled over the pixels covering the un-padded input).
    local_head : DenseProjectionHead
        On the full-resolution decoder features.
    seg_head : SegmentationHead
        On the full-resolution decoder features.
    num_classes : int
    in_channels : int
    """

    def __init__(self, model_cfg: ModelConfig, num_classes: int) -> None:
        super().__init__()
        model_cfg.validate()
        if num_classes < 2:
            raise ValueError(
                "num_classes must be >= 2 (background + at least one structure), "
                f"got {num_classes}."
            )
        self.model_cfg = model_cfg
        self.num_classes = int(num_classes)
        self.in_channels = model_cfg.in_channels
        self.unet = UNet(model_cfg.in_channels, model_cfg.base_width, model_cfg.depth,
                         # "auto" is decided by the training pipeline; built directly: instance
                         "instance" if model_cfg.norm == "auto" else model_cfg.norm)
        bc = self.unet.bottleneck_channels
        self.global_head = GlobalProjectionHead(bc, bc, model_cfg.global_dim)
        self.local_head = DenseProjectionHead(
            model_cfg.base_width, model_cfg.local_dim, model_cfg.local_dim
        )
        self.seg_head = SegmentationHead(model_cfg.base_width, self.num_classes)

    def _check(self, x: Tensor) -> None:
        check_image_batch(x, self.in_channels)

    def features(self, x: Tensor) -> Tensor:
        """Full-resolution decoder features.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, H, W)

        Returns
        -------
        Tensor, shape (B, base_width, H, W)
        """
        self._check(x)
        return self.unet(x)

    def forward(self, x: Tensor) -> Tensor:
        """Segmentation logits.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, H, W)
            Image batch, any H, W.

        Returns
        -------
        Tensor, shape (B, num_classes, H, W)
            Logits (no softmax).
        """
        return self.seg_head(self.features(x))

    def global_embedding(self, x: Tensor) -> Tensor:
        """Global (image-level) projection of the bottleneck, for the SimCLR loss.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, H, W)

        Returns
        -------
        Tensor, shape (B, global_dim)
            Not normalised.
        """
        self._check(x)
        feats = self.unet.encode(x)
        return self.global_head(self.unet.valid_bottleneck(feats))

    def local_embedding(self, x: Tensor) -> Tensor:
        """Dense (pixel-level) embeddings, for the local contrastive losses.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, H, W)

        Returns
        -------
        Tensor, shape (B, local_dim, H, W)
            Not normalised.
        """
        return self.local_head(self.features(x))

    # ------------------------------------------------------------ parameter groups
    def encoder_parameters(self) -> Iterator[nn.Parameter]:
        """U-Net encoder and bottleneck parameters."""
        return self.unet.encoder_parameters()

    def decoder_parameters(self) -> Iterator[nn.Parameter]:
        """U-Net decoder (up-convolutions and decoder blocks) parameters."""
        return self.unet.decoder_parameters()

    def head_parameters(self, which: str) -> Iterator[nn.Parameter]:
        """Parameters of one head: ``"global"``, ``"local"`` or ``"seg"``."""
        heads = {"global": self.global_head, "local": self.local_head, "seg": self.seg_head}
        if which not in heads:
            raise ValueError(f"Unknown head {which!r}; choose one of {sorted(heads)}.")
        return heads[which].parameters()

    def stage_parameters(self, stage: Stage | str) -> list[nn.Parameter]:
        """The parameters a training stage's loss reaches; ``stage``: a :class:`Stage` of
        :data:`~semicl.stage.TRAINING_STAGES` or its value.

        ``GLOBAL`` = encoder + bottleneck + global head; ``LOCAL`` = whole U-Net + local
        head; ``FINETUNE`` = whole U-Net + segmentation head.
        """
        if stage not in _STAGE_HEADS:
            names = ", ".join(repr(s.value) for s in TRAINING_STAGES)
            raise ValueError(f"Unknown stage {stage!r}; choose one of {names}.")
        body = self.encoder_parameters() if stage == Stage.GLOBAL else self.unet.parameters()
        return [*body, *self.head_parameters(_STAGE_HEADS[stage])]
