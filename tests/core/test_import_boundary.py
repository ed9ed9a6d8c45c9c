"""The engine must never import napari or Qt (backs up the import-linter contract)."""

import subprocess
import sys

GUI = ["napari", "qtpy", "magicgui", "superqt", "PyQt5", "PyQt6", "PySide2", "PySide6",
       "pyqtgraph", "napari_semicl"]

ENGINE_MODULES = [
    "semicl", "semicl.cli", "semicl.interactive", "semicl.experiments.run",
    "semicl.experiments.demo", "semicl.training.pipeline", "semicl.inference",
    "semicl.experiments.evaluation", "semicl.io.readers",
    "semicl.io.writers", "semicl.io.msd", "semicl.io.download", "semicl.losses", "semicl.models",
    "semicl.data.augment", "semicl.data.dataset", "semicl.metrics",
]


def test_engine_imports_no_gui_package():
    code = (
        "import importlib, sys\n"
        f"for m in {ENGINE_MODULES!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {GUI!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine imported GUI modules: {out.stdout}"


def test_import_semicl_is_light():
    code = "import sys, semicl; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
