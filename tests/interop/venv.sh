# Sourced by the interop scripts: the virtualenv with prefect==3.9.1 in $VENV (made on
# first use: target/interop-venv, or WORKBUS_INTEROP_VENV), and workbus built.
VENV=${WORKBUS_INTEROP_VENV:-$ROOT/target/interop-venv}
if [ ! -x "$VENV/bin/prefect" ]; then
    printf '[interop] installing prefect==3.9.1 into %s\n' "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "prefect==3.9.1"
fi
"$VENV/bin/python" -c 'import prefect; assert prefect.__version__ == "3.9.1", prefect.__version__'
printf '[interop] building workbus\n'
(cd "$ROOT" && cargo build -q -p workbus-server --bin workbus)

# Starts workbus in memory on port $1, its log in target/$2, and waits until it answers;
# it is stopped when the script exits.
start_workbus() {
    "$ROOT/target/debug/workbus" --in-memory --port "$1" > "$ROOT/target/$2" 2>&1 &
    SERVER=$!
    trap 'kill $SERVER 2>/dev/null || true' EXIT
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/api/health" >/dev/null && break; sleep 0.1; done
}
