#!/usr/bin/env bash
# The whole test suite, as the README gives it: checks style, starts the local services the
# integration tests need (Redis, RabbitMQ with its management plugin), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

wait_port() { # host port seconds
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    if ((SECONDS >= deadline)); then log "nothing listens on $1:$2 after $3 s"; return 1; fi
    sleep 0.5
  done
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return; fi
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_port 127.0.0.1 6379 30
}

ensure_rabbitmq() {
  if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    log "starting RabbitMQ"
    rabbitmq-server -detached
    wait_port 127.0.0.1 5672 120
  fi
  timeout 120 rabbitmqctl wait --pid "$(pgrep -f 'beam.*rabbit' | head -n1)" --timeout 110 >/dev/null 2>&1 || true
  if ! (exec 3<>/dev/tcp/127.0.0.1/15672) 2>/dev/null; then
    log "enabling the RabbitMQ management plugin"
    rabbitmq-plugins enable rabbitmq_management >/dev/null
    wait_port 127.0.0.1 15672 120
  fi
}

ensure_redis
ensure_rabbitmq
# moto (AWS APIs), tansu (Kafka protocol), ActiveMQ with Jolokia, Prometheus: installed when
# missing (the first tansu build takes ~13 min, cached in /var/tmp/stepscale-cache), started
# when down.
log "local services: moto, tansu, ActiveMQ, Prometheus"
services_env="$(bash tests/services/all.sh)"
eval "$services_env"

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
export RABBITMQ_MANAGEMENT_URL="${RABBITMQ_MANAGEMENT_URL:-http://127.0.0.1:15672}"

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
log "cargo test"
# --no-fail-fast: one failing test binary must not hide the others' results.
cargo test --workspace --all-features --no-fail-fast
