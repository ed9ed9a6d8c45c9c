"""The round options under Train / Retrain / Stop: checkboxes that change what a round
does, beside the training settings that :class:`~napari_semicl._settings.SettingsPanel`
turns into a config. Like the other checkboxes they are not saved: each new widget starts
with them off.
"""

from __future__ import annotations

from qtpy.QtWidgets import QCheckBox, QVBoxLayout, QWidget

KEEP_ISLANDS_TIP = (
    "Keep, for each structure, only its connected pieces (in 3-D for a volume) that touch "
    "one of its strokes (scribbles or corrections); the rest becomes background. Applies to "
    "Train, Retrain and Predict.\n\nFor single objects such as organs, brain nuclei or the "
    "hippocampus. Leave off for many separate objects such as cells: it would remove every "
    "object you did not paint."
)


class RoundOptions(QWidget):
    """"Repeat pretraining on Retrain" and "Keep only painted pieces", both off."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.repeat_pretraining = QCheckBox("Repeat pretraining on Retrain")
        self.repeat_pretraining.setToolTip(
            "Retrain runs the pretraining stages again before fine-tuning (off: it only "
            "fine-tunes the current network).")
        self.keep_islands = QCheckBox("Keep only painted pieces")
        self.keep_islands.setToolTip(KEEP_ISLANDS_TIP)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.repeat_pretraining)
        lay.addWidget(self.keep_islands)
