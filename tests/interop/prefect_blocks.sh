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
start_workbus "$PORT" interop-blocks.log

PREFECT_API_URL="http://127.0.0.1:$PORT/api" "$VENV/bin/python" "$ROOT/tests/interop/blocks.py"
