#!/usr/bin/env bash
# Interop test: the same automation scenario against a real Prefect 3.9.1 server and
# against workbus (tests/interop/automations_vs_prefect.py): the same automation events,
# and how late each server's proactive firing came.
#
#   bash tests/interop/automations_vs_prefect.sh
#
# Uses the virtualenv of prefect_worker.sh (target/interop-venv; WORKBUS_INTEROP_VENV to
# use another); starts `prefect server start` on 4300 (its home in a temporary folder) and
# workbus in memory on 4297. Not part of `cargo test`: it needs PyPI and about a minute.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
say() { printf '[interop] %s\n' "$*"; }

. "$ROOT/tests/interop/venv.sh"
"$ROOT/target/debug/workbus" --in-memory --port 4297 > "$WORK/workbus.log" 2>&1 &
PIDS+=($!)
PREFECT_HOME="$WORK/prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false PREFECT_UI_ENABLED=false \
    "$VENV/bin/prefect" server start --host 127.0.0.1 --port 4300 > "$WORK/prefect.log" 2>&1 &
PIDS+=($!)
for port in 4297 4300; do
    for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.5; done
done
"$VENV/bin/python" "$ROOT/tests/interop/automations_vs_prefect.py" \
    http://127.0.0.1:4300/api http://127.0.0.1:4297/api
