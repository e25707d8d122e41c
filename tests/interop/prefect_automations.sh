#!/usr/bin/env bash
# Interop test: Prefect 3.9.1's own client (`prefect.automations.Automation`) creates,
# reads (by id and by name), disables, enables, updates and deletes an automation
# against workbus, unchanged (tests/interop/automations.py).
#
#   bash tests/interop/prefect_automations.sh
#
# Uses the virtualenv of prefect_worker.sh (target/interop-venv; override with
# WORKBUS_INTEROP_VENV), builds workbus and starts it in memory on a loopback port.
# Not part of `cargo test`: it needs PyPI the first time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PORT=${WORKBUS_INTEROP_PORT:-4298}

. "$ROOT/tests/interop/venv.sh"
start_workbus "$PORT" interop-automations.log

PREFECT_API_URL="http://127.0.0.1:$PORT/api" "$VENV/bin/python" "$ROOT/tests/interop/automations.py"
