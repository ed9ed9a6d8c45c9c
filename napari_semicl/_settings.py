"""Preset picker and the advanced training settings, producing a ``semicl`` TrainConfig.

The panel only edits values; :meth:`SettingsPanel.config` builds a fresh config from the
chosen preset plus the edited fields, so every run is described by a complete,
serialisable :class:`semicl.config.TrainConfig`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from semicl.stage import TRAINING_STAGES, Stage

if TYPE_CHECKING:
    from semicl.config import TrainConfig

#: the short name of each row of the stage grid (one row per TRAINING_STAGES member)
_ROW_TITLES = {Stage.GLOBAL: "Global", Stage.LOCAL: "Local", Stage.FINETUNE: "Fine-tune"}


def _spin(lo: int, hi: int, tip: str, special: str | None = None) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setToolTip(tip)
    if special:
        s.setSpecialValueText(special)
    return s


class SettingsPanel(QWidget):
    """Preset combo always visible; the rest in a collapsible "Advanced" section."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from semicl.config import LOCAL_MODES, MAX_MEMBERS, PRESETS

        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS))
        self.preset.setToolTip(
            "quick: a CPU trains in minutes. paper: the paper's settings (needs a GPU)."
        )
        self.preset.currentTextChanged.connect(self._load_preset)

        form = QFormLayout()
        form.addRow("Preset", self.preset)

        adv = QWidget()
        grid = QGridLayout(adv)
        grid.setContentsMargins(0, 0, 0, 0)
        for col, head in enumerate(("Stage", "On", "Steps", "Epochs")):
            grid.addWidget(QLabel(f"<b>{head}</b>"), 0, col)
        # keyed by Stage (a member hashes as its value: steps["finetune"] works too)
        self.enabled: dict[Stage, QCheckBox] = {}
        self.steps: dict[Stage, QSpinBox] = {}
        self.epochs: dict[Stage, QDoubleSpinBox] = {}
        for row, key in enumerate(TRAINING_STAGES, start=1):
            self.enabled[key] = QCheckBox()
            self.steps[key] = _spin(0, 1_000_000, "Optimisation steps of this stage.")
            ep = QDoubleSpinBox()
            ep.setRange(0.0, 10_000.0)
            ep.setDecimals(1)
            ep.setSpecialValueText("—")
            ep.setToolTip("Epochs over the training slices; overrides Steps when set "
                          "(— = use Steps).")
            self.epochs[key] = ep
            for col, w in enumerate((QLabel(_ROW_TITLES[key]), self.enabled[key],
                                     self.steps[key], ep)):
                grid.addWidget(w, row, col)

        more = QFormLayout()
        self.local_mode = QComboBox()
        self.local_mode.addItems(list(LOCAL_MODES))
        self.local_mode.setToolTip(
            "Local contrastive loss: exact (all labelled pixels, chunked), stride (a pixel "
            "grid, as in the paper), block (tiles, as in the paper), self (no labels)."
        )
        self.stride = _spin(1, 64, "Pixel stride of the 'stride' local loss.")
        self.block = _spin(2, 256, "Tile size of the 'block' local loss.")
        self.width = _spin(4, 256, "U-Net channels at full resolution (doubles per level).")
        self.device = QComboBox()
        self.device.setToolTip("Only devices that exist on this machine are listed.")
        self.device.addItems(["auto", *self._devices()])
        self.preview_s = QDoubleSpinBox()
        self.preview_s.setRange(0.5, 60.0)
        self.preview_s.setValue(3.0)
        self.preview_s.setSuffix(" s")
        self.preview_s.setToolTip(
            "How often the viewed slice's prediction refreshes while fine-tuning.")
        self.first_look = QCheckBox()
        self.first_look.setToolTip("Train: first show a pixel forest's overlay of the viewed "
                                   "slice, fitted on your strokes in a second or two, while "
                                   "the network trains.")
        self.first_look.setChecked(True)
        more.addRow("First look", self.first_look)
        self.flip = QCheckBox()
        self.flip.setToolTip("Mirror augmentation (random left-right flips). Leave off for "
                             "anatomy, which is rarely mirror-symmetric within a slice; turn "
                             "on for EM, cells and other images without an orientation.")
        more.addRow("Mirror augmentation", self.flip)
        self.members = _spin(1, MAX_MEMBERS, "Networks trained side by side on your strokes, "
                             "their predictions averaged: a steadier mask that depends less "
                             "on chance. Each one needs a CPU core (or the time of one).")
        more.addRow("Networks", self.members)
        self.smooth = QCheckBox()
        self.smooth.setToolTip("Volumes: average each slice's prediction with its neighbours' "
                               "over about a pixel's distance, so structure does not come and "
                               "go from slice to slice. How far one slice is, is read from the "
                               "image: widely spaced sections (serial EM) are left as they are.")
        more.addRow("Smooth across slices", self.smooth)
        more.addRow("Local loss", self.local_mode)
        more.addRow("Stride", self.stride)
        more.addRow("Block size", self.block)
        more.addRow("Network width", self.width)
        more.addRow("Device", self.device)
        more.addRow("Live preview every", self.preview_s)
        inner = QWidget()
        inner.setLayout(more)

        from superqt import QCollapsible

        self.advanced = QCollapsible("Advanced")
        self.advanced.addWidget(adv)
        self.advanced.addWidget(inner)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(form)
        lay.addWidget(self.advanced)
        self._load_preset(self.preset.currentText())

    @staticmethod
    def _devices() -> list[str]:
        from semicl.device import available_devices

        return list(available_devices())

    def _load_preset(self, name: str) -> None:
        from semicl.config import preset

        self._base: TrainConfig | None = None  # a picked preset replaces a restored config
        self._fill(preset(name))

    def _fill(self, cfg: TrainConfig) -> None:
        for key, st in cfg.stages().items():
            self.enabled[key].setChecked(bool(st.enabled))
            self.steps[key].setValue(int(st.steps))
            self.epochs[key].setValue(float(st.epochs or 0.0))
        self.local_mode.setCurrentText(cfg.local_stage.mode)
        self.stride.setValue(int(cfg.local_stage.stride))
        self.block.setValue(int(cfg.local_stage.block_size))
        self.width.setValue(int(cfg.model.base_width))
        self.flip.setChecked(bool(cfg.flip))
        self.members.setValue(int(cfg.members))
        self.smooth.setChecked(cfg.slice_smoothing > 0)
        dev = cfg.device if self.device.findText(cfg.device) >= 0 else "auto"
        self.device.setCurrentText(dev)

    def set_config(self, cfg: TrainConfig) -> None:
        """Show ``cfg`` (e.g. restored from a session) without resetting it to a preset."""
        self.preset.blockSignals(True)
        if self.preset.findText(cfg.preset) >= 0:
            self.preset.setCurrentText(cfg.preset)
        self.preset.blockSignals(False)
        self._base = cfg
        self._fill(cfg)

    def config(self) -> TrainConfig:
        """A validated TrainConfig: the preset (or restored config) plus the edited fields."""
        import copy

        from semicl.config import SLICE_SMOOTHING, preset

        if self._base is not None:
            cfg = copy.deepcopy(self._base)
        else:
            cfg = preset(self.preset.currentText())
        for key, st in cfg.stages().items():
            st.enabled = self.enabled[key].isChecked()
            st.steps = self.steps[key].value()
            ep = self.epochs[key].value()
            st.epochs = ep if ep > 0 else None
        cfg.local_stage.mode = self.local_mode.currentText()
        cfg.local_stage.stride = self.stride.value()
        cfg.local_stage.block_size = self.block.value()
        cfg.model.base_width = self.width.value()
        cfg.flip = self.flip.isChecked()
        cfg.members = self.members.value()
        cfg.slice_smoothing = (cfg.slice_smoothing or SLICE_SMOOTHING) if self.smooth.isChecked() \
            else 0.0
        cfg.device = self.device.currentText()
        cfg.validate()
        return cfg
