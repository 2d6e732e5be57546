#!/usr/bin/env bash
# Stop the dev/CI Kafka broker started by infra/kafka/start.sh.
#   stop.sh            SIGTERM, wait up to KAFKA_STOP_TIMEOUT (30s), then SIGKILL
#   stop.sh --clean    additionally delete KAFKA_DATA_DIR (topics, logs, config)
# Idempotent: exits 0 when the broker is not running.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$REPO_ROOT/.kafka-data}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"

say() { echo "[kafka] $*"; }
die() { echo "[kafka] ERROR: $*" >&2; exit 1; }

CLEAN=0
for arg in "$@"; do
  case "$arg" in
    --clean) CLEAN=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (usage: stop.sh [--clean])" ;;
  esac
done

if [[ ! -d "$KAFKA_DATA_DIR" ]]; then
  say "not running (no data dir $KAFKA_DATA_DIR)"
  exit 0
fi
KAFKA_DATA_DIR="$(cd "$KAFKA_DATA_DIR" && pwd)"
PID_FILE="$KAFKA_DATA_DIR/kafka.pid"

if command -v flock >/dev/null 2>&1; then
  exec 9>"$KAFKA_DATA_DIR/.lock"
  flock -w 120 9 || die "could not lock $KAFKA_DATA_DIR/.lock"
fi

pid=""
if [[ -f "$PID_FILE" ]]; then
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null \
     || ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'; then
    pid=""  # stale pid file (process gone or pid reused)
  fi
fi

if [[ -z "$pid" ]]; then
  say "not running"
else
  say "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(( SECONDS + KAFKA_STOP_TIMEOUT ))
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    say "still alive after ${KAFKA_STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  say "stopped"
fi
rm -f "$PID_FILE"

if (( CLEAN )); then
  case "$KAFKA_DATA_DIR" in
    /|"$HOME"|"$REPO_ROOT") die "refusing to delete $KAFKA_DATA_DIR" ;;
  esac
  if [[ -f "$KAFKA_DATA_DIR/server.properties" || -z "$(ls -A "$KAFKA_DATA_DIR" | grep -vE '^\.(lock|gitignore)$' || true)" ]]; then
    rm -rf "$KAFKA_DATA_DIR"
    say "removed $KAFKA_DATA_DIR"
  else
    die "$KAFKA_DATA_DIR does not look like a broker data dir (no server.properties); not deleting"
  fi
fi
