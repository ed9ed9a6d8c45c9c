"""Models: the 2-D U-Net backbone, its heads and the three-headed segmentation network."""

from semicl.models.heads import DenseProjectionHead, GlobalProjectionHead, SegmentationHead
from semicl.models.network import SegmentationNet
from semicl.models.unet import UNet

__all__ = [
    "DenseProjectionHead",
    "GlobalProjectionHead",
    "SegmentationHead",
    "SegmentationNet",
    "UNet",
]
