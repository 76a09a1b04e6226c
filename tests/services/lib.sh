# Shared helpers for tests/services/*.sh (sourced, not run).
# Logs go to stderr; stdout is kept for the `export` lines a caller may eval.

STEPSCALE_CACHE="${STEPSCALE_CACHE:-/var/tmp/stepscale-cache}"
# shellcheck disable=SC2034 # used by the scripts that source this file
SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$STEPSCALE_CACHE"

log() { printf '==> [%s] %s\n' "${SERVICE_NAME:-services}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

port_open() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Poll a readiness command until it succeeds; give up after SECS or as soon as the process in
# PIDFILE (use - for none) has exited.
wait_until() { # secs description pidfile command...
  local secs=$1 what=$2 pidfile=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [[ $pidfile != - ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "$what: process $(cat "$pidfile") exited before it was ready"; return 1
    fi
    if ((SECONDS >= deadline)); then log "$what: not ready after $secs s"; return 1; fi
    sleep 0.3
  done
}

# Start a command detached from the caller: own session, no inherited stdin/stdout/stderr
# (so `eval "$(all.sh)"` does not hang on the pipe) and not the lock fd 9, output to a log file,
# pid to a file.
start_detached() { # logfile pidfile command...
  local logfile=$1 pidfile=$2; shift 2
  : >"$logfile"
  nohup setsid "$@" </dev/null >>"$logfile" 2>&1 9>&- &
  echo $! >"$pidfile"
}

# Serialise install/start between callers (fd 9 stays held until the script exits).
take_lock() { # name
  exec 9>"$STEPSCALE_CACHE/$1.lock"
  flock -w 3600 9 || die "could not take $STEPSCALE_CACHE/$1.lock"
}

elapsed_since() { # start-epoch-ms
  echo "$(( $(date +%s%3N) - $1 )) ms"
}
