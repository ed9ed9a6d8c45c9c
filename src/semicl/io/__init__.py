"""Reading and writing images/masks (NIfTI, TIFF, PNG) and the MSD dataset layout."""

from semicl.io.atomic import atomic_path
from semicl.io.download import find_or_fetch_msd
from semicl.io.msd import MsdCase, MsdDataset, load_msd
from semicl.io.readers import read_image, read_mask
from semicl.io.volume import ImageVolume
from semicl.io.writers import write_mask

__all__ = [
    "ImageVolume",
    "MsdCase",
    "MsdDataset",
    "atomic_path",
    "find_or_fetch_msd",
    "load_msd",
    "read_image",
    "read_mask",
    "write_mask",
]
