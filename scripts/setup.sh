#!/usr/bin/env bash
# Idempotent set-up used by scripts/main.sh and scripts/test.sh:
#   1. Debian/Ubuntu packages for Python venvs and for napari under Xvfb (Mesa GL),
#   2. a virtual environment in .venv,
#   3. torch (a CPU wheel, only when no torch is installed: a GPU user installs their
#      CUDA build first, see README), then this project with its plugin and test extras
#      and both Qt bindings: PyQt5 (napari's default here) and PyQt6 (QT_API=pyqt6).
# Re-running is fast: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(python3-venv xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libfontconfig1
  libdbus-1-3 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-xinerama0 libxcb-xinput0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0)

missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "setup: need root (or sudo) to apt-get install: ${missing[*]}" >&2; exit 1; fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "setup: Python >= 3.11 is required (found $("$PY" --version))" >&2; exit 1; }
  echo "setup: creating .venv"
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi

if ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
  echo "setup: installing ${SEMICL_TORCH:-torch==2.13.0} (CPU; install your CUDA build first for a GPU)"
  .venv/bin/python -m pip install -q ${SEMICL_TORCH_INDEX:+--index-url "$SEMICL_TORCH_INDEX"} \
    "${SEMICL_TORCH:-torch==2.13.0}"
fi

stamp=.venv/.semicl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing napari-semicl (editable) with plugin and test extras, PyQt5 and PyQt6"
  .venv/bin/python -m pip install -q -e ".[plugin,pyqt5,pyqt6,dev]"
  touch "$stamp"
fi
