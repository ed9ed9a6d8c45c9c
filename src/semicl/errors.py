"""Errors raised by the engine for bad input.

Every message says what was wrong and what to do about it. All derive from
``SemiclError`` (a ``ValueError``), so callers can catch one type; the plugin
turns them into napari notifications and the CLI into a one-line message.
"""


class SemiclError(ValueError):
    """Base class of the engine's input errors."""


class UnsupportedFormatError(SemiclError):
    """The file type is not one the engine reads or writes."""


class CorruptFileError(SemiclError):
    """The file exists and has a supported suffix but cannot be decoded."""


class InvalidImageError(SemiclError):
    """The image has NaN/inf values, is constant, or has an unusable shape."""


class ShapeMismatchError(SemiclError):
    """Image and labels (or scribbles) do not have the same shape."""


class LabelError(SemiclError):
    """Labels are unusable: no labelled pixels, one class only, unknown values."""


class DatasetError(SemiclError):
    """A dataset folder is malformed, or a split/fraction selects nothing."""


class DataUnavailableError(SemiclError):
    """Data could not be found locally nor downloaded."""


class DeviceError(SemiclError):
    """The requested compute device does not exist on this machine."""


class CheckpointError(SemiclError):
    """A model file is missing, corrupt, or from an incompatible version."""
