#!/usr/bin/env bash
# The test command: set up if needed, then the whole suite headless (Qt offscreen).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export QT_QPA_PLATFORM=offscreen QTWEBENGINE_DISABLE_SANDBOX=1
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
