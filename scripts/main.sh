#!/usr/bin/env bash
# The README's main job: napari with the plugin docked and a sample volume loaded
# (on a machine with a display), else the headless demo (train, predict, Dice, figure).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${SEMICL_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export SEMICL_DATA_DIR="$(cd ../shared/data && pwd)"
fi
exec .venv/bin/python -m napari_semicl "$@"
