"""The class list: one row per class, with its scribble label and colour.

Row ``i`` is scribble label ``i + 1`` (row 0 = background = label 1) and prediction class
``i``. Double-click a name to rename it; clicking a row selects that label for painting.
"""

from __future__ import annotations

from qtpy.QtCore import QRectF, Qt, Signal
from qtpy.QtGui import QColor, QIcon, QPainter, QPixmap, QTextOption
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from semicl.labels import class_to_scribble

from napari_semicl import _colors


def _swatch(value: int) -> QIcon:
    pix = QPixmap(28, 18)
    pix.fill(QColor(*_colors.swatch_rgb255(value)))
    p = QPainter(pix)
    p.setPen(QColor(0, 0, 0))
    p.drawText(QRectF(pix.rect()), str(value), QTextOption(Qt.AlignmentFlag.AlignCenter))
    p.end()
    return QIcon(pix)


class ClassList(QWidget):
    """Editable class names with the scribble label (number) and colour of each."""

    changed = Signal(list)  #: the new list of names
    picked = Signal(int)  #: scribble label of the clicked row

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.list.setToolTip(
            "Scribble label and colour of each class. Paint label 1 for background, 2, 3, ... "
            "for structures. Double-click a name to rename it; click a row to paint with it."
        )
        self.list.setMaximumHeight(120)
        self.list.itemChanged.connect(lambda _item: self.changed.emit(self.names()))
        self.list.currentRowChanged.connect(self._row_picked)
        self.add_btn = QPushButton("Add class")
        self.remove_btn = QPushButton("Remove last")
        self.add_btn.clicked.connect(self.add_class)
        self.remove_btn.clicked.connect(self.remove_last)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_btn)
        buttons.addWidget(self.remove_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.list)
        lay.addLayout(buttons)
        self.set_names(["background", "structure 1"])

    def _row_picked(self, row: int) -> None:
        if row >= 0:
            self.picked.emit(class_to_scribble(row))

    def _item(self, row: int, name: str) -> QListWidgetItem:
        label = class_to_scribble(row)
        item = QListWidgetItem(_swatch(label), name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        item.setToolTip(f"scribble label {label}; predicted as class {row}")
        return item

    def names(self) -> list[str]:
        """Class names, background first."""
        return [self.list.item(i).text().strip() or f"class {i}" for i in range(self.list.count())]

    def set_names(self, names: list[str]) -> None:
        """Replace the list (at least background and one structure)."""
        names = list(names) if len(names) >= 2 else ["background", "structure 1"]
        self.list.blockSignals(True)
        self.list.clear()
        for row, name in enumerate(names):
            self.list.addItem(self._item(row, name))
        self.list.blockSignals(False)
        self.remove_btn.setEnabled(len(names) > 2)
        self.changed.emit(self.names())

    def add_class(self) -> None:
        """Append ``structure k``."""
        self.set_names([*self.names(), f"structure {self.list.count()}"])

    def remove_last(self) -> None:
        """Drop the last class (never below background plus one structure)."""
        if self.list.count() > 2:
            self.set_names(self.names()[:-1])
