#!/usr/bin/env bash
# Interop test: Prefect 3.9.1's own client saves a `Webhook` block and a
# `CustomWebhookNotificationBlock` to workbus (and saves them again, overwriting),
# loads them back, and makes an automation that calls the one and notifies through
# the other; an event fires it and a receiver on 127.0.0.1 gets both calls
# (tests/interop/blocks.py).
#
#   bash tests/interop/prefect_blocks.sh
#
# Uses the virtualenv of prefect_worker.sh (target/interop-venv; override with
# WORKBUS_INTEROP_VENV), builds workbus and starts it in memory on a loopback port.
# Not part of `cargo test`: it needs PyPI the first time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PORT=${WORKBUS_INTEROP_PORT:-4299}

. "$ROOT/tests/interop/venv.sh"
"$ROOT/target/debug/workbus" --in-memory --port "$PORT" > "$ROOT/target/interop-blocks.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null && break; sleep 0.1; done

PREFECT_API_URL="http://127.0.0.1:$PORT/api" "$VENV/bin/python" "$ROOT/tests/interop/blocks.py"
