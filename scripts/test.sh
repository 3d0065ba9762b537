#!/usr/bin/env bash
# The test command: layer contracts first, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHON_KEYRING_BACKEND="${PYTHON_KEYRING_BACKEND:-keyring.backends.null.Keyring}"
lint-imports
python -m pytest -q -p no:cacheprovider "$@"
