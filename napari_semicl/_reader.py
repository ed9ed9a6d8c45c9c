"""npe2 readers: NIfTI images (napari has none) and semicl session folders.

NIfTI voxel spacing becomes the layer ``scale``, so volumes look right and masks exported
from them keep the spacing. The session reader restores the image, scribbles, corrections
and prediction layers; the widget then restores class names, config and model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari_semicl import _colors, _layers

LayerData = tuple[Any, dict, str]


def _is_nifti(path: Any) -> bool:
    return isinstance(path, (str, Path)) and str(path).lower().endswith((".nii", ".nii.gz"))


def get_reader(path: Any):
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


def read_nifti(path: Any) -> list[LayerData]:
    """npe2 reader function: one Image layer per NIfTI file."""
    paths = path if isinstance(path, list) else [path]
    return [nifti_layer(p) for p in paths]


def get_session_reader(path: Any):
    """Return :func:`read_session` for a semicl session folder, else None."""
    from napari_semicl._session import is_session

    if isinstance(path, (str, Path)) and is_session(path):
        return read_session
    return None


def read_session(path: Any) -> list[LayerData]:
    """The layers of a session folder (image, scribbles, corrections, prediction)."""
    from semicl.errors import SemiclError

    from napari_semicl._session import Session

    folder = Path(path[0] if isinstance(path, list) else path).resolve()
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
            "metadata": {**link, _layers.ROLE: role, "semicl_image": state.image_name},
        }, "labels"))
    return out
