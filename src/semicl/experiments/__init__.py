"""Experiments: runs on MSD folders and image files, the demo, evaluation, console progress.

The top engine layer below the CLI (import-linter contract "semicl engine layers"); its
modules are layered too ("semicl experiments layers"), top to bottom:

* :mod:`~semicl.experiments.demo` — ``semicl demo``;
* :mod:`~semicl.experiments.run` (run folders, ``semicl train``) and
  :mod:`~semicl.experiments.evaluation` (``semicl predict`` / ``evaluate``, Dice of
  held-out volumes);
* :mod:`~semicl.experiments.split` (the one MSD split and its slices) and
  :mod:`~semicl.experiments.reporting` (the CLI's progress lines).
"""
