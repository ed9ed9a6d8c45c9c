"""The session folder: everything needed to pick up where the user left off.

Layout (all writes atomic, so a crash never leaves a half-written file)::

    <session>/session.json        class names, config, slice axis, image file, rounds, losses
    <session>/scribbles.tif       the user's scribbles (0 unpainted, 1 background, k structure k-1)
    <session>/corrections.tif     prediction edits turned into scribbles (same convention)
    <session>/prediction.tif      the last full prediction (0 background, k structure k)
    <session>/image.tif           a copy of the image, only when it has no file on disk
    <session>/model.pt            the current model (TrainedModel.save; `semicl predict` reads it)
    <session>/checkpoints/round_NNN.pt   the model after each training round
    <session>/loss_history.csv    stage, step, loss of every round

Re-opening the folder in napari (File > Open Folder, or the widget's "Open session")
restores the layers; the widget then restores class names, config and model.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from semicl.training.trained_model import TrainedModel

#: One loss record, ``[stage, step, loss]`` (a list: that is how it comes back from JSON).
HistoryRow = list[str | int | float]

SESSION_FILE = "session.json"
FORMAT = "semicl-session"
VERSION = 1


@dataclass
class SessionState:
    """The JSON part of a session."""

    image_name: str = "image"
    image_path: str | None = None  #: the image file, when it has one
    image_shape: list[int] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    translate: list[float] = field(default_factory=list)
    class_names: list[str] = field(default_factory=lambda: ["background", "structure 1"])
    config: dict[str, Any] | None = None
    axis: int = 0
    rounds: list[dict[str, Any]] = field(default_factory=list)
    history: list[HistoryRow] = field(default_factory=list)


def is_session(path: str | Path) -> bool:
    """True if ``path`` is a folder holding a ``session.json`` written by this plugin."""
    p = Path(path)
    return p.is_dir() and (p / SESSION_FILE).is_file()


def default_folder(image_name: str) -> Path:
    """``$SEMICL_SESSION_DIR/<name>`` (default root: ``~/semicl-sessions``), not yet created."""
    root = Path(os.environ.get("SEMICL_SESSION_DIR") or Path.home() / "semicl-sessions")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", image_name).strip("._") or "image"
    return root / safe


def _spacing(arr: np.ndarray, scale: list[float] | None) -> tuple[float, ...] | None:
    """The layer scale as the spacing of ``arr`` (None, i.e. 1.0 per axis, when it does
    not have one value per axis)."""
    return tuple(scale) if scale and len(scale) == arr.ndim else None


class Session:
    """Reads and writes one session folder (created on first save)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, name: str) -> Path:
        return self.folder / name

    def _ensure(self) -> None:
        (self.folder / "checkpoints").mkdir(parents=True, exist_ok=True)

    # -- writing -------------------------------------------------------------------------
    def save_state(self, state: SessionState) -> None:
        """Write ``session.json`` (atomic)."""
        from semicl.io.atomic import atomic_path

        self._ensure()
        doc = {"format": FORMAT, "version": VERSION, "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
               **asdict(state)}
        with atomic_path(self._path(SESSION_FILE)) as tmp:
            tmp.write_text(json.dumps(doc, indent=1))
        from semicl.experiments.run import write_history  # the engine's loss-history CSV

        write_history(self._path("loss_history.csv"), state.history)

    def save_labels(self, name: str, arr: np.ndarray | None,
                    scale: list[float] | None = None) -> None:
        """Write ``<name>.tif`` (``scribbles``, ``corrections``, ``prediction``): the engine's
        mask writer, which picks the integer type and keeps the spacing (Z and X/Y)."""
        if arr is None:
            return
        from semicl.io.writers import write_mask

        self._ensure()
        write_mask(self._path(f"{name}.tif"), arr, spacing=_spacing(arr, scale))

    def save_image(self, arr: np.ndarray, scale: list[float] | None = None) -> None:
        """Write ``image.tif``, the copy of an image that has no file on disk: the engine's
        image writer (any pixel type, the spacing kept)."""
        from semicl.io.writers import write_image

        self._ensure()
        write_image(self._path("image.tif"), arr, spacing=_spacing(arr, scale))

    def save_model(self, model: TrainedModel, round_no: int) -> Path:
        """Save ``model.pt`` and ``checkpoints/round_NNN.pt``; returns the model path."""
        self._ensure()
        model.save(self._path(f"checkpoints/round_{round_no:03d}.pt"))
        return Path(model.save(self._path("model.pt")))

    # -- reading -------------------------------------------------------------------------
    def load_state(self) -> SessionState:
        """Parse ``session.json`` (unknown keys from newer versions are ignored)."""
        from semicl.errors import SemiclError

        try:
            doc = json.loads(self._path(SESSION_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise SemiclError(
                f"{self.folder} is not a readable semicl session ({exc}); pick the folder "
                "that holds session.json."
            ) from exc
        if doc.get("format") != FORMAT:
            raise SemiclError(f"{self.folder / SESSION_FILE} was not written by napari-semicl.")
        known = set(SessionState.__dataclass_fields__)
        return SessionState(**{k: v for k, v in doc.items() if k in known})

    def has_array(self, name: str) -> bool:
        """Whether ``<name>.tif`` was saved."""
        return self._path(f"{name}.tif").is_file()

    def load_array(self, name: str) -> np.ndarray | None:
        """``<name>.tif`` as an array, or None when absent."""
        if not self.has_array(name):
            return None
        from semicl.io.readers import read_image

        return read_image(self._path(f"{name}.tif")).data

    def load_image(self, state: SessionState) -> np.ndarray | None:
        """The image: the saved copy, else the original file (None if neither is readable)."""
        copy = self.load_array("image")
        if copy is not None:
            return copy
        if state.image_path and Path(state.image_path).is_file():
            from semicl.io.readers import read_image

            return read_image(state.image_path).data
        return None

    def model_path(self) -> Path | None:
        """``model.pt`` if it exists."""
        p = self._path("model.pt")
        return p if p.is_file() else None
