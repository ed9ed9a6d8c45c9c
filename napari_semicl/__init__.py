"""napari plugin for semicl (thin widgets and workers around the engine)."""

__version__ = "0.1.0"
