"""npe2 sample data: a hippocampus MRI (MSD Task04) and the Colin27 brain, when available.

The MSD volume comes from ``$SEMICL_DATA_DIR`` or the engine's download cache (the engine
downloads it, with a checksum, when online). Offline with neither, the user gets a
notification saying where to put the data, and no layer: never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from napari_semicl._reader import LayerData

#: The case shown by default: the first training case of Task04.
DEFAULT_CASE = 0


def hippocampus(case: int = DEFAULT_CASE) -> list[LayerData]:
    """One MSD hippocampus MRI volume, voxel spacing as scale, class names in metadata."""
    from semicl.errors import SemiclError

    from napari_semicl._messages import notify

    try:
        from semicl.io.download import find_or_fetch_msd
        from semicl.io.msd import load_msd

        dataset = load_msd(find_or_fetch_msd(None))
        image, _labels = dataset.cases[case].load()
    except (SemiclError, OSError) as exc:
        notify("warning", f"Sample data unavailable: {exc} Set SEMICL_DATA_DIR to a folder holding "
               "msd_task04_hippocampus/ (or Task04_Hippocampus/), or connect to the internet.")
        return []
    meta = {
        "name": dataset.cases[case].case_id,
        "scale": tuple(float(s) for s in image.spacing),
        "metadata": {
            "semicl_source": str(image.path) if image.path else None,
            "semicl_class_names": list(dataset.class_names),
        },
    }
    return [(image.data, meta, "image")]


def colin27() -> list[LayerData]:
    """The Colin27 T1 brain (``$SEMICL_DATA_DIR/colin27_aal/ch2.nii.gz``), if present."""
    from napari_semicl._messages import notify
    from napari_semicl._reader import nifti_layer

    root = os.environ.get("SEMICL_DATA_DIR")
    path = Path(root) / "colin27_aal" / "ch2.nii.gz" if root else None
    if path is None or not path.is_file():
        notify("warning", "Colin27 sample not found: put ch2.nii.gz in "
               "$SEMICL_DATA_DIR/colin27_aal/ (set SEMICL_DATA_DIR first).")
        return []
    data, meta, kind = nifti_layer(path)
    meta["name"] = "colin27"
    meta["metadata"]["semicl_class_names"] = ["background", "structure 1"]
    return [(data, meta, kind)]
