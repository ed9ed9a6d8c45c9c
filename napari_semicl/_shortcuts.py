"""Keyboard shortcuts of the widget, bound on the viewer.

All use Shift + a letter that napari leaves free: the Labels layer keys (1-7, E, P, F, L,
Z, M, X, B, [, ], -, =, Ctrl+Z) and the viewer keys (Ctrl+..., V, Shift+V, Alt+arrows)
keep working while painting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from napari.components import ViewerModel

#: (key, action name, description) — the action name is a method of the widget.
SHORTCUTS: tuple[tuple[str, str, str], ...] = (
    ("Shift-T", "on_train", "Train (all stages, from scratch)"),
    ("Shift-R", "on_retrain", "Retrain (warm start, uses your corrections)"),
    ("Shift-S", "on_stop", "Stop (keeps the last good model)"),
    ("Shift-H", "on_toggle_prediction", "Show / hide the prediction"),
    ("Shift-N", "on_next_slice", "Go to the next slice to annotate (most uncertain)"),
)


def bind(viewer: ViewerModel, target: object) -> list[str]:
    """Bind every shortcut to ``target.<action>()`` (looked up when pressed); returns the keys."""
    bound = []
    for key, action, _desc in SHORTCUTS:

        def handler(_viewer: ViewerModel, action: str = action) -> None:
            fn: Callable[[], object] = getattr(target, action)
            fn()

        viewer.bind_key(key, handler, overwrite=True)
        bound.append(key)
    return bound


def unbind(viewer: ViewerModel, keys: list[str]) -> None:
    """Remove the shortcuts (the widget is closing)."""
    for key in keys:
        try:
            viewer.bind_key(key, None)
        except (KeyError, ValueError, RuntimeError):
            pass


def help_text() -> str:
    """One line per shortcut, for the widget's tooltip and the user guide."""
    return "\n".join(f"{k.replace('-', '+')}: {d}" for k, _a, d in SHORTCUTS)
