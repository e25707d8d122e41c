#!/usr/bin/env bash
# Interop test: a real Prefect 3.9.1 worker and event subscriber against workbus.
#
#   bash tests/interop/prefect_worker.sh
#
# Makes a virtualenv (target/interop-venv, reused on later runs; override with
# WORKBUS_INTEROP_VENV), installs prefect==3.9.1 from PyPI, builds and starts
# workbus on a loopback port with a fast offline threshold, then, once without
# auth and once with WORKBUS_API_AUTH_STRING / PREFECT_API_AUTH_STRING:
#   1. starts Prefect's PrefectEventSubscriber on /api/events/out;
#   2. runs `prefect worker start --pool P --type process`;
#   3. checks that P goes READY and its default queue READY, that the worker is on
#      the worker channel (heartbeats there, none over REST: GET /metrics) and
#      that a PATCH of P reaches it as a pushed snapshot;
#   4. stops the worker and checks that P goes NOT_READY after the threshold;
#   5. checks that the subscriber received those events live.
# Not part of `cargo test`: it needs PyPI and a minute or two.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tests/interop"
PORT=${WORKBUS_INTEROP_PORT:-4299}
WORK=$(mktemp -d)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

say() { printf '[interop] %s\n' "$*"; }
fail() { say "FAIL: $*"; for f in "$WORK"/*.log; do echo "--- $f"; tail -n 40 "$f"; done; exit 1; }

. "$HERE/venv.sh"
BIN="$ROOT/target/debug/workbus"

# GET a path; with auth, as basic auth.
api_get() {
    local url="http://127.0.0.1:$PORT/api$1"
    if [ -n "${AUTH:-}" ]; then curl -sf -u "$AUTH" "$url"; else curl -sf "$url"; fi
}

# One sample of GET /metrics.
metric() {
    local url="http://127.0.0.1:$PORT/metrics"
    if [ -n "${AUTH:-}" ]; then curl -sf -u "$AUTH" "$url"; else curl -sf "$url"; fi \
        | awk -v m="$1" '$1 == m { print $2 }'
}

# Waits up to $2 seconds for `$1` (a jq-free python check on the JSON) to succeed.
wait_for_status() {
    local path=$1 want=$2 timeout=$3 waited=0 got=""
    while [ "$waited" -lt "$timeout" ]; do
        got=$(api_get "$path" 2>/dev/null | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin).get("status"))' 2>/dev/null || true)
        [ "$got" = "$want" ] && { say "$path is $want after ${waited}s"; return 0; }
        sleep 1; waited=$((waited + 1))
    done
    fail "$path is ${got:-unreachable}, expected $want within ${timeout}s"
}

run_case() {
    local name=$1
    local pool="interop-$name"
    local events="$WORK/$name-events.txt"
    : > "$events"
    say "=== case: $name (auth: $([ -n "${AUTH:-}" ] && echo on || echo off))"

    local server_env=(WORKBUS_PORT="$PORT" WORKBUS_DATA_DIR="$WORK/$name-data" WORKBUS_WORKER_FALLBACK_HEARTBEAT_SECONDS=2
        WORKBUS_WORKER_INACTIVITY_MULTIPLE=2 WORKBUS_QUEUE_POLL_TIMEOUT_SECONDS=10 RUST_LOG=info)
    [ -n "${AUTH:-}" ] && server_env+=(WORKBUS_API_AUTH_STRING="$AUTH")
    env "${server_env[@]}" "$BIN" serve > "$WORK/$name-server.log" 2>&1 &
    local server=$!; PIDS+=("$server")
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null && break; sleep 0.2; done

    local prefect_env=(PREFECT_API_URL="http://127.0.0.1:$PORT/api" PREFECT_HOME="$WORK/prefect-home"
        PREFECT_WORKER_HEARTBEAT_SECONDS=2 PREFECT_WORKER_QUERY_SECONDS=2 PREFECT_LOGGING_LEVEL=DEBUG)
    [ -n "${AUTH:-}" ] && prefect_env+=(PREFECT_API_AUTH_STRING="$AUTH")

    env "${prefect_env[@]}" "$VENV/bin/python" "$HERE/subscriber.py" "$events" 90 > "$WORK/$name-subscriber.log" 2>&1 &
    local subscriber=$!; PIDS+=("$subscriber")
    for _ in $(seq 100); do grep -q subscribed "$events" && break; sleep 0.2; done
    grep -q subscribed "$events" || fail "the subscriber did not connect"

    # A script's background jobs inherit SIGINT ignored, and so would the worker that
    # Prefect's CLI stops with SIGINT; restore the default before exec.
    env "${prefect_env[@]}" "$VENV/bin/python" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
        "$VENV/bin/prefect" worker start --pool "$pool" --type process --name "w-$name" \
        > "$WORK/$name-worker.log" 2>&1 &
    local worker=$!; PIDS+=("$worker")

    wait_for_status "/work_pools/$pool" READY 60
    wait_for_status "/work_pools/$pool/queues/default" READY 30
    sleep 3
    # The worker is on the worker channel: it heartbeats there, never over REST, and
    # a change to its pool reaches it as a snapshot.
    [ "$(metric workbus_worker_channel_workers)" = 1 ] || fail "the worker is not on the worker channel"
    local patch_auth=(); [ -n "${AUTH:-}" ] && patch_auth=(-u "$AUTH")
    curl -sf "${patch_auth[@]}" -X PATCH -H 'content-type: application/json' \
        -d '{"concurrency_limit": 4}' "http://127.0.0.1:$PORT/api/work_pools/$pool" || fail "PATCH"
    sleep 1
    local beats rest snaps
    beats=$(metric workbus_worker_heartbeats_channel_total)
    rest=$(metric workbus_worker_heartbeats_rest_total)
    snaps=$(metric workbus_worker_channel_snapshots_total)
    say "worker channel: $beats heartbeats, $rest REST heartbeats, $snaps snapshots pushed"
    [ "$rest" = 0 ] || fail "the worker sent $rest REST heartbeats"
    [ "${beats:-0}" -ge 2 ] || fail "no heartbeats on the channel"
    [ "${snaps:-0}" -ge 1 ] || fail "no snapshot pushed after the PATCH"
    # SIGTERM: a background job of a script ignores SIGINT; Prefect turns TERM into a graceful stop.
    kill -TERM "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true
    say "worker stopped"
    wait_for_status "/work_pools/$pool" NOT_READY 30
    [ "$(metric workbus_worker_channel_workers)" = 0 ] || fail "the worker's channel is still open"
    sleep 1

    for want in "prefect.work-queue.created default" "prefect.work-pool.created $pool" \
        "prefect.work-pool.not-ready $pool" "prefect.work-pool.ready $pool" \
        "prefect.work-queue.ready default"; do
        grep -qx "$want" "$events" || fail "the subscriber did not receive '$want'"
    done
    # The second not-ready is the offline one.
    [ "$(grep -cx "prefect.work-pool.not-ready $pool" "$events")" -ge 2 ] \
        || fail "the subscriber did not receive the offline not-ready"
    say "subscriber received: $(grep -v subscribed "$events" | cut -d' ' -f1 | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
    if grep -q "^prefect.worker." "$events"; then say "worker events via /api/events/in: $(grep '^prefect.worker.' "$events" | cut -d' ' -f1 | sort -u | tr '\n' ' ')"; fi
    if grep -iE "Traceback|Error" "$WORK/$name-worker.log" | grep -v "DEBUG" | head -5 | grep -q .; then
        say "worker log has errors:"; grep -iE "Traceback|Error" "$WORK/$name-worker.log" | head -5
    fi
    say "routes the worker and subscriber called:"
    grep -oE '(GET|POST|PATCH|DELETE) /api[^ ?]* HTTP/1.1 [0-9]+' "$WORK/$name-server.log" | sed "s/$pool/{pool}/" | sort | uniq -c

    kill "$subscriber" 2>/dev/null || true
    kill -TERM "$server"; wait "$server" 2>/dev/null || true
    grep -q "workbus stopped" "$WORK/$name-server.log" || fail "the server did not shut down gracefully on SIGTERM"
    say "case $name passed"
}

AUTH="" run_case noauth
AUTH="interop:s3cret" run_case auth
say "PASS"
