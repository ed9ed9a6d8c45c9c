"""A 2-D U-Net backbone (encoder, bottleneck, decoder) without any output head.

Architecture (after Hu et al. 2021, ``networks/unet_con.py``; see docs/method.md §2, §7.4):

* **Encoder.** ``depth`` levels; level ``i`` has two blocks of
  Conv3x3 (padding 1) → InstanceNorm2d(affine=True) → LeakyReLU(0.01), with
  ``base_width * 2**i`` channels, and a MaxPool2d(2) after it.
* **Bottleneck.** Two Conv3x3 → LeakyReLU blocks, *without normalisation* (as the
  reference's "center"), with ``base_width * 2**depth`` channels at
  ``1 / 2**depth`` resolution (:attr:`UNet.bottleneck_channels`).
* **Decoder.** Per level, from the deepest: ConvTranspose2d(kernel 2, stride 2) halves the
  channels and doubles the resolution, the skip of the same level is concatenated, and two
  conv blocks follow. The last level outputs ``base_width`` channels at full resolution.

Deviations from the reference code, on purpose:

* The decoder is normalised like the encoder (the reference has no normalisation there);
  with small data and small batches this trains more reliably. InstanceNorm has learnable
  affine parameters (the reference uses ``affine=False``).
* The bottleneck stays un-normalised on purpose: instance normalisation makes every
  channel's spatial mean a constant, so a global average pool of a normalised bottleneck
  carries almost no information about the image and the SimCLR loss cannot fall below
  log(2B-1) (seen here). GroupNorm everywhere fixed that but made fine-tuning converge far
  slower on MSD Hippocampus (mean Dice 0.36 vs 0.81 after 200 steps, same seed and data).
* ``norm="batch"`` (``ModelConfig.norm``) swaps InstanceNorm for BatchNorm: statistics of
  the training batches, frozen at prediction, so a pixel's output no longer depends on
  the rest of its slice (how much of it is air) or on being seen in a training window.
* The bottleneck is two plain conv blocks; the reference's "center" folds the first
  up-convolution into it. The feature maps are the same shapes either way.

Any input size works. :meth:`UNet.encode` zero-pads the bottom and right edges so that
height and width become multiples of ``2**depth`` (and at least ``2 * 2**depth``, so the
bottleneck has at least 2×2 pixels and instance statistics stay defined), and
:meth:`UNet.decode` crops the output back. Zero padding was chosen over reflection because it
works for every size (reflection needs the pad to be smaller than the image) and because
normalised MR/CT backgrounds are near zero. With either norm, in eval mode
the output for a slice never depends on the other slices of its batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semicl.errors import InvalidImageError


def check_image_batch(x: Tensor, in_channels: int) -> None:
    """Raise :class:`InvalidImageError` (a ``ValueError``) unless ``x`` is (B, in_channels, H, W).

    Parameters
    ----------
    x : Tensor, shape (B, in_channels, H, W)
        The batch to check.
    in_channels : int
        The number of channels the network expects.
    """
    if x.ndim != 4:
        raise InvalidImageError(
            f"The network expects a batch of 2-D images shaped (B, {in_channels}, H, W); "
            f"got a tensor of shape {tuple(x.shape)}. Add the missing batch/channel axes "
            "(e.g. x[None, None] for a single slice)."
        )
    if x.shape[1] != in_channels:
        raise InvalidImageError(
            f"The network was built for {in_channels} input channel(s) but got a batch of shape "
            f"{tuple(x.shape)} ({x.shape[1]} channels). Convert the image to {in_channels} "
            "channel(s) or build the model with a matching in_channels."
        )
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise InvalidImageError(f"Empty image batch of shape {tuple(x.shape)}.")


class EncoderFeatures(list):
    """The output of :meth:`UNet.encode`: a list of feature maps plus the input size.

    Items are the skip features of levels ``0 .. depth-1`` (shapes
    ``(B, base_width * 2**i, H_p / 2**i, W_p / 2**i)`` where ``H_p, W_p`` is the padded size)
    followed by the bottleneck ``(B, base_width * 2**depth, H_p / 2**depth, W_p / 2**depth)``.
    ``input_size`` is the un-padded ``(H, W)`` that :meth:`UNet.decode` crops back to.
    """

    input_size: tuple[int, int] | None = None


class ConvBlock(nn.Sequential):
    """Two repeats of Conv3x3 (padding 1) → InstanceNorm2d(affine) → LeakyReLU(0.01).

    ``norm="batch"`` uses BatchNorm2d instead (``ModelConfig.norm``); ``norm=None``
    leaves the normalisation out (the bottleneck).

    Maps ``(B, in_ch, H, W)`` to ``(B, out_ch, H, W)``.
    """

    def __init__(self, in_ch: int, out_ch: int, norm: str | None = "instance") -> None:
        layers: list[nn.Module] = []
        for c_in in (in_ch, out_ch):
            layers.append(nn.Conv2d(c_in, out_ch, kernel_size=3, padding=1))
            if norm == "instance":
                layers.append(nn.InstanceNorm2d(out_ch, affine=True))
            elif norm == "batch":
                layers.append(nn.BatchNorm2d(out_ch))
            elif norm is not None:
                raise ValueError(f"norm must be 'instance', 'batch' or None, got {norm!r}.")
            layers.append(nn.LeakyReLU(0.01, inplace=True))
        super().__init__(*layers)


class UNet(nn.Module):
    """2-D U-Net backbone returning ``base_width``-channel full-resolution features.

    Parameters
    ----------
    in_channels : int
        Channels of the input image (1 for MR/CT slices).
    base_width : int
        Channels of the first level; level ``i`` has ``base_width * 2**i``.
    depth : int
        Number of pooling steps (encoder levels); the bottleneck is at ``1 / 2**depth``.

    Attributes
    ----------
    bottleneck_channels : int
        ``base_width * 2**depth``, the channels of the last item of :meth:`encode`.
    out_channels : int
        ``base_width``, the channels of :meth:`decode`'s output.
    """

    def __init__(self, in_channels: int = 1, base_width: int = 16, depth: int = 4,
                 norm: str = "instance") -> None:
        super().__init__()
        if in_channels < 1 or base_width < 1 or depth < 1:
            raise ValueError(
                f"in_channels, base_width and depth must be >= 1; got {in_channels}, "
                f"{base_width}, {depth}."
            )
        self.in_channels = in_channels
        self.base_width = base_width
        self.depth = depth
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.bottleneck_channels = widths[-1]
        self.out_channels = base_width

        self.encoder = nn.ModuleList()
        c_prev = in_channels
        for w in widths[:-1]:
            self.encoder.append(ConvBlock(c_prev, w, norm))
            c_prev = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = ConvBlock(widths[-2], widths[-1], norm=None)

        # Decoder modules are stored deepest first, in the order they run.
        self.ups = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i in reversed(range(depth)):
            self.ups.append(nn.ConvTranspose2d(widths[i + 1], widths[i], kernel_size=2, stride=2))
            self.decoder.append(ConvBlock(2 * widths[i], widths[i], norm))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He (Kaiming) normal init for convolutions (LeakyReLU slope 0.01), zero biases."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, a=0.01, nonlinearity="leaky_relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.InstanceNorm2d, nn.BatchNorm2d)) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # ------------------------------------------------------------------ sizes
    @property
    def size_multiple(self) -> int:
        """Padded heights/widths are multiples of this (``2**depth``)."""
        return 2**self.depth

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """The size an ``(height, width)`` input is zero-padded to inside :meth:`encode`."""
        m = self.size_multiple

        def up(n: int) -> int:
            return max(-(-n // m) * m, 2 * m)

        return up(height), up(width)

    def bottleneck_valid_size(self, height: int, width: int) -> tuple[int, int]:
        """Bottleneck pixels (rows, cols) whose receptive-field centre lies inside the input.

        Padding is at the bottom/right, so these are the top-left ``ceil(H / 2**depth)`` ×
        ``ceil(W / 2**depth)`` bottleneck pixels.
        """
        m = self.size_multiple
        return -(-height // m), -(-width // m)

    # ------------------------------------------------------------- forward parts
    def encode(self, x: Tensor) -> EncoderFeatures:
        """Run the encoder and the bottleneck.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, H, W)
            Image batch, any H, W >= 1.

        Returns
        -------
        EncoderFeatures
            ``depth`` skip maps ``(B, base_width * 2**i, H_p / 2**i, W_p / 2**i)`` then the
            bottleneck ``(B, bottleneck_channels, H_p / 2**depth, W_p / 2**depth)``, where
            ``(H_p, W_p) = padded_size(H, W)``; ``.input_size`` is ``(H, W)``.
        """
        check_image_batch(x, self.in_channels)
        h, w = int(x.shape[-2]), int(x.shape[-1])
        hp, wp = self.padded_size(h, w)
        if (hp, wp) != (h, w):
            x = F.pad(x, (0, wp - w, 0, hp - h))
        feats = EncoderFeatures()
        feats.input_size = (h, w)
        for block in self.encoder:
            x = block(x)
            feats.append(x)
            x = self.pool(x)
        feats.append(self.bottleneck(x))
        return feats

    def decode(self, feats: list[Tensor], size: tuple[int, int] | None = None) -> Tensor:
        """Run the decoder on :meth:`encode`'s output.

        Parameters
        ----------
        feats : list of Tensor
            ``depth`` skip maps then the bottleneck, as returned by :meth:`encode`.
        size : tuple of int, optional
            ``(H, W)`` to crop the output to; defaults to ``feats.input_size`` when ``feats``
            is an :class:`EncoderFeatures`, else no cropping (padded size).

        Returns
        -------
        Tensor, shape (B, base_width, H, W)
            Full-resolution decoder features (after the last conv block's activation).
        """
        if len(feats) != self.depth + 1:
            raise ValueError(
                f"decode expects {self.depth + 1} feature maps (skips + bottleneck), "
                f"got {len(feats)}."
            )
        if size is None:
            size = getattr(feats, "input_size", None)
        x = feats[-1]
        for up, block, skip in zip(self.ups, self.decoder, reversed(feats[:-1]), strict=True):
            x = up(x)
            if x.dtype != skip.dtype:  # mixed precision: keep the concat in one dtype
                x = x.to(skip.dtype)
            x = block(torch.cat([x, skip], dim=1))
        if size is not None and tuple(x.shape[-2:]) != tuple(size):
            x = x[..., : size[0], : size[1]]
        return x

    def valid_bottleneck(self, feats: list[Tensor]) -> Tensor:
        """The bottleneck cropped to the pixels that cover the un-padded input.

        Parameters
        ----------
        feats : list of Tensor
            :meth:`encode`'s output.

        Returns
        -------
        Tensor, shape (B, bottleneck_channels, ceil(H / 2**depth), ceil(W / 2**depth))
            The whole bottleneck if ``feats`` carries no ``input_size``.
        """
        b = feats[-1]
        size = getattr(feats, "input_size", None)
        if size is None:
            return b
        vh, vw = self.bottleneck_valid_size(*size)
        return b[..., :vh, :vw]

    def forward(self, x: Tensor) -> Tensor:
        """Encode then decode.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, H, W)

        Returns
        -------
        Tensor, shape (B, base_width, H, W)
        """
        return self.decode(self.encode(x))

    def encoder_parameters(self):
        """Parameters of the encoder levels and the bottleneck (what stage 1 trains)."""
        yield from self.encoder.parameters()
        yield from self.bottleneck.parameters()

    def decoder_parameters(self):
        """Parameters of the up-convolutions and decoder blocks."""
        yield from self.ups.parameters()
        yield from self.decoder.parameters()
