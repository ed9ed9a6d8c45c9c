"""Atomic file replacement: write to a temporary file, then ``os.replace`` it into place."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success.

    The temporary name is ``.<random>.tmp-<name>``: it lives in the same folder (so
    ``os.replace`` is atomic on the same file system) and ends with the full original
    name, so libraries that pick the format or compression from the suffix
    (``.nii.gz``, ``.ome.tif``) behave as for ``path``. If the body raises, the temporary
    file is removed and an existing ``path`` is left untouched.

    Parameters
    ----------
    path : str or Path
        Final destination. Its folder must exist.

    Raises
    ------
    FileNotFoundError
        The destination folder does not exist.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Folder {folder} does not exist; create it before saving {path.name}."
        )
    tmp = folder / f".{secrets.token_hex(4)}.tmp-{path.name}"
    # Create the file with the default permissions (umask applied), not mkstemp's 0600.
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    os.close(fd)
    try:
        yield tmp
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
