"""Checkpoints: weights, configuration, class names and version, written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

import semicl
from semicl.errors import CheckpointError
from semicl.io.atomic import atomic_path

FORMAT = "semicl-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (state_dict, config dict, class_names, ...) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "semicl_version": semicl.__version__, **payload}
    buf = io.BytesIO()
    torch.save(full, buf)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buf.getvalue())
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Model file not found: {path}. Train a model first (semicl train).")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decoding failure means a bad file
        raise CheckpointError(
            f"Cannot read model file {path} ({type(exc).__name__}); it is corrupt or not a "
            "semicl model. Re-export it from the run folder."
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a semicl model file.")
    if int(ckpt.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer semicl ({ckpt.get('semicl_version')}); upgrade semicl."
        )
    for key in ("state_dict", "config", "class_names"):
        if key not in ckpt:
            raise CheckpointError(f"{path} lacks '{key}'; it is incomplete.")
    return ckpt
