#!/usr/bin/env bash
# Bench 8 against Prefect: starts a Prefect 3.9.1 server (SQLite, in a temp dir) on
# 127.0.0.1:4201, creates the pools the bench heartbeats to, and runs `cargo bench --bench
# http` with WORKBUS_BENCH_PREFECT_URL set, so workbus, a bare actix-web server and Prefect
# are measured by the same load generator in the same run. Needs PyPI; not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/interop-venv
if [ ! -x "$venv/bin/prefect" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "prefect==3.9.1"
fi
home=$(mktemp -d)
export PREFECT_HOME="$home" PREFECT_SERVER_ANALYTICS_ENABLED=false PREFECT_SERVER_UI_ENABLED=false
export PREFECT_API_DATABASE_CONNECTION_URL="sqlite+aiosqlite:///$home/prefect.db"
"$venv/bin/prefect" server start --host 127.0.0.1 --port 4201 > "$home/server.log" 2>&1 &
server=$!
# The server dies of the kill: its status (143) must not become the script's, under set -e.
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$home"' EXIT
for _ in $(seq 120); do curl -sf http://127.0.0.1:4201/api/health >/dev/null && break; sleep 0.5; done
curl -sf http://127.0.0.1:4201/api/health >/dev/null || { cat "$home/server.log"; exit 1; }
for p in $(seq 0 99); do
  curl -sf -X POST http://127.0.0.1:4201/api/work_pools/ -H 'content-type: application/json' \
    -d "{\"name\":\"pool-$p\",\"type\":\"process\"}" >/dev/null
done
WORKBUS_BENCH_PREFECT_URL=http://127.0.0.1:4201 cargo bench --bench http
