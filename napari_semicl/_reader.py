"""npe2 readers: NIfTI images (napari has none) and semicl session folders.

NIfTI voxel spacing becomes the layer ``scale``, so volumes look right and masks exported
from them keep the spacing. The session reader restores the image, scribbles, corrections
and prediction layers; the widget then restores class names, config and model.

A session opens without a question: napari asks which reader to use whenever several accept a
path, and napari's own reader accepts every folder. So the session reader claims only folders
and ``session.json`` files (not every file), and each session folder the plugin writes or reads
is remembered in napari's reader preferences (:func:`remember_session_folder`), as napari's
dialog does with "Remember this choice for folders labeled as ...".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from napari_semicl import _colors, _layers

if TYPE_CHECKING:
    import numpy as np

    #: napari's layer data tuple: (data, keyword arguments, layer type)
    LayerData = tuple[np.ndarray, dict, str]
    #: what npe2 hands a reader: one path or several
    PathOrPaths = str | Path | list[str | Path]
    Reader = Callable[[PathOrPaths], list[LayerData]]

PLUGIN = "napari-semicl"


def _is_nifti(path: object) -> bool:
    return isinstance(path, (str, Path)) and str(path).lower().endswith((".nii", ".nii.gz"))


def get_reader(path: PathOrPaths) -> Reader | None:
    """Return :func:`read_nifti` for ``.nii``/``.nii.gz`` paths (or lists of them), else None."""
    paths = path if isinstance(path, list) else [path]
    return read_nifti if paths and all(_is_nifti(p) for p in paths) else None


def nifti_layer(path: str | Path) -> LayerData:
    """One NIfTI file as Image layer data with its voxel spacing as scale."""
    from semicl.io.readers import read_image

    vol = read_image(path)
    name = Path(path).name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    meta = {
        "name": name,
        "scale": tuple(float(s) for s in vol.spacing),
        "metadata": {"semicl_source": str(Path(path).resolve())},
    }
    return vol.data, meta, "image"


def read_nifti(path: PathOrPaths) -> list[LayerData]:
    """npe2 reader function: one Image layer per NIfTI file."""
    paths = path if isinstance(path, list) else [path]
    return [nifti_layer(p) for p in paths]


def session_folder(path: object) -> Path | None:
    """The session folder that ``path`` (the folder, or its ``session.json``) names, else None."""
    from napari_semicl._session import SESSION_FILE, is_session

    if isinstance(path, list):
        path = path[0] if len(path) == 1 else None
    if not isinstance(path, (str, Path)):
        return None
    p = Path(path)
    if p.name == SESSION_FILE and p.is_file():
        p = p.parent
    return p if is_session(p) else None


def get_session_reader(path: PathOrPaths) -> Reader | None:
    """Return :func:`read_session` for a semicl session folder (or its session.json)."""
    return read_session if session_folder(path) is not None else None


def _preference_key(folder: str | Path) -> str:
    """How napari matches a folder against its reader preferences: real path + separator."""
    return os.path.realpath(folder).rstrip(os.sep) + os.sep


def remember_session_folder(folder: str | Path) -> bool:
    """Make napari open ``folder`` with the session reader without asking (True if added).

    Adds ``<folder>/ -> napari-semicl`` to napari's reader preferences, never over another
    reader the person chose for that folder, and drops our entries for folders that are no
    longer sessions. Never raises: it only spares a question.
    """
    try:
        from napari.settings import get_settings

        from napari_semicl._session import is_session

        plugins = get_settings().plugins
        key = _preference_key(folder)
        prefs = dict(plugins.extension2reader)
        if key in prefs or not is_session(folder):
            return False
        kept = {k: v for k, v in prefs.items()
                if v != PLUGIN or not os.path.isabs(k) or is_session(k)}
        plugins.extension2reader = {**kept, key: PLUGIN}
        return True
    except Exception:  # noqa: BLE001 - settings unreadable or unwritable: napari will ask
        return False


def read_session(path: PathOrPaths) -> list[LayerData]:
    """The layers of a session folder (image, scribbles, corrections, prediction)."""
    from semicl.errors import SemiclError

    from napari_semicl._session import Session

    folder = session_folder(path)
    if folder is None:
        raise SemiclError(f"{path} is not a semicl session folder (it has no session.json).")
    folder = folder.resolve()
    session = Session(folder)
    state = session.load_state()
    image = session.load_image(state)
    if image is None:
        raise SemiclError(
            f"The session's image is missing (it was {state.image_path}); put the file back "
            "or open it yourself, then pick the scribbles layer in the widget."
        )
    geo = {"scale": tuple(state.scale) or None, "translate": tuple(state.translate) or None}
    geo = {k: v for k, v in geo.items() if v}
    link = {"semicl_session": str(folder)}
    out: list[LayerData] = [(image, {
        "name": state.image_name, **geo,
        "metadata": {**link, "semicl_source": state.image_path}}, "image")]
    for role, cmap in (("scribbles", _colors.scribble_colormap),
                       (_layers.CORRECTIONS, _colors.scribble_colormap),
                       (_layers.PREDICTION, _colors.prediction_colormap)):
        arr = session.load_array(role)
        if arr is None:
            continue
        out.append((arr, {
            "name": role, **geo, "colormap": cmap(),
            "opacity": 0.5 if role == _layers.PREDICTION else 0.8,
            "metadata": {**link, _layers.ROLE: role, "semicl_image": state.image_name,
                         **({_layers.CLASS_NAMES: list(state.class_names)}
                            if role == "scribbles" else {})},
        }, "labels"))
    remember_session_folder(folder)  # opened with this reader once: never asked again
    return out
