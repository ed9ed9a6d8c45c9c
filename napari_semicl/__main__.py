"""``python -m napari_semicl``: napari with the plugin docked and the sample volume loaded.

Without a display (no ``DISPLAY`` / ``WAYLAND_DISPLAY``, and not macOS or Windows) it says
so and runs the engine's headless demo instead: ``semicl demo`` with the extra arguments.
"""

from __future__ import annotations

import os
import sys

WIDGET = "Scribble segmentation"
PLUGIN = "napari-semicl"


def has_display() -> bool:
    """True when a GUI can open here."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_viewer(sample: str | None = "hippocampus") -> tuple[object, object]:
    """A napari viewer with the widget docked and (optionally) a sample opened."""
    import napari

    viewer = napari.Viewer(title="napari-semicl: paint, train, correct")
    if sample:
        viewer.open_sample(PLUGIN, sample)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    return viewer, widget


def main(argv: list[str] | None = None) -> int:
    """Entry point; ``argv`` defaults to ``sys.argv[1:]`` (passed to the demo when headless)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not has_display():
        print("No display found (DISPLAY/WAYLAND_DISPLAY unset): running the headless demo "
              "instead of napari (`semicl demo`).", flush=True)
        from semicl.cli import main as cli_main

        return int(cli_main(["demo", *args]) or 0)
    import napari

    open_viewer()
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
