"""The benchmarks: scripts that measure the engine and the plugin (docs/benchmarks.md,
docs/performance.md) and the helpers they share (``le_*``, ``scribble_*``,
``bench_memory``). Not installed with the distribution.

A package so that its modules import each other, and tests and ``scripts/`` import them,
as ``benchmarks.<name>`` with the repository root on ``sys.path``: ``python -m
benchmarks.<name>`` and pytest (``pythonpath`` in pyproject.toml) put it there, and the
documented ``python benchmarks/<name>.py`` does it through :mod:`benchmarks._as_script`.
"""
