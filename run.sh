#!/usr/bin/env bash
# Set up (first time) and start Forensic Workbench; with no file it opens the sample case.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/scripts/setup.sh"
exec "$here/.venv/bin/workbench" "$@"
