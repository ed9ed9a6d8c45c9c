#!/usr/bin/env bash
# The README's test command: set-up, the import-boundary and manifest checks, then the whole
# suite (engine + napari GUI tests in a real window under Xvfb with Mesa GL) on PyQt5, then
# the GUI tests (tests/plugin) again on PyQt6. qtpy takes the binding QT_API names;
# tests/plugin/test_qt_binding.py fails a pass that runs on another one.
# Arguments go to pytest (both passes; the PyQt6 pass runs tests/plugin when there are none).
# SEMICL_QT_APIS="pyqt5" skips the PyQt6 pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${SEMICL_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export SEMICL_DATA_DIR="$(cd ../shared/data && pwd)"
fi
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
.venv/bin/lint-imports
.venv/bin/npe2 validate napari-semicl
unset PYTEST_QT_API  # pytest-qt follows qtpy (tests/conftest.py)
status=0
first=1
for api in ${SEMICL_QT_APIS:-pyqt5 pyqt6}; do
  args=("$@")
  if [ "$first" = 0 ] && [ $# -eq 0 ]; then args=(tests/plugin); fi
  echo "test: ${args[*]:-all tests} on QT_API=$api"
  QT_API=$api xvfb-run -a -s "-screen 0 1280x1024x24" \
    .venv/bin/python -m pytest -q --timeout=900 "${args[@]}" || status=$?
  first=0
done
exit "$status"
