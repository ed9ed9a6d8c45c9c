"""Find MSD Task04 Hippocampus on disk, or download it once into the user cache.

Search order of :func:`find_or_fetch_msd`: an explicit folder, ``$SEMICL_DATA_DIR`` (itself
or its ``msd_task04_hippocampus/`` / ``Task04_Hippocampus/`` child), the pooch cache
(``pooch.os_cache('semicl')``), and finally a download of ``Task04_Hippocampus.tar``
(about 27 MB) from the MONAI project's public mirror, verified against the MD5 that MONAI's
``DecathlonDataset`` checks, then extracted into the cache.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from semicl.errors import DataUnavailableError, DatasetError
from semicl.io.msd import TASK_FOLDERS, resolve_msd_root

ENV_VAR = "SEMICL_DATA_DIR"
TASK04_URL = "https://msd-for-monai.s3-us-west-2.amazonaws.com/Task04_Hippocampus.tar"
TASK04_MD5 = "md5:9d24dba78a72977dbd1d2e110310f31b"
TASK04_ARCHIVE = "Task04_Hippocampus.tar"


def default_cache_dir() -> Path:
    """The per-user cache folder (``pooch.os_cache('semicl')``)."""
    import pooch

    return Path(pooch.os_cache("semicl"))


def find_or_fetch_msd(
    data_dir: str | Path | None = None, *, cache_dir: str | Path | None = None
) -> Path:
    """Return a folder holding MSD Task04's ``dataset.json``, downloading it if needed.

    Parameters
    ----------
    data_dir : str or Path, optional
        Explicit folder (the task folder or its parent). When given it must hold the data.
    cache_dir : str or Path, optional
        Cache folder; defaults to :func:`default_cache_dir`.

    Returns
    -------
    Path
        The task folder (holding ``dataset.json``, ``imagesTr/``, ``labelsTr/``).

    Raises
    ------
    DatasetError
        ``data_dir`` was given but holds no MSD task.
    DataUnavailableError
        Nothing found locally and the download failed (offline, checksum mismatch).
    """
    if data_dir is not None:
        found = resolve_msd_root(data_dir)
        if found is None:
            raise DatasetError(
                f"No MSD Task04 dataset (dataset.json) in {data_dir} nor in its "
                f"{' or '.join(TASK_FOLDERS)} subfolder. Point --data to the folder holding "
                "dataset.json, or leave it out to use $SEMICL_DATA_DIR or the download."
            )
        return found
    env = os.environ.get(ENV_VAR)
    if env:
        found = resolve_msd_root(env)
        if found is not None:
            return found
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    found = resolve_msd_root(cache)
    if found is not None:
        return found
    try:
        _download(cache)
    except (OSError, ValueError, tarfile.TarError) as exc:  # ConnectionError, HTTP errors, bad MD5
        raise DataUnavailableError(_unavailable_message(cache, exc)) from exc
    found = resolve_msd_root(cache)
    if found is None:
        raise DataUnavailableError(_unavailable_message(cache, "archive had no dataset.json"))
    return found


def _unavailable_message(cache: Path, reason: object) -> str:
    return (
        f"MSD Task04 Hippocampus is not available: no local copy was found and the download "
        f"from {TASK04_URL} failed ({reason}). Download and extract Task04_Hippocampus.tar "
        f"yourself, then set the environment variable {ENV_VAR} to its folder or pass "
        f"--data /path/to/Task04_Hippocampus (cache: {cache})."
    )


def _download(cache: Path) -> None:
    """Fetch the archive with checksum verification and extract it into ``cache``."""
    import pooch

    cache.mkdir(parents=True, exist_ok=True)
    pooch.retrieve(
        url=TASK04_URL,
        known_hash=TASK04_MD5,
        fname=TASK04_ARCHIVE,
        path=cache,
        processor=pooch.Untar(extract_dir=str(cache)),
        progressbar=False,
    )
