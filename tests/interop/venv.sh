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
