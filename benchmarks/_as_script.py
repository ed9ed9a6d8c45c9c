"""The repository root onto ``sys.path`` for a benchmark run as a file.

``python benchmarks/<name>.py`` (the commands in docs/benchmarks.md and
docs/performance.md, and the subprocesses some benchmarks start) puts ``benchmarks/`` on
``sys.path``, not the root that holds the ``benchmarks`` package, so a benchmark that
imports another one starts with::

    if not __package__:  # run as a file (python benchmarks/<name>.py)
        import _as_script  # noqa: F401  (the repository root onto sys.path)

This is the one place that edits ``sys.path``. Under ``python -m benchmarks.<name>``, pytest
and ``scripts/`` the root is on the path already and this module is not imported.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
