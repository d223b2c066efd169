#!/usr/bin/env bash
# Create .venv (if needed) and install qcsc-prefect, its plugins and the dev tools into it.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# The shipped plugins, and the example third-party plugin built from the kit alone.
plugins=()
for dir in plugins/*/ examples/*_plugin/; do
    [ -f "$dir/pyproject.toml" ] && plugins+=(-e "$dir")
done
stamp=.venv/.qcsc-installed
want=$(cat pyproject.toml plugins/*/pyproject.toml examples/*_plugin/pyproject.toml 2>/dev/null \
       | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        -e ".[dev]" "${plugins[@]}"
    echo "$want" > "$stamp"
fi
