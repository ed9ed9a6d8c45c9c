"""Live loss curve: one pyqtgraph curve per training stage, redrawn at most a few times a second.

Points are appended cheaply on every event (:meth:`LossPlot.add`); a timer redraws the
curves and the readout line, so a fast training loop cannot flood the event loop with
repaints (each repaint of a widget beside napari's GL canvas costs milliseconds). Without
pyqtgraph the widget degrades to a one-line text readout.
"""

from __future__ import annotations

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from semicl.stage import Stage

#: one colour per stage with losses (keyed by Stage; ``add`` gets its value, which hashes
#: the same)
_STAGE_COLORS = {
    Stage.GLOBAL: (90, 160, 255),
    Stage.LOCAL: (255, 170, 60),
    Stage.FINETUNE: (90, 220, 120),
}


class LossPlot(QWidget):
    """Loss against cumulative step, coloured by stage."""

    def __init__(self, parent: QWidget | None = None, redraw_ms: int = 300) -> None:
        super().__init__(parent)
        self._points: dict[str, tuple[list[int], list[float]]] = {}
        self._curves: dict[str, object] = {}
        self._offset = 0  # cumulative step where the current stage started
        self._stage: str | None = None
        self._last_step = 0
        self._dirty: set[str] = set()  # stages with points not drawn yet
        self._text = "Loss: —"
        self.readout = QLabel(self._text)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        try:
            import pyqtgraph as pg
        except ImportError:  # pragma: no cover - pyqtgraph is a plugin dependency
            self.plot = None
        else:
            self.plot = pg.PlotWidget()
            self.plot.setMinimumHeight(140)
            self.plot.setLabel("bottom", "step")
            self.plot.setLabel("left", "loss")
            self.plot.showGrid(x=True, y=True, alpha=0.3)
            self.plot.addLegend(offset=(-5, 5))
            lay.addWidget(self.plot)
        lay.addWidget(self.readout)
        self._timer = QTimer(self)
        self._timer.setInterval(redraw_ms)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()

    def clear(self) -> None:
        """Forget every curve (a new run starts)."""
        self._points.clear()
        if self.plot is not None:
            for curve in self._curves.values():
                self.plot.removeItem(curve)
            legend = self.plot.plotItem.legend
            if legend is not None:
                legend.clear()
        self._curves.clear()
        self._offset = 0
        self._stage = None
        self._last_step = 0
        self._dirty.clear()
        self._text = "Loss: —"
        self.readout.setText(self._text)

    def add(self, stage: str, title: str, step: int, loss: float | None) -> None:
        """Record ``loss`` at ``step`` of ``stage`` (None losses are skipped)."""
        if stage != self._stage:
            self._offset += self._last_step
            self._stage = stage
        self._last_step = step
        if loss is None:
            return
        xs, ys = self._points.setdefault(stage, ([], []))
        xs.append(self._offset + step)
        ys.append(float(loss))
        self._text = f"{title}: step {step}, loss {loss:.4f}"
        if stage not in self._curves and self.plot is not None:
            color = _STAGE_COLORS.get(stage, (200, 200, 200))
            self._curves[stage] = self.plot.plot([], [], pen=color, name=title)
        self._dirty.add(stage)

    def points(self, stage: str) -> tuple[list[int], list[float]]:
        """The recorded (x, loss) points of ``stage``."""
        return self._points.get(stage, ([], []))

    def _redraw(self) -> None:
        if not self._dirty:
            return
        stages, self._dirty = self._dirty, set()
        self.readout.setText(self._text)
        for stage in stages:  # only the curves that grew
            curve = self._curves.get(stage)
            if curve is not None:
                curve.setData(*self._points[stage])
