# Shared helpers for tests/services/*.sh (sourced, not run).
# Logs go to stderr; stdout is kept for the `export` lines a caller may eval.

STEPSCALE_CACHE="${STEPSCALE_CACHE:-/var/tmp/stepscale-cache}"
SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$STEPSCALE_CACHE"

log() { printf '==> [%s] %s\n' "${SERVICE_NAME:-services}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

port_open() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_until() { # seconds description command...
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then log "$what: not ready after $secs s"; return 1; fi
    sleep 0.3
  done
}

# Start a command detached from the caller: own session, no inherited stdin/stdout/stderr
# (so `eval "$(all.sh)"` does not hang on the pipe), output to a log file, pid to a file.
start_detached() { # logfile pidfile command...
  local logfile=$1 pidfile=$2; shift 2
  : >"$logfile"
  nohup setsid "$@" </dev/null >>"$logfile" 2>&1 &
  echo $! >"$pidfile"
}

# Exclusive lock for install steps so that two callers at once do not race.
with_lock() { # lockname command...
  local lock="$STEPSCALE_CACHE/$1.lock"; shift
  (
    flock 9
    "$@"
  ) 9>"$lock"
}

elapsed_since() { # start-epoch-ms
  echo "$(( $(date +%s%3N) - $1 )) ms"
}
