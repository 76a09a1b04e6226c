#!/usr/bin/env bash
# Prometheus (Debian's package) for the Prometheus source's tests: the HTTP API at
# http://127.0.0.1:19090, scraping every second the targets the tests list as file_sd JSON
# files in $STEPSCALE_CACHE/prometheus/targets (a test starts its own /metrics endpoint and
# writes one file naming it). Installs the package when missing, starts the server when
# /-/ready does not answer, waits until it does, prints the env for the tests. Idempotent;
# fast when the server is already up. Not Debian's own service (port 9090): its own
# configuration, data and port, so it never touches a system Prometheus.
set -euo pipefail
SERVICE_NAME=prometheus
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROM_DIR="$STEPSCALE_CACHE/prometheus"
PROM_ADDR=127.0.0.1:19090
PROM_URL="http://$PROM_ADDR"

prom_ready() {
  curl -fsS --max-time 3 "$PROM_URL/-/ready" >/dev/null 2>&1
}

install_package() {
  command -v prometheus >/dev/null && return 0
  local t0 apt_log="$STEPSCALE_CACHE/apt-prometheus.log"
  t0=$(date +%s%3N)
  log "apt-get install prometheus (log: $apt_log)"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -q -o DPkg::Lock::Timeout=600)
  if ! apt-cache show prometheus >/dev/null 2>&1 \
    || ! "${apt[@]}" install -y --no-install-recommends prometheus >"$apt_log" 2>&1; then
    log "apt-get update, then install again"
    { "${apt[@]}" update && "${apt[@]}" install -y --no-install-recommends prometheus; } >>"$apt_log" 2>&1 \
      || { tail -n 30 "$apt_log" >&2; die "apt-get install prometheus failed"; }
  fi
  command -v prometheus >/dev/null || die "prometheus installed but not on PATH"
  log "prometheus installed in $(elapsed_since "$t0")"
}

if ! prom_ready; then
  take_lock prometheus
  install_package
  if ! prom_ready; then
    port_open 127.0.0.1 19090 && die "port 19090 is taken but $PROM_URL/-/ready does not answer"
    t0=$(date +%s%3N)
    mkdir -p "$PROM_DIR/targets"
    rm -rf "$PROM_DIR/data" # samples of earlier runs are of no use
    cat >"$PROM_DIR/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: stepscale-tests
    scrape_interval: 1s
    scrape_timeout: 1s
    file_sd_configs:
      - files: ['$PROM_DIR/targets/*.json']
        refresh_interval: 1s
YAML
    log "starting Prometheus on $PROM_ADDR (log: $STEPSCALE_CACHE/prometheus.log)"
    start_detached "$STEPSCALE_CACHE/prometheus.log" "$STEPSCALE_CACHE/prometheus.pid" \
      prometheus --config.file="$PROM_DIR/prometheus.yml" \
      --storage.tsdb.path="$PROM_DIR/data" --storage.tsdb.retention.time=2h \
      --web.listen-address="$PROM_ADDR"
    wait_until 60 "Prometheus" "$STEPSCALE_CACHE/prometheus.pid" prom_ready \
      || { tail -n 40 "$STEPSCALE_CACHE/prometheus.log" >&2; exit 1; }
    log "Prometheus ready in $(elapsed_since "$t0") (pid $(cat "$STEPSCALE_CACHE/prometheus.pid"))"
  fi
fi

cat <<ENV
export PROMETHEUS_URL=$PROM_URL
export PROMETHEUS_TARGETS_DIR=$PROM_DIR/targets
ENV
