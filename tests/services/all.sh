#!/usr/bin/env bash
# Start every local service the integration tests need (moto, tansu, ActiveMQ+Jolokia,
# Prometheus; and install cfn-lint for the template test), each
# installed when missing and started when down, and print the environment for the tests as
# `export` lines (logs go to stderr). Use either
#
#   services_env="$(bash tests/services/all.sh)" && eval "$services_env"
#   . tests/services/all.sh          # sourced: exports into the calling shell
#
# (not `eval "$(bash tests/services/all.sh)"` under set -e: eval hides a failure inside $(...)).
# Pass --smoke to run each service's smoke check too. A cold machine spends about 15 min in the
# tansu build (kafka.sh); with everything cached and running this takes well under a second.

_stepscale_services() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  bash "$dir/moto.sh" "$@" && bash "$dir/cfn_lint.sh" && bash "$dir/kafka.sh" "$@" && bash "$dir/activemq.sh" "$@" && bash "$dir/prometheus.sh"
}

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then # sourced: leave the caller's shell options alone
  _stepscale_env="$(_stepscale_services "$@")" || { unset -f _stepscale_services; return 1; }
  eval "$_stepscale_env"
  unset _stepscale_env
  unset -f _stepscale_services
  return 0
fi

set -euo pipefail
_stepscale_services "$@"
