"""The GUI tests run on the Qt binding asked for: scripts/test.sh runs them on PyQt5 (the
design card's binding) and again with ``QT_API=pyqt6`` (napari 0.9 deprecates PyQt5), and a
pass that silently fell back to the other binding would test nothing new."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.gui

_ROOTS = {"pyqt5": "PyQt5", "pyqt6": "PyQt6", "pyside2": "PySide2", "pyside6": "PySide6"}


def test_napari_and_the_plugin_run_on_the_requested_binding(docked, requested_qt_api,
                                                            record_property):
    import pyqtgraph
    import qtpy
    from pytestqt.qt_compat import qt_api

    viewer, widget = docked()
    binding = qtpy.API_NAME.lower()
    record_property("qt_binding", f"{qtpy.API_NAME} {qtpy.QT_VERSION}")
    if requested_qt_api:  # unset: qtpy's default (PyQt5 first), whatever is installed
        assert binding == requested_qt_api, (
            f"QT_API={requested_qt_api} but napari runs on {qtpy.API_NAME}")
    root = _ROOTS[binding]
    window = viewer.__wrapped__.window._qt_window
    for obj in (window, widget, widget.loss_plot.plot):
        assert any(c.__module__.split(".")[0] == root for c in type(obj).__mro__), obj
    assert qt_api.pytest_qt_api == binding, "pytest-qt's QApplication is another Qt"
    assert pyqtgraph.Qt.QT_LIB == root, "the loss curve runs on another Qt"
    loaded = {r for r in _ROOTS.values() if f"{r}.QtCore" in sys.modules}
    assert loaded == {root}, f"two Qt libraries in one process: {sorted(loaded)}"
