"""semicl: semi-supervised contrastive segmentation (Hu et al., MICCAI 2021), headless.

The engine never imports napari or Qt. Heavy modules (torch) are imported by the
submodules that need them, so ``import semicl`` stays cheap.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
