#!/usr/bin/env bash
# tansu (a Kafka-protocol broker in Rust) on 127.0.0.1:9092 for the integration tests.
# Installs tansu 0.6.0 with cargo into the cache when the binary is missing (about 15 min on
# 2 cores, niced; the binary is kept at $STEPSCALE_CACHE/tansu/bin/tansu), starts the broker with
# in-memory storage when it does not answer, waits until it answers the Kafka ApiVersions request,
# prints the env for the tests. Idempotent; fast when the broker is already up.
#
#   kafka.sh                 install if needed, start if needed, print env
#   kafka.sh --install-only  only install the binary (e.g. to warm the cache in the background)
#   kafka.sh --smoke         also create a topic, produce, consume in a group and commit, with
#                            kafka-python from PyPI in $STEPSCALE_CACHE/kafka-smoke-venv
set -euo pipefail
SERVICE_NAME=kafka
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TANSU_VERSION=0.6.0
TANSU_ROOT="${TANSU_ROOT:-$STEPSCALE_CACHE/tansu}"
TANSU_BIN="$TANSU_ROOT/bin/tansu"
TANSU_TARGET_DIR="${TANSU_TARGET_DIR:-$STEPSCALE_CACHE/tansu-target}"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
MODE="${1:-}"

# Kafka ApiVersions v0 over a plain socket (python stdlib): proves a Kafka broker answers, not
# just that something holds the port.
kafka_ready() {
  python3 - "$KAFKA_HOST" "$KAFKA_PORT" <<'PY' 2>/dev/null
import socket, struct, sys
client = b"stepscale-probe"
body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as s:
    s.sendall(struct.pack(">i", len(body)) + body)
    data = b""
    while len(data) < 10:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(1)
        data += chunk
size, corr, err = struct.unpack(">iih", data[:10])
sys.exit(0 if corr == 7 and err == 0 else 1)
PY
}

install_tansu() {
  [[ -x $TANSU_BIN ]] && return 0
  command -v cargo >/dev/null || die "cargo is needed to install tansu"
  local t0; t0=$(date +%s%3N)
  log "cargo install tansu $TANSU_VERSION into $TANSU_ROOT (about 15 min on 2 cores; log: $STEPSCALE_CACHE/tansu-install.log)"
  if ! CARGO_TARGET_DIR="$TANSU_TARGET_DIR" nice -n 19 cargo install --locked tansu \
    --version "$TANSU_VERSION" --no-default-features --features dynostore \
    --root "$TANSU_ROOT" >"$STEPSCALE_CACHE/tansu-install.log" 2>&1; then
    tail -n 40 "$STEPSCALE_CACHE/tansu-install.log" >&2
    die "cargo install tansu failed"
  fi
  log "tansu installed in $(elapsed_since "$t0")"
  # The build folder (1.3 GB) is of no use once the binary is installed. Removed only when it is
  # this script's own default folder, never one the caller named in TANSU_TARGET_DIR.
  if [[ $TANSU_TARGET_DIR == "$STEPSCALE_CACHE/tansu-target" ]]; then
    rm -rf "$TANSU_TARGET_DIR"
  fi
}

if [[ $MODE == --install-only ]]; then
  take_lock tansu
  install_tansu
  exit 0
fi

if ! kafka_ready; then
  take_lock tansu
  install_tansu
  if ! kafka_ready; then
    port_open "$KAFKA_HOST" "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by something that does not speak Kafka"
    t0=$(date +%s%3N)
    log "starting tansu on $KAFKA_HOST:$KAFKA_PORT (log: $STEPSCALE_CACHE/tansu.log)"
    start_detached "$STEPSCALE_CACHE/tansu.log" "$STEPSCALE_CACHE/tansu.pid" \
      env RUST_LOG="${TANSU_RUST_LOG:-warn}" "$TANSU_BIN" broker \
      --listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT" \
      --advertised-listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT" \
      --storage-engine memory://tansu/
    wait_until 30 "tansu" "$STEPSCALE_CACHE/tansu.pid" kafka_ready \
      || { tail -n 30 "$STEPSCALE_CACHE/tansu.log" >&2; exit 1; }
    log "tansu ready in $(elapsed_since "$t0") (pid $(cat "$STEPSCALE_CACHE/tansu.pid"))"
  fi
fi

if [[ $MODE == --smoke ]]; then
  venv="$STEPSCALE_CACHE/kafka-smoke-venv"
  if ! "$venv/bin/python" -c 'import kafka' 2>/dev/null; then
    log "installing kafka-python into $venv"
    rm -rf "$venv" && python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'kafka-python==3.0.12' >&2
  fi
  "$venv/bin/python" "$SERVICES_DIR/kafka_smoke.py" "$KAFKA_HOST:$KAFKA_PORT" >&2
fi

echo "export KAFKA_BROKERS=$KAFKA_HOST:$KAFKA_PORT"
