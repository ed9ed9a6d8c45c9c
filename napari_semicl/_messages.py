"""Turn problems into napari notifications that say what to do.

Refusals (:class:`semicl.errors.SemiclError`, the plugin's ``_layers.InputError`` among
them) already carry a user-facing message: it is shown as it is, as a warning, with no
traceback, since it is advice and not a bug. Other exceptions get a short explanation
(CUDA out of memory, missing files), are shown as errors, and their traceback goes to the
log, not into the user's face.
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


def is_advice(exc: BaseException) -> bool:
    """True for a refusal whose message says what to do (a :class:`~semicl.errors.SemiclError`,
    the plugin's ``_layers.InputError`` included)."""
    from semicl.errors import SemiclError

    return isinstance(exc, SemiclError)


def describe(exc: BaseException) -> str:
    """A one-paragraph, user-facing description of ``exc``."""
    if is_advice(exc):
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
    """Show ``exc`` as a notification; returns the text shown.

    A refusal (:func:`is_advice`) is a warning with its own message; anything else is an
    error whose traceback is logged.
    """
    text = describe(exc)
    if context:
        text = f"{context}: {text}"
    if is_advice(exc):
        notify("warning", text)
        return text
    log.error("%s", text, exc_info=exc)
    notify("error", text)
    return text
