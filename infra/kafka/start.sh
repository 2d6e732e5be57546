#!/usr/bin/env bash
# Start a single-node KRaft Apache Kafka broker (dev / CI), bound to 127.0.0.1.
#
# The broker jars are fetched once from Maven Central with Maven (see pom.xml)
# and cached; later runs do no download.  See infra/kafka/README.md.
#
# Environment (all optional):
#   KAFKA_VERSION          Kafka version to fetch            (default 3.9.1)
#   KAFKA_CACHE_DIR        jar cache dir; jars go in ./libs  (default ~/.cache/agent-signals/kafka-$KAFKA_VERSION)
#   KAFKA_PORT             client (PLAINTEXT) port           (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port             (default KAFKA_PORT+1)
#   KAFKA_DATA_DIR         config, data, logs, pid file      (default <repo>/.kafka-data)
#   KAFKA_HEAP_OPTS        JVM heap options                  (default "-Xmx1g -Xms256m")
#   KAFKA_START_TIMEOUT    seconds to wait for readiness     (default 60)
#   JAVA_HOME / MVN        java / maven to use               (default: from PATH)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-signals/kafka-$KAFKA_VERSION}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$REPO_ROOT/.kafka-data}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx1g -Xms256m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
HOST=127.0.0.1

say() { echo "[kafka] $*"; }
die() { echo "[kafka] ERROR: $*" >&2; exit 1; }

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA="$(command -v java || true)"; fi
[[ -n "$JAVA" ]] || die "java not found (install a JDK >= 11 or set JAVA_HOME)"

mkdir -p "$KAFKA_DATA_DIR"
KAFKA_DATA_DIR="$(cd "$KAFKA_DATA_DIR" && pwd)"
[[ -e "$KAFKA_DATA_DIR/.gitignore" ]] || echo '*' >"$KAFKA_DATA_DIR/.gitignore"  # keep it out of git
LIBS="$KAFKA_CACHE_DIR/libs"
LOG_DIR="$KAFKA_DATA_DIR/logs"
LOG_FILE="$LOG_DIR/server.log"
OUT_FILE="$LOG_DIR/kafka.out"
PID_FILE="$KAFKA_DATA_DIR/kafka.pid"
CONFIG="$KAFKA_DATA_DIR/server.properties"
LOG4J_CONFIG="$KAFKA_DATA_DIR/log4j.properties"
KRAFT_LOG_DIR="$KAFKA_DATA_DIR/kraft-logs"

# Serialise concurrent start/stop on the same data dir.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$KAFKA_DATA_DIR/.lock"
  flock -w 120 9 || die "could not lock $KAFKA_DATA_DIR/.lock"
fi

# ---------------------------------------------------------------- helpers
our_pid() {  # prints pid if the pid file points at a live kafka.Kafka process
  [[ -f "$PID_FILE" ]] || return 1
  local pid; pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Sends a Kafka ApiVersions request; succeeds if the broker answers with error_code 0.
api_ready() {
  if ! command -v python3 >/dev/null 2>&1; then port_open "$KAFKA_PORT"; return; fi
  python3 - "$HOST" "$KAFKA_PORT" <<'PY' 2>/dev/null
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
client = b"start.sh"
body = struct.pack(">hhih", 18, 0, 42, len(client)) + client  # ApiVersions v0
with socket.create_connection((host, port), timeout=2) as s:
    s.settimeout(3)
    s.sendall(struct.pack(">i", len(body)) + body)
    buf = b""
    while len(buf) < 10:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(1)
        buf += chunk
size, corr, err = struct.unpack(">iih", buf[:10])
sys.exit(0 if corr == 42 and err == 0 else 1)
PY
}

tail_log() {
  local f
  for f in "$LOG_FILE" "$OUT_FILE"; do
    [[ -s "$f" ]] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 40 "$f" >&2
  done
}

# ---------------------------------------------------------------- already running?
if pid="$(our_pid)"; then
  if api_ready; then
    say "already running (pid $pid, $HOST:$KAFKA_PORT, data $KAFKA_DATA_DIR)"
    exit 0
  fi
  say "process $pid exists but is not answering yet; waiting for it"
  STARTED_PID="$pid"
else
  rm -f "$PID_FILE"
  STARTED_PID=""
fi

if [[ -z "$STARTED_PID" ]]; then
  if port_open "$KAFKA_PORT"; then
    die "port $KAFKA_PORT on $HOST is already in use by another process (set KAFKA_PORT)"
  fi
  if port_open "$KAFKA_CONTROLLER_PORT"; then
    die "controller port $KAFKA_CONTROLLER_PORT on $HOST is already in use (set KAFKA_CONTROLLER_PORT)"
  fi

  # ------------------------------------------------------------ jars (cached)
  if [[ ! -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
    MVN="${MVN:-$(command -v mvn || true)}"
    [[ -n "$MVN" ]] || die "maven (mvn) not found and no cached jars in $LIBS"
    say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIBS ..."
    mkdir -p "$KAFKA_CACHE_DIR"
    tmp="$(mktemp -d "$KAFKA_CACHE_DIR/libs.tmp.XXXXXX")"
    if ! "$MVN" -B -q -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" \
        -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
        </dev/null >"$KAFKA_CACHE_DIR/mvn.log" 2>&1; then
      tail -n 40 "$KAFKA_CACHE_DIR/mvn.log" >&2
      rm -rf "$tmp"
      die "maven failed to fetch kafka_2.13:$KAFKA_VERSION (log: $KAFKA_CACHE_DIR/mvn.log)"
    fi
    [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || { rm -rf "$tmp"; die "kafka_2.13-$KAFKA_VERSION.jar missing after download"; }
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    say "cached $(ls "$LIBS" | wc -l) jars"
  fi
  CLASSPATH_LIBS="$LIBS/*"

  # ------------------------------------------------------------ config (rewritten each start)
  mkdir -p "$LOG_DIR" "$KRAFT_LOG_DIR"
  cat >"$CONFIG" <<EOF
# Generated by infra/kafka/start.sh -- edits are overwritten on next start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KRAFT_LOG_DIR

num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0

log.retention.hours=24
log.retention.bytes=1073741824
log.segment.bytes=67108864
log.retention.check.interval.ms=300000
num.network.threads=3
num.io.threads=4
EOF

  cat >"$LOG4J_CONFIG" <<'EOF'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.controller=INFO
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
EOF

  JAVA_OPTS=(
    -server $KAFKA_HEAP_OPTS
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    "-Dkafka.logs.dir=$LOG_DIR" "-Dlog4j.configuration=file:$LOG4J_CONFIG"
    -cp "$CLASSPATH_LIBS"
  )

  # ------------------------------------------------------------ format storage once
  if [[ ! -f "$KRAFT_LOG_DIR/meta.properties" ]]; then
    cluster_id=""
    while [[ -z "$cluster_id" || "$cluster_id" == -* ]]; do  # Kafka Uuid: base64url(16 bytes), no padding
      cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    say "formatting storage in $KRAFT_LOG_DIR (cluster id $cluster_id)"
    if ! "$JAVA" "${JAVA_OPTS[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" \
        >"$LOG_DIR/format.log" 2>&1; then
      cat "$LOG_DIR/format.log" >&2
      die "storage format failed (see $LOG_DIR/format.log)"
    fi
  fi

  # ------------------------------------------------------------ launch
  : >"$OUT_FILE"
  [[ -f "$LOG_FILE" ]] && echo "===== start.sh $(date -Is) =====" >>"$LOG_FILE"
  say "starting broker on $HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT), data $KAFKA_DATA_DIR"
  log_offset=$(( $( [[ -f "$LOG_FILE" ]] && wc -c <"$LOG_FILE" || echo 0 ) ))
  nohup "$JAVA" "${JAVA_OPTS[@]}" kafka.Kafka "$CONFIG" >>"$OUT_FILE" 2>&1 </dev/null 9>&- &
  STARTED_PID=$!
  echo "$STARTED_PID" >"$PID_FILE"
else
  log_offset=0
fi

# ---------------------------------------------------------------- wait for readiness
deadline=$(( SECONDS + KAFKA_START_TIMEOUT ))
while :; do
  if ! kill -0 "$STARTED_PID" 2>/dev/null; then
    rm -f "$PID_FILE"
    tail_log
    die "broker process $STARTED_PID exited during startup; logs: $LOG_FILE, $OUT_FILE"
  fi
  if tail -c +"$((log_offset + 1))" "$LOG_FILE" 2>/dev/null | grep -q 'Kafka Server started' && api_ready; then
    break
  fi
  if (( SECONDS >= deadline )); then
    tail_log
    die "broker not ready after ${KAFKA_START_TIMEOUT}s (pid $STARTED_PID still running; stop it with infra/kafka/stop.sh); logs: $LOG_FILE"
  fi
  sleep 0.5
done
say "ready: bootstrap $HOST:$KAFKA_PORT (pid $STARTED_PID, log $LOG_FILE)"
