#!/usr/bin/env bash
# Set up (if needed) and run the demo flow on Prefect's embedded server and the local target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PREFECT_HOME=${PREFECT_HOME:-$PWD/.prefect-demo}
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-120}
unset PREFECT_API_URL
exec .venv/bin/python examples/hello_flow.py
