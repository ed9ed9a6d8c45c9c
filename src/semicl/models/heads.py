"""Output heads on top of the U-Net: global projection, dense projection, segmentation.

* :class:`GlobalProjectionHead` — global average pool → Linear → ReLU → Linear (SimCLR).
  The reference code has no nonlinearity between its two linears and never trains the head
  (docs/method.md §7.2); here the head has a ReLU and is trained with the encoder.
* :class:`DenseProjectionHead` — 1×1 conv → ReLU → 1×1 conv, a per-pixel MLP giving the
  local (pixel) embeddings of stage 2 (the reference ``mlp`` head has no ReLU).
* :class:`SegmentationHead` — a 1×1 conv to class logits.

Heads do not L2-normalise; the contrastive losses do.
"""

from __future__ import annotations

from torch import Tensor, nn


def _check_map(x: Tensor, in_ch: int, name: str) -> None:
    if x.ndim != 4 or x.shape[1] != in_ch:
        raise ValueError(
            f"{name} expects a feature map shaped (B, {in_ch}, H, W); got {tuple(x.shape)}."
        )


class GlobalProjectionHead(nn.Module):
    """Pool a feature map to one vector per image and project it.

    Parameters
    ----------
    in_ch : int
        Channels of the input feature map.
    hidden : int
        Width of the hidden layer.
    out_dim : int
        Size of the projection.
    """

    def __init__(self, in_ch: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.in_ch = in_ch
        self.out_dim = out_dim
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.mlp = nn.Sequential(
            nn.Linear(in_ch, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Project pooled features.

        Parameters
        ----------
        x : Tensor, shape (B, in_ch, h, w)
            Feature map (the U-Net bottleneck).

        Returns
        -------
        Tensor, shape (B, out_dim)
            Un-normalised projections.
        """
        _check_map(x, self.in_ch, type(self).__name__)
        return self.mlp(self.pool(x).flatten(1))


class DenseProjectionHead(nn.Module):
    """Per-pixel two-layer MLP implemented with 1×1 convolutions.

    Parameters
    ----------
    in_ch : int
        Channels of the input feature map.
    hidden : int
        Width of the hidden layer.
    out_dim : int
        Channels of the embedding.
    """

    def __init__(self, in_ch: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.in_ch = in_ch
        self.out_dim = out_dim
        self.mlp = nn.Sequential(
            nn.Conv2d(in_ch, hidden, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_dim, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Embed every pixel.

        Parameters
        ----------
        x : Tensor, shape (B, in_ch, H, W)
            Decoder features.

        Returns
        -------
        Tensor, shape (B, out_dim, H, W)
            Un-normalised pixel embeddings.
        """
        _check_map(x, self.in_ch, type(self).__name__)
        return self.mlp(x)


class SegmentationHead(nn.Module):
    """A 1×1 convolution from features to class logits.

    Parameters
    ----------
    in_ch : int
        Channels of the input feature map.
    num_classes : int
        Number of classes, background included.
    """

    def __init__(self, in_ch: int, num_classes: int) -> None:
        super().__init__()
        self.in_ch = in_ch
        self.num_classes = num_classes
        self.conv = nn.Conv2d(in_ch, num_classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """Per-pixel class logits.

        Parameters
        ----------
        x : Tensor, shape (B, in_ch, H, W)
            Decoder features.

        Returns
        -------
        Tensor, shape (B, num_classes, H, W)
            Logits (no softmax).
        """
        _check_map(x, self.in_ch, type(self).__name__)
        return self.conv(x)
