"""The dock widget's file dialogs: export a mask, save or load a model, pick a session folder.

The widget asks through :meth:`SemiclWidget.ask_path`, which tests replace.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QFileDialog, QWidget


def ask_path(parent: QWidget, kind: str, folder: Path | None) -> str | None:
    """A path chosen for ``kind`` ("export", "save_model", "load_model", else a session
    folder), starting in the session ``folder`` (else the home folder); None if cancelled."""
    start = str(folder or Path.home())
    if kind == "export":
        path, _ = QFileDialog.getSaveFileName(
            parent, "Export mask", str(Path(start) / "mask.tif"),
            "TIFF (*.tif *.tiff);;NIfTI (*.nii.gz *.nii)")
    elif kind == "save_model":
        path, _ = QFileDialog.getSaveFileName(parent, "Save model",
                                              str(Path(start) / "model.pt"), "Model (*.pt)")
    elif kind == "load_model":
        path, _ = QFileDialog.getOpenFileName(parent, "Load model", start, "Model (*.pt)")
    else:
        path = QFileDialog.getExistingDirectory(parent, "Session folder", start)
    return path or None
