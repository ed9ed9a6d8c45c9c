#!/usr/bin/env bash
# The README's test command: set-up, then the whole suite (engine + napari GUI tests
# in a real window under Xvfb with Mesa GL), then the import-boundary and manifest checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${SEMICL_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export SEMICL_DATA_DIR="$(cd ../shared/data && pwd)"
fi
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
.venv/bin/lint-imports
.venv/bin/npe2 validate napari-semicl
exec xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q --timeout=900 "$@"
