#!/usr/bin/env bash
# Set up the environment (idempotent, see tools/setup_env.sh) and run the test suite.
#   bash tools/run_tests.sh                 # everything
#   bash tools/run_tests.sh -k flip -x      # extra arguments go to pytest
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$REPO/tools/setup_env.sh"
VENV=${DEEPMARK_VENV:-$REPO/.venv}
cd "$REPO"
# pytest exits 5 when it collected no test: that is a failure here, like any other non-zero code.
exec "$VENV/bin/python" -m pytest tests "$@"
