#!/usr/bin/env bash
# Set up everything and run the whole test suite: lint, types, core tests, plugin tests.
# As root on Debian it also starts the local Slurm cluster the Slurm plugin is tested on;
# elsewhere those tests skip and say how to enable them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

slurm=plugins/slurm/scripts/local-slurm.sh
if [ -f "$slurm" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== starting the local Slurm cluster ($slurm up)"
    if ! bash "$slurm" up; then
        echo "!! local Slurm did not start; Slurm tests will skip" >&2
    fi
else
    echo "== not starting local Slurm (needs root on Debian); Slurm tests will skip"
fi

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
unset PREFECT_API_URL
set +e
.venv/bin/pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
    echo "!! pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$rc"
