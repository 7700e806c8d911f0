#!/usr/bin/env bash
# Start, stop or query the local llama-cpp-python OpenAI-compatible server that
# `make served-install` set up (pipelines/served.mk passes these variables):
#
#   scripts/served.sh start    background server, pid in $SERVED_DIR/server.pid, log in
#                              $SERVED_DIR/server.log; returns once /v1/models answers
#   scripts/served.sh stop     stops it by pid; succeeds if it was not running
#   scripts/served.sh status   exit 0 and the URL if it runs, exit 1 if not
#
# SERVED_MODEL=path.gguf serves another GGUF than the one in $SERVED_DIR/model-path.
set -euo pipefail

SERVED_DIR=${SERVED_DIR:-.served}
SERVED_VENV=${SERVED_VENV:-$SERVED_DIR/venv}
SERVED_HOST=${SERVED_HOST:-127.0.0.1}
SERVED_PORT=${SERVED_PORT:-8731}
SERVED_START_TIMEOUT=${SERVED_START_TIMEOUT:-60}
PIDFILE=$SERVED_DIR/server.pid
LOG=$SERVED_DIR/server.log
URL=http://$SERVED_HOST:$SERVED_PORT
PY=$SERVED_VENV/bin/python

die() { echo "served: $*" >&2; exit 1; }

# The pid in the pid file, if that process still runs and is our server.
running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: the process must be a llama_cpp.server.
  if [ -r "/proc/$pid/cmdline" ]; then
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q 'llama_cpp.server' || return 1
  fi
  echo "$pid"
}

models_answer() {
  "$PY" - "$URL/v1/models" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

start() {
  [ -x "$PY" ] || die "no venv at $SERVED_VENV: run 'make served-install' first"
  local model=${SERVED_MODEL:-}
  if [ -z "$model" ]; then
    [ -f "$SERVED_DIR/model-path" ] || die "no $SERVED_DIR/model-path: run 'make served-install' first"
    model=$(cat "$SERVED_DIR/model-path")
  fi
  [ -f "$model" ] || die "model file not found: $model"
  local pid
  if pid=$(running_pid); then
    echo "served: already running (pid $pid) at $URL"
    return 0
  fi
  if models_answer; then
    die "something else already answers at $URL (not started from $PIDFILE); choose another SERVED_PORT"
  fi
  mkdir -p "$SERVED_DIR"
  local t0=$EPOCHREALTIME
  # setsid: the server gets its own session, so it outlives make and a terminal's Ctrl-C.
  setsid "$PY" -m llama_cpp.server --model "$model" --host "$SERVED_HOST" --port "$SERVED_PORT" \
    > "$LOG" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$PIDFILE"
  local deadline=$(( $(date +%s) + SERVED_START_TIMEOUT ))
  until models_answer; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"
      echo "served: the server exited during start-up; last lines of $LOG:" >&2
      tail -n 20 "$LOG" >&2
      exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      kill "$pid" 2>/dev/null || true
      rm -f "$PIDFILE"
      echo "served: no answer from $URL/v1/models within ${SERVED_START_TIMEOUT}s (raise SERVED_START_TIMEOUT?); last lines of $LOG:" >&2
      tail -n 20 "$LOG" >&2
      exit 1
    fi
    sleep 0.2
  done
  local t1=$EPOCHREALTIME
  printf 'served: %s at %s (pid %s, ready in %.1f s, log %s)\n' \
    "$(basename "$model")" "$URL" "$pid" "$(awk "BEGIN { print $t1 - $t0 }")" "$LOG"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    echo "served: not running"
    return 0
  fi
  # TERM lets uvicorn finish the requests in flight; a client that keeps a connection open
  # (or a long generation) holds it up, so after SERVED_STOP_TIMEOUT seconds it gets KILL.
  kill "$pid"
  local tries=$(( ${SERVED_STOP_TIMEOUT:-10} * 10 ))
  for _ in $(seq "$tries"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "served: pid $pid did not stop in ${SERVED_STOP_TIMEOUT:-10} s (clients still connected?), sending KILL" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  echo "served: stopped (pid $pid)"
}

status() {
  local pid
  if pid=$(running_pid); then
    echo "served: running (pid $pid) at $URL"
  else
    echo "served: not running"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
