"""Turn problems into napari notifications that say what to do.

Engine errors (:class:`semicl.errors.SemiclError`) already carry a user-facing message.
Other exceptions get a short explanation (CUDA out of memory, missing files) and the
traceback goes to the log, not into the user's face.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

#: Every message shown, newest last (level, text); a bounded record tests and the
#: benchmark can read without reaching into napari's notification manager.
HISTORY: list[tuple[str, str]] = []
_HISTORY_MAX = 200

OOM_HINT = (
    "The GPU ran out of memory. Choose the 'quick' preset or a smaller network width in "
    "Advanced, or set the device to 'cpu', then press Train again. Your scribbles are untouched."
)


def notify(level: str, text: str) -> None:
    """Show ``text`` as a napari notification; ``level`` is info, warning or error."""
    from napari.utils.notifications import show_error, show_info, show_warning

    HISTORY.append((level, text))
    del HISTORY[:-_HISTORY_MAX]
    {"info": show_info, "warning": show_warning, "error": show_error}[level](text)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors (torch raises several types for it)."""
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def describe(exc: BaseException) -> str:
    """A one-paragraph, user-facing description of ``exc``."""
    from semicl.errors import SemiclError

    if isinstance(exc, SemiclError):
        return str(exc)
    if is_out_of_memory(exc):
        return OOM_HINT
    if isinstance(exc, FileNotFoundError):
        return f"File not found: {exc.filename or exc}. Check the path and try again."
    if isinstance(exc, PermissionError):
        return f"Permission denied: {exc.filename or exc}. Choose a folder you can write to."
    return (
        f"Unexpected error ({type(exc).__name__}: {exc}). Your scribbles are untouched; "
        "see the terminal for details and report it if it happens again."
    )


def report(exc: BaseException, context: str = "") -> str:
    """Log ``exc`` and show it as an error notification; returns the text shown."""
    from semicl.errors import SemiclError

    text = describe(exc)
    if context:
        text = f"{context}: {text}"
    if not isinstance(exc, SemiclError):
        log.error("%s", text, exc_info=exc)
    notify("error", text)
    return text
