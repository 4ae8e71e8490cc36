#!/usr/bin/env bash
# Single-node Apache Kafka 3.9.1 broker (KRaft, broker+controller in one JVM) for the tests.
#   127.0.0.1:9092  PLAINTEXT (clients)      127.0.0.1:9093  CONTROLLER (not for clients)
#   config  test/services/kafka/server.properties, log4j.properties
#   jars    <repo>/.cache/kafka-libs (from Maven Central via test/services/kafka/pom.xml)
#   data    /tmp/nebula-kafka   pid /tmp/nebula-kafka.pid   log /tmp/nebula-kafka.log
#   setup output (apt, mvn, StorageTool): /tmp/nebula-kafka-setup.log
# Idempotent: a broker already answering on 9092 is left alone; jars are fetched once; storage
# is formatted once. Prints one line per step; on failure exits non-zero with the log tail.
# Stop: kill "$(cat /tmp/nebula-kafka.pid)"      Reset: stop, then rm -rf /tmp/nebula-kafka
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
CONF_DIR="$SCRIPT_DIR/kafka"
LIBS="$REPO_DIR/.cache/kafka-libs"
KAFKA_JAR="kafka_2.13-3.9.1.jar"
DATA_DIR=/tmp/nebula-kafka
PID_FILE=/tmp/nebula-kafka.pid
LOG=/tmp/nebula-kafka.log
SETUP_LOG=/tmp/nebula-kafka-setup.log
HOST=127.0.0.1
PORT=9092
WAIT_SECONDS=60

echo "=== kafka.sh $(date -u +%FT%TZ)" >>"$SETUP_LOG"

fail() {
  echo "kafka: $*" >&2
  if [[ -s "$LOG" ]]; then
    echo "kafka: last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
  fi
  exit 1
}

# True if the port accepts TCP connections.
port_open() {
  timeout 3 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null
}

# True if a Kafka broker answers an ApiVersions v0 request on the port (correlation id echoed,
# error code 0). Request: size=13, api_key=18, api_version=0, correlation_id='NBKA', client_id='nbk'.
kafka_answers() {
  local reply
  reply="$(timeout 5 bash -c "
    exec 3<>/dev/tcp/$HOST/$PORT || exit 1
    printf '\x00\x00\x00\x0d\x00\x12\x00\x00NBKA\x00\x03nbk' >&3
    head -c 10 <&3 | od -An -tx1 | tr -d ' \n'" 2>/dev/null || true)"
  # 4-byte size, then correlation id 'NBKA' (4e424b41), then error_code 0.
  [[ "$reply" =~ ^[0-9a-f]{8}4e424b410000$ ]]
}

# Pid from the pid file if that process is alive and is our kafka.Kafka JVM.
live_broker_pid() {
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka ' || return 1
  echo "$pid"
}

# ---- 1. Java and Maven -----------------------------------------------------------------------
pkgs=()
command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
if ((${#pkgs[@]})); then
  [[ "$(id -u)" == "0" ]] || fail "missing packages ${pkgs[*]} and not root: run this script as root"
  apt_install "$SETUP_LOG" "${pkgs[@]}" || fail "apt-get install ${pkgs[*]} failed (see $SETUP_LOG)"
  echo "kafka: installed ${pkgs[*]}"
else
  echo "kafka: java and mvn already installed ($(java -version 2>&1 | head -n 1))"
fi

# ---- 2. jars -----------------------------------------------------------------------------------
if [[ -f "$LIBS/$KAFKA_JAR" ]]; then
  echo "kafka: jars already in $LIBS"
else
  # Copy into a temporary directory and rename, so a half-done copy never counts as done.
  rm -rf "$LIBS.tmp"
  mkdir -p "$(dirname "$LIBS")"
  if ! mvn -B -q -f "$CONF_DIR/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >>"$SETUP_LOG" 2>&1; then
    tail -n 20 "$SETUP_LOG" >&2
    fail "mvn copy-dependencies failed (see $SETUP_LOG)"
  fi
  [[ -f "$LIBS.tmp/$KAFKA_JAR" ]] || fail "mvn did not produce $KAFKA_JAR (see $SETUP_LOG)"
  rm -rf "$LIBS"
  mv "$LIBS.tmp" "$LIBS"
  echo "kafka: fetched $(ls "$LIBS" | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) into $LIBS"
fi
CP="$LIBS/*"

# ---- 2b. already running? (after the jars: tests start brokers of their own from this checkout's jars)
if pid="$(live_broker_pid)" && kafka_answers; then
  echo "kafka: broker already running (pid $pid) and answering on $HOST:$PORT"
  exit 0
fi
if port_open; then
  if kafka_answers; then
    echo "kafka: a Kafka broker not started by this script already answers on $HOST:$PORT; leaving it"
    exit 0
  fi
  if pid="$(live_broker_pid)"; then
    echo "kafka: broker pid $pid is alive but not answering yet; waiting for it"
  else
    echo "kafka: $HOST:$PORT is taken by something that does not answer as a Kafka broker" >&2
    exit 1
  fi
fi

# ---- 3. storage --------------------------------------------------------------------------------
if [[ -f "$DATA_DIR/meta.properties" ]]; then
  echo "kafka: storage $DATA_DIR already formatted"
else
  cluster_id="$(java -Dlog4j.configuration="file:$CONF_DIR/log4j.properties" -cp "$CP" \
    kafka.tools.StorageTool random-uuid 2>>"$SETUP_LOG")" ||
    fail "StorageTool random-uuid failed (see $SETUP_LOG)"
  # Static voters (controller.quorum.voters): no --standalone.
  java -Dlog4j.configuration="file:$CONF_DIR/log4j.properties" -cp "$CP" kafka.tools.StorageTool \
    format --cluster-id="$cluster_id" -c "$CONF_DIR/server.properties" --ignore-formatted >>"$SETUP_LOG" 2>&1 ||
    fail "StorageTool format failed (see $SETUP_LOG)"
  echo "kafka: formatted storage $DATA_DIR (cluster id $cluster_id)"
fi

# ---- 4. start ----------------------------------------------------------------------------------
if pid="$(live_broker_pid)"; then
  echo "kafka: broker pid $pid already started"
else
  : >"$LOG"
  setsid nohup java -Xmx512m -Xms256m \
    -Dlog4j.configuration="file:$CONF_DIR/log4j.properties" \
    -cp "$CP" kafka.Kafka "$CONF_DIR/server.properties" </dev/null >>"$LOG" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "kafka: started broker pid $pid (log $LOG)"
fi

# ---- 5. wait for readiness ----------------------------------------------------------------------
start=$SECONDS
until grep -q 'Kafka Server started' "$LOG" 2>/dev/null && kafka_answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$PID_FILE"
    fail "broker pid $pid exited during startup"
  fi
  if ((SECONDS - start >= WAIT_SECONDS)); then
    fail "broker pid $pid not ready on $HOST:$PORT after ${WAIT_SECONDS}s"
  fi
  sleep 0.5
done
echo "kafka: broker ready on $HOST:$PORT after $((SECONDS - start))s"
