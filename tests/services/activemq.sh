#!/usr/bin/env bash
# ActiveMQ 5.17 (Debian's package; Amazon MQ's ActiveMQ engine) with Jolokia for the tests:
# OpenWire tcp://127.0.0.1:61616, STOMP 127.0.0.1:61613, Jolokia http://127.0.0.1:8161/api/jolokia.
# Installs the Debian packages when missing, lays out a broker base dir in the cache with
# tests/services/activemq.xml, starts the broker when Jolokia does not answer, waits until it does,
# prints the env for the tests. Idempotent; fast when the broker is already up.
#
#   activemq.sh          install if needed, start if needed, print env
#   activemq.sh --smoke  also send 5 messages over STOMP and read them back through Jolokia
#                        (tests/services/activemq_smoke.py, python stdlib only)
set -euo pipefail
SERVICE_NAME=activemq
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

AMQ_BASE="${ACTIVEMQ_BASE_DIR:-$STEPSCALE_CACHE/activemq}"
AMQ_HOME=/usr/share/activemq
JOLOKIA_URL=http://127.0.0.1:8161/api/jolokia
BROKER_MBEAN='org.apache.activemq:type=Broker,brokerName=localhost'
WEB_JARS=(jolokia-core json-simple servlet-api jetty9-server jetty9-servlet jetty9-http jetty9-io
  jetty9-util jetty9-security jetty9-jmx)
PACKAGES=(activemq libjolokia-core-java libjetty9-java)

amq_ready() {
  local doc
  doc=$(curl -fsS --max-time 3 "$JOLOKIA_URL/read/$BROKER_MBEAN/BrokerName" 2>/dev/null) \
    && [[ $doc == *'"status":200'* ]]
}

installed() {
  [[ -f $AMQ_HOME/bin/activemq.jar ]] && command -v java >/dev/null || return 1
  local j; for j in "${WEB_JARS[@]}"; do [[ -f /usr/share/java/$j.jar ]] || return 1; done
}

install_packages() {
  installed && return 0
  local t0 apt_log="$STEPSCALE_CACHE/apt.log"
  t0=$(date +%s%3N)
  log "apt-get install ${PACKAGES[*]} (log: $apt_log)"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -q -o DPkg::Lock::Timeout=600)
  # Update the package lists only when the packages are unknown or the install fails (an old
  # list can name .debs the mirror no longer has).
  if ! apt-cache show "${PACKAGES[@]}" >/dev/null 2>&1 \
    || ! "${apt[@]}" install -y "${PACKAGES[@]}" >"$apt_log" 2>&1; then
    log "apt-get update, then install again"
    { "${apt[@]}" update && "${apt[@]}" install -y "${PACKAGES[@]}"; } >>"$apt_log" 2>&1 \
      || { tail -n 30 "$apt_log" >&2; die "apt-get install failed"; }
  fi
  installed || die "packages installed but files are missing"
  log "packages installed in $(elapsed_since "$t0")"
}

layout_base() {
  mkdir -p "$AMQ_BASE/conf" "$AMQ_BASE/lib/web" "$AMQ_BASE/tmp"
  rm -rf "$AMQ_BASE/data" && mkdir -p "$AMQ_BASE/data" # persistent=false: nothing to keep
  cp "$SERVICES_DIR/activemq.xml" "$AMQ_BASE/conf/activemq.xml"
  local j; for j in "${WEB_JARS[@]}"; do ln -sfn "/usr/share/java/$j.jar" "$AMQ_BASE/lib/web/$j.jar"; done
  # Debian's ActiveMQ logs through log4j 1.2; without a config it logs nothing at all.
  cat >"$AMQ_BASE/conf/log4j.properties" <<'LOG4J'
log4j.rootLogger=INFO, out
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.logger.org.eclipse.jetty=WARN
log4j.logger.org.apache.activemq.spring=WARN
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d | %-5p | %m | %c | %t%n
LOG4J
}

if ! amq_ready; then
  take_lock activemq
  install_packages
  if ! amq_ready; then
    for port in 61616 61613 8161; do
      port_open 127.0.0.1 "$port" && die "port $port is taken but Jolokia does not answer at $JOLOKIA_URL"
    done
    t0=$(date +%s%3N)
    layout_base
    log "starting ActiveMQ from $AMQ_BASE (log: $STEPSCALE_CACHE/activemq.log)"
    start_detached "$STEPSCALE_CACHE/activemq.log" "$STEPSCALE_CACHE/activemq.pid" \
      java -Xms64m -Xmx512m \
      --add-opens java.base/java.lang=ALL-UNNAMED \
      --add-opens java.base/java.util=ALL-UNNAMED \
      --add-opens java.base/java.net=ALL-UNNAMED \
      -Dactivemq.home="$AMQ_HOME" -Dactivemq.base="$AMQ_BASE" \
      -Dactivemq.conf="$AMQ_BASE/conf" -Dactivemq.data="$AMQ_BASE/data" \
      -Djava.io.tmpdir="$AMQ_BASE/tmp" \
      -Dlog4j.configuration="file:$AMQ_BASE/conf/log4j.properties" \
      -jar "$AMQ_HOME/bin/activemq.jar" start "xbean:file:$AMQ_BASE/conf/activemq.xml"
    wait_until 90 "ActiveMQ" "$STEPSCALE_CACHE/activemq.pid" amq_ready \
      || { tail -n 40 "$STEPSCALE_CACHE/activemq.log" >&2; exit 1; }
    log "ActiveMQ ready in $(elapsed_since "$t0") (pid $(cat "$STEPSCALE_CACHE/activemq.pid"))"
  fi
fi

if [[ ${1:-} == --smoke ]]; then
  python3 "$SERVICES_DIR/activemq_smoke.py" "$JOLOKIA_URL" 127.0.0.1 61613 >&2
fi

cat <<ENV
export JOLOKIA_URL=$JOLOKIA_URL
export ACTIVEMQ_OPENWIRE_URL=tcp://127.0.0.1:61616
export ACTIVEMQ_STOMP_ADDR=127.0.0.1:61613
ENV
