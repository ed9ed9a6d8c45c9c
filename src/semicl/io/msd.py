"""Medical Segmentation Decathlon (MSD) task folders: ``dataset.json``, ``imagesTr/``, ...

Works on the original public download (``Task04_Hippocampus/`` with macOS ``._*``
AppleDouble files) and on the project's shared copy (``msd_task04_hippocampus/``, which adds
``splits.json``). ``splits.json`` has the structure::

    {"description": ..., "train": [case ids], "test": [case ids],
     "labelled": {"<seed>": {"<fraction>": [case ids]}}}

with labelled subsets nested within a seed (5% in 10% in 20% in 100%). This module only
reads it (:attr:`MsdDataset.splits`); the split itself, with or without the file, is
:func:`semicl.experiments.split.choose_split`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from semicl.errors import DatasetError, ShapeMismatchError
from semicl.io.readers import read_image, read_mask
from semicl.io.volume import ImageVolume

TASK_FOLDERS = ("Task04_Hippocampus", "msd_task04_hippocampus")


def resolve_msd_root(root: str | Path) -> Path | None:
    """The folder holding ``dataset.json``: ``root`` itself or one of its known task children."""
    root = Path(root).expanduser()
    for cand in (root, *(root / name for name in TASK_FOLDERS)):
        if (cand / "dataset.json").is_file():
            return cand
    return None


@dataclass(frozen=True)
class MsdCase:
    """One training case: an image and its label file.

    Parameters
    ----------
    case_id : str
        File name without ``.nii.gz``, e.g. ``'hippocampus_001'``.
    image_path, label_path : Path
    """

    case_id: str
    image_path: Path
    label_path: Path

    def load(self) -> tuple[ImageVolume, ImageVolume]:
        """Read ``(image, label)``; both have the same 3-D shape (label has an integer dtype).

        Raises
        ------
        ShapeMismatchError
            The label's shape differs from the image's.
        """
        image = read_image(self.image_path)
        label = read_mask(self.label_path)
        if image.shape != label.shape:
            raise ShapeMismatchError(
                f"Case {self.case_id}: image shape {image.shape} differs from label shape "
                f"{label.shape}; the dataset files do not belong together."
            )
        return image, label


@dataclass
class MsdDataset:
    """A parsed MSD task folder.

    Parameters
    ----------
    root : Path
        Folder holding ``dataset.json``.
    name : str
        ``dataset.json['name']``.
    class_names : list of str
        Ordered by label value (``class_names[0]`` is the background).
    cases : list of MsdCase
        In ``dataset.json`` order.
    splits : dict or None
        Parsed ``splits.json`` (structure in the module docstring), if present.
    """

    root: Path
    name: str
    class_names: list[str]
    cases: list[MsdCase]
    splits: dict | None = None
    _by_id: dict[str, MsdCase] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {c.case_id: c for c in self.cases}

    def __len__(self) -> int:
        return len(self.cases)

    @property
    def num_classes(self) -> int:
        """Number of classes including background."""
        return len(self.class_names)

    @property
    def case_ids(self) -> list[str]:
        return [c.case_id for c in self.cases]

    def case(self, case_id: str) -> MsdCase:
        """The case called ``case_id`` (DatasetError if unknown)."""
        try:
            return self._by_id[case_id]
        except KeyError:
            raise DatasetError(
                f"Case '{case_id}' is not in {self.root / 'dataset.json'}."
            ) from None

    def select(self, case_ids: list[str]) -> list[MsdCase]:
        """The cases with these ids, in the given order."""
        return [self.case(i) for i in case_ids]


def load_msd(root: str | Path) -> MsdDataset:
    """Parse an MSD task folder.

    Parameters
    ----------
    root : str or Path
        The task folder (holding ``dataset.json``) or a parent holding
        ``Task04_Hippocampus/`` or ``msd_task04_hippocampus/``.

    Raises
    ------
    DatasetError
        No ``dataset.json``, malformed JSON/label map, or a listed image/label file missing.
    """
    folder = resolve_msd_root(root)
    if folder is None:
        raise DatasetError(
            f"No dataset.json in {root} (nor in its {' or '.join(TASK_FOLDERS)} subfolder). "
            "Point to the MSD task folder that holds dataset.json, imagesTr/ and labelsTr/."
        )
    meta = _read_json(folder / "dataset.json")
    class_names = _class_names(meta, folder)
    cases = _cases(meta, folder)
    splits_path = folder / "splits.json"
    splits = _read_splits(splits_path) if splits_path.is_file() else None
    return MsdDataset(
        root=folder,
        name=str(meta.get("name", folder.name)),
        class_names=class_names,
        cases=cases,
        splits=splits,
    )


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"Could not parse {path}: {exc}. Restore the file from the original download."
        ) from exc
    if not isinstance(data, dict):
        raise DatasetError(f"{path} must contain a JSON object.")
    return data


def _class_names(meta: dict, folder: Path) -> list[str]:
    labels = meta.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise DatasetError(
            f"{folder / 'dataset.json'} has no 'labels' map "
            '(e.g. {"0": "background", "1": "Anterior"}).'
        )
    try:
        items = sorted((int(k), str(v)) for k, v in labels.items())
    except ValueError:
        raise DatasetError(
            f"'labels' keys in {folder / 'dataset.json'} must be integers, got {list(labels)}."
        ) from None
    if [k for k, _ in items] != list(range(len(items))):
        raise DatasetError(
            f"'labels' in {folder / 'dataset.json'} must number classes 0..K-1 without gaps, got "
            f"{[k for k, _ in items]}."
        )
    return [name for _, name in items]


def _case_id(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _cases(meta: dict, folder: Path) -> list[MsdCase]:
    entries = meta.get("training")
    if entries is None:
        images_dir = folder / "imagesTr"
        if not images_dir.is_dir():
            raise DatasetError(
                f"{folder} has neither a 'training' list in dataset.json nor an imagesTr/ folder."
            )
        images = sorted(
            p
            for p in images_dir.iterdir()
            if p.name.endswith((".nii.gz", ".nii")) and not p.name.startswith("._")
        )
        pairs = [(p, folder / "labelsTr" / p.name) for p in images]
    else:
        try:
            pairs = [(folder / e["image"], folder / e["label"]) for e in entries]
        except (TypeError, KeyError):
            raise DatasetError(
                f"'training' in {folder / 'dataset.json'} must be a list of "
                '{"image": ..., "label": ...} entries.'
            ) from None
        pairs = [(img, lab) for img, lab in pairs if not img.name.startswith("._")]
    cases = []
    for image, label in pairs:
        for p in (image, label):
            if not p.is_file():
                raise DatasetError(
                    f"Missing dataset file {p}; re-download or re-extract the dataset."
                )
        cases.append(MsdCase(_case_id(image), image.resolve(), label.resolve()))
    if not cases:
        raise DatasetError(f"No training cases found in {folder}.")
    return cases


def _read_splits(path: Path) -> dict:
    splits = _read_json(path)
    ok = (
        isinstance(splits.get("train"), list)
        and isinstance(splits.get("test"), list)
        and isinstance(splits.get("labelled", {}), dict)
    )
    if not ok:
        raise DatasetError(
            f"{path} must hold 'train' and 'test' lists and a 'labelled' map "
            "{seed: {fraction: [case ids]}}; fix or delete it."
        )
    return splits
