#!/usr/bin/env bash
# Stop the services that tests/services/*.sh started, by the pids they recorded in the cache.
#   stop.sh [moto|kafka|activemq|prometheus]...   (default: all four)
set -euo pipefail
SERVICE_NAME=stop
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

declare -A PIDFILE=([moto]=moto.pid [kafka]=tansu.pid [activemq]=activemq.pid [prometheus]=prometheus.pid)
(($#)) || set -- moto kafka activemq prometheus
for svc in "$@"; do
  [[ -n ${PIDFILE[$svc]:-} ]] || die "unknown service $svc"
  f="$STEPSCALE_CACHE/${PIDFILE[$svc]}"
  [[ -f $f ]] || { log "$svc: no pid file"; continue; }
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$svc: pid $pid ignores TERM, sending KILL"; kill -9 "$pid"; }
    log "$svc: stopped pid $pid"
  else
    log "$svc: pid $pid not running"
  fi
  rm -f "$f"
done
