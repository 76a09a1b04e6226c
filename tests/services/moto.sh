#!/usr/bin/env bash
# moto's server (AWS APIs) on 127.0.0.1:5000 for the integration tests.
# Installs moto[server] into a venv in the cache (outside the clone) when missing, starts the
# server when the port does not answer, waits until it is ready, prints the env for the tests.
# Idempotent; a second call with the server up takes well under a second.
#
#   moto.sh          install if needed, start if needed, print env
#   moto.sh --smoke  also create an SQS queue, send, and read ApproximateNumberOfMessages with
#                    the venv's boto3, then delete that queue (no global reset: other tests
#                    may be using the server)
set -euo pipefail
SERVICE_NAME=moto
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MOTO_HOST=127.0.0.1
MOTO_PORT="${MOTO_PORT:-5000}"
MOTO_VENV="${MOTO_VENV:-$STEPSCALE_CACHE/moto-venv}"
# Pinned to the version these scripts were checked with; override to try another.
MOTO_SPEC="${MOTO_SPEC:-moto[server]==5.2.5}"
MOTO_URL="http://$MOTO_HOST:$MOTO_PORT"

# /moto-api/ is moto's dashboard page (about 10 KB, fixed size; data.json grows with the state).
moto_ready() {
  local page
  page=$(curl -fsS --max-time 2 "$MOTO_URL/moto-api/" 2>/dev/null) && [[ $page == *Moto* ]]
}

install_moto() {
  # A venv whose interpreter went away (e.g. another python3) is rebuilt.
  [[ -x "$MOTO_VENV/bin/moto_server" ]] && "$MOTO_VENV/bin/python" -c '' 2>/dev/null && return 0
  local t0; t0=$(date +%s%3N)
  log "creating $MOTO_VENV and installing $MOTO_SPEC"
  rm -rf "$MOTO_VENV"
  if ! "${PYTHON:-python3}" -m venv "$MOTO_VENV" >&2; then
    log "python3 -m venv failed; installing Debian's python3-venv"
    apt-get install -y python3-venv >&2 || { apt-get update >&2 && apt-get install -y python3-venv >&2; }
    rm -rf "$MOTO_VENV"
    /usr/bin/python3 -m venv "$MOTO_VENV" >&2
  fi
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "$MOTO_SPEC" >&2
  log "moto installed in $(elapsed_since "$t0")"
}

if ! moto_ready; then
  take_lock moto
  install_moto
  if ! moto_ready; then
    port_open "$MOTO_HOST" "$MOTO_PORT" && die "port $MOTO_PORT is taken by something that is not moto"
    t0=$(date +%s%3N)
    log "starting moto_server on $MOTO_URL (log: $STEPSCALE_CACHE/moto.log)"
    start_detached "$STEPSCALE_CACHE/moto.log" "$STEPSCALE_CACHE/moto.pid" \
      "$MOTO_VENV/bin/moto_server" -H "$MOTO_HOST" -p "$MOTO_PORT"
    wait_until 60 "moto_server" "$STEPSCALE_CACHE/moto.pid" moto_ready || { tail -n 30 "$STEPSCALE_CACHE/moto.log" >&2; exit 1; }
    log "moto_server ready in $(elapsed_since "$t0") (pid $(cat "$STEPSCALE_CACHE/moto.pid"))"
  fi
fi

if [[ ${1:-} == --smoke ]]; then
  "$MOTO_VENV/bin/python" - "$MOTO_URL" >&2 <<'PY'
import sys, uuid, boto3
url = sys.argv[1]
sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
q = sqs.create_queue(QueueName=f"stepscale-smoke-{uuid.uuid4().hex[:8]}")["QueueUrl"]
for i in range(3):
    sqs.send_message(QueueUrl=q, MessageBody=f"m{i}")
n = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages"])
n = int(n["Attributes"]["ApproximateNumberOfMessages"])
assert n == 3, n
sqs.delete_queue(QueueUrl=q)
print(f"moto smoke ok: SQS queue got 3 messages, ApproximateNumberOfMessages={n}")
PY
fi

cat <<ENV
export AWS_ENDPOINT_URL=$MOTO_URL
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
ENV
