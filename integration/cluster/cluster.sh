#!/usr/bin/env bash
# loom's dev cluster: real HDFS + YARN (MiniDFSCluster + MiniYARNCluster, one JVM),
# a Kafka broker (KRaft, one node) and a Hive metastore (embedded Derby), all on
# loopback ports, started in the background from Maven Central artifacts.
#
#   cluster.sh up       build what is needed, start what is not running, wait until
#                       every service answers, print `export ...` lines on stdout
#   cluster.sh down     stop exactly what `up` started (recorded pids) plus any YARN
#                       container processes left behind; wait for them to exit
#   cluster.sh status   one line per service; exit 0 if all run, 3 otherwise
#   cluster.sh env      print the export lines of a running cluster
#
# Progress and errors go to stderr; only the export lines go to stdout.
# State and logs: $LOOM_CLUSTER_DIR (default <repo>/.cluster): logs/, pids/, conf/
# (HADOOP_CONF_DIR), env, hadoop/, kafka/, metastore/. Each `up` of a service that
# was not running starts it with fresh data.
#
# Ports (loopback only), each overridable by its env var:
#   LOOM_NN_PORT=8020 LOOM_NN_HTTP_PORT=9870 LOOM_RM_PORT=8032 LOOM_RM_SCHEDULER_PORT=8030
#   LOOM_RM_TRACKER_PORT=8031 LOOM_RM_ADMIN_PORT=8033 LOOM_RM_WEB_PORT=8088
#   LOOM_KAFKA_PORT=9092 LOOM_KAFKA_CONTROLLER_PORT=9093 LOOM_METASTORE_PORT=9083
#   LOOM_PORT_OFFSET=N adds N to every default port (a second cluster beside the
#   first: e.g. LOOM_PORT_OFFSET=10000 LOOM_CLUSTER_DIR=/tmp/c2).
# Sizes: LOOM_NM_COUNT=2 LOOM_NM_MEMORY_MB=4096 LOOM_NM_VCORES=8 LOOM_MIN_ALLOC_MB=64
#   LOOM_HADOOP_HEAP=1g LOOM_KAFKA_HEAP=512m LOOM_METASTORE_HEAP=512m
# Timeouts: LOOM_CLUSTER_START_TIMEOUT=300 (seconds per service)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DIR=${LOOM_CLUSTER_DIR:-$REPO/.cluster}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

OFF=${LOOM_PORT_OFFSET:-0}
NN_PORT=${LOOM_NN_PORT:-$((8020 + OFF))}
NN_HTTP_PORT=${LOOM_NN_HTTP_PORT:-$((9870 + OFF))}
RM_PORT=${LOOM_RM_PORT:-$((8032 + OFF))}
RM_SCHEDULER_PORT=${LOOM_RM_SCHEDULER_PORT:-$((8030 + OFF))}
RM_TRACKER_PORT=${LOOM_RM_TRACKER_PORT:-$((8031 + OFF))}
RM_ADMIN_PORT=${LOOM_RM_ADMIN_PORT:-$((8033 + OFF))}
RM_WEB_PORT=${LOOM_RM_WEB_PORT:-$((8088 + OFF))}
KAFKA_PORT=${LOOM_KAFKA_PORT:-$((9092 + OFF))}
KAFKA_CONTROLLER_PORT=${LOOM_KAFKA_CONTROLLER_PORT:-$((9093 + OFF))}
METASTORE_PORT=${LOOM_METASTORE_PORT:-$((9083 + OFF))}
NM_COUNT=${LOOM_NM_COUNT:-2}
NM_MEMORY_MB=${LOOM_NM_MEMORY_MB:-4096}
NM_VCORES=${LOOM_NM_VCORES:-8}
MIN_ALLOC_MB=${LOOM_MIN_ALLOC_MB:-64}
HADOOP_HEAP=${LOOM_HADOOP_HEAP:-1g}
KAFKA_HEAP=${LOOM_KAFKA_HEAP:-512m}
METASTORE_HEAP=${LOOM_METASTORE_HEAP:-512m}
START_TIMEOUT=${LOOM_CLUSTER_START_TIMEOUT:-300}

SERVICES=(hadoop kafka metastore)
LOGS=$DIR/logs
PIDS=$DIR/pids
CONF=$DIR/conf
TARGET=$HERE/target
PROBE=$DIR/bin/loom-cluster-probe
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
# A fixed KRaft cluster id (base64 of 16 bytes): the broker is formatted afresh on each start.
KAFKA_CLUSTER_ID=bG9vbS1kZXYtY2x1c3Rlcg

say() { echo "cluster: $*" >&2; }
die() { echo "cluster: ERROR: $*" >&2; exit 1; }

# ---- process bookkeeping -----------------------------------------------------
# A pid file holds "<pid> <start time in clock ticks>", so that a recycled pid is
# never taken for ours.
starttime() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || true; }

pid_of() { # service -> pid if running (and really ours), else nothing
  local f=$PIDS/$1.pid pid st
  [[ -f $f ]] || return 0
  read -r pid st <"$f" || return 0
  [[ -n ${pid:-} && -d /proc/$pid ]] || return 0
  [[ "$(starttime "$pid")" == "$st" ]] || return 0
  echo "$pid"
}

record_pid() { # service pid
  echo "$2 $(starttime "$2")" >"$PIDS/$1.pid"
}

descendants() { # pid -> all descendant pids
  local pid=$1 kids k
  kids=$(ps -eo pid=,ppid= | awk -v p="$pid" '$2==p {print $1}')
  for k in $kids; do
    echo "$k"
    descendants "$k"
  done
}

container_pids() { # processes whose working dir is inside the NodeManagers' dirs
  local root=$DIR/hadoop/target p cwd
  for p in /proc/[0-9]*; do
    cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
    [[ $cwd == "$root"/* ]] && echo "${p#/proc/}"
  done
  return 0
}

new_log() { # service: keep the previous run's log as <service>.log.1
  [[ -f $LOGS/$1.log ]] && mv -f "$LOGS/$1.log" "$LOGS/$1.log.1"
  : >"$LOGS/$1.log"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

log_tail() { # service
  echo "---- last lines of $LOGS/$1.log ----" >&2
  tail -n 40 "$LOGS/$1.log" >&2 2>/dev/null || true
  echo "----" >&2
}

service_ports() {
  case $1 in
    hadoop) echo "$NN_PORT $NN_HTTP_PORT $RM_PORT $RM_SCHEDULER_PORT $RM_TRACKER_PORT $RM_ADMIN_PORT $RM_WEB_PORT" ;;
    kafka) echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ;;
    metastore) echo "$METASTORE_PORT" ;;
  esac
}

check_ports_free() { # service
  local p
  for p in $(service_ports "$1"); do
    port_open "$p" && die "port $p (for $1) is in use by a process this harness did not start; stop it or set the LOOM_*_PORT variables (see $0)"
  done
  return 0
}

# ---- build -----------------------------------------------------------------------
need_build() {
  # target/.built is touched after each successful build (Maven leaves an
  # unchanged classpath.txt alone, so its time says nothing).
  local stamp=$TARGET/.built m j f
  [[ -f $stamp ]] || return 0
  for f in "$HERE"/pom.xml "$HERE"/*/pom.xml; do
    [[ $f -nt $stamp ]] && return 0
  done
  [[ -z $(find "$HERE/minicluster/src" -newer "$stamp" -type f) ]] || return 0
  [[ -f $TARGET/minicluster/classes/loom/cluster/MiniHadoop.class ]] || return 0
  for m in minicluster kafka metastore; do
    [[ -s $TARGET/$m/classpath.txt ]] || return 0
    # The local Maven repository may have been cleaned since.
    for j in $(tr ':' ' ' <"$TARGET/$m/classpath.txt"); do [[ -f $j ]] || return 0; done
  done
  return 1
}

build() {
  mkdir -p "$LOGS"
  if need_build; then
    command -v mvn >/dev/null || die "mvn not found (Maven 3.8+ and Java 17 are needed)"
    say "building the launcher and resolving server classpaths with Maven (log: $LOGS/build.log)"
    # Offline first: after one online run everything is in ~/.m2.
    if ! (cd "$HERE" && mvn -B -q -o compile) >"$LOGS/build.log" 2>&1; then
      (cd "$HERE" && mvn -B -q compile) >>"$LOGS/build.log" 2>&1 || {
        tail -n 30 "$LOGS/build.log" >&2
        die "Maven build failed (see $LOGS/build.log)"
      }
    fi
    touch "$TARGET/.built"
  fi
  # The readiness probe (Go: franz-go, gohive and loom's hdfs package).
  if [[ ! -x $PROBE || -n $(find "$HERE/probe" "$REPO/hdfs" "$REPO/connector/fs" -name '*.go' -newer "$PROBE" 2>/dev/null) ]]; then
    command -v go >/dev/null || die "go not found"
    mkdir -p "$(dirname "$PROBE")"
    if ! (cd "$REPO" && go build -o "$PROBE.new" ./integration/cluster/probe) >"$LOGS/probe-build.log" 2>&1; then
      cat "$LOGS/probe-build.log" >&2
      # A work-in-progress edit elsewhere must not take the cluster down with it.
      [[ -x $PROBE ]] || die "building the readiness probe failed"
      say "warning: rebuilding the readiness probe failed; using the previous build"
    else
      mv -f "$PROBE.new" "$PROBE"
    fi
  fi
}

java_version_ok() {
  local v
  v=$("$JAVA" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
  [[ ${v%%.*} -ge 17 ]] 2>/dev/null
}

# ---- starting -------------------------------------------------------------------
# Each server runs in its own session (setsid), with no terminal and no inherited
# stdout, so that neither make nor a $(...) capture waits for it.
launch() { # service cwd java-args...   (extra environment: the LAUNCH_ENV array)
  local svc=$1 cwd=$2
  shift 2
  # 9>&-: the server must not inherit (and so hold) the cluster lock.
  (cd "$cwd" && exec env ${LAUNCH_ENV[@]+"${LAUNCH_ENV[@]}"} setsid "$JAVA" "$@" </dev/null >>"$LOGS/$svc.log" 2>&1 9>&-) &
  local pid=$!
  sleep 0.2
  record_pid "$svc" "$pid"
}

start_hadoop() {
  check_ports_free hadoop
  rm -rf "$DIR/hadoop" "$CONF"
  mkdir -p "$DIR/hadoop" "$CONF"
  new_log hadoop
  say "starting HDFS + YARN (NameNode 127.0.0.1:$NN_PORT, RM 127.0.0.1:$RM_PORT, $NM_COUNT NodeManagers)"
  # As on a real cluster, NodeManagers pass HADOOP_CONF_DIR to containers
  # (yarn.nodemanager.env-whitelist).
  local LAUNCH_ENV=("HADOOP_CONF_DIR=$CONF")
  launch hadoop "$DIR/hadoop" \
    -Xmx"$HADOOP_HEAP" -Xms256m -XX:+UseSerialGC -XX:CICompilerCount=2 \
    -Djava.net.preferIPv4Stack=true -Djava.io.tmpdir="$DIR/hadoop" \
    -Dloom.nn.port="$NN_PORT" -Dloom.nn.http.port="$NN_HTTP_PORT" \
    -Dloom.rm.port="$RM_PORT" -Dloom.rm.scheduler.port="$RM_SCHEDULER_PORT" \
    -Dloom.rm.tracker.port="$RM_TRACKER_PORT" -Dloom.rm.admin.port="$RM_ADMIN_PORT" \
    -Dloom.rm.web.port="$RM_WEB_PORT" -Dloom.nm.count="$NM_COUNT" \
    -Dloom.nm.memory.mb="$NM_MEMORY_MB" -Dloom.nm.vcores="$NM_VCORES" -Dloom.min.alloc.mb="$MIN_ALLOC_MB" \
    -cp "$TARGET/minicluster/classes:$(cat "$TARGET/minicluster/classpath.txt")" \
    loom.cluster.MiniHadoop "$DIR/hadoop" "$CONF"
}

start_kafka() {
  check_ports_free kafka
  rm -rf "$DIR/kafka"
  mkdir -p "$DIR/kafka/data"
  new_log kafka
  cat >"$DIR/kafka/server.properties" <<EOF
# Written by integration/cluster/cluster.sh: one KRaft node, broker + controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DIR/kafka/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
min.insync.replicas=1
# Lean on a 2-core machine.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
EOF
  local cp
  cp=$(cat "$TARGET/kafka/classpath.txt")
  "$JAVA" -Xmx256m -cp "$cp" -Dlog4j2.configurationFile="$HERE/conf/kafka-log4j2.properties" \
    kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c "$DIR/kafka/server.properties" \
    >>"$LOGS/kafka.log" 2>&1 || { log_tail kafka; die "formatting Kafka storage failed"; }
  say "starting Kafka (KRaft) on 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)"
  launch kafka "$DIR/kafka" \
    -Xmx"$KAFKA_HEAP" -Xms128m -XX:+UseSerialGC -XX:CICompilerCount=2 \
    -Djava.net.preferIPv4Stack=true -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$HERE/conf/kafka-log4j2.properties" \
    -cp "$cp" kafka.Kafka "$DIR/kafka/server.properties"
}

start_metastore() {
  check_ports_free metastore
  local defaultfs
  defaultfs=$(sed -n 's:.*<value>\(hdfs\://[^<]*\)</value>.*:\1:p' "$CONF/core-site.xml" | head -1)
  [[ -n $defaultfs ]] || die "no fs.defaultFS in $CONF/core-site.xml: HDFS must be up before the metastore"
  rm -rf "$DIR/metastore"
  mkdir -p "$DIR/metastore/conf"
  new_log metastore
  cat >"$DIR/metastore/conf/metastore-site.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by integration/cluster/cluster.sh. -->
<configuration>
  <property><name>metastore.thrift.port</name><value>$METASTORE_PORT</value></property>
  <property><name>metastore.thrift.bind.host</name><value>127.0.0.1</value></property>
  <property><name>metastore.thrift.uris</name><value>thrift://127.0.0.1:$METASTORE_PORT</value></property>
  <property><name>javax.jdo.option.ConnectionURL</name><value>jdbc:derby:;databaseName=$DIR/metastore/metastore_db;create=true</value></property>
  <property><name>javax.jdo.option.ConnectionDriverName</name><value>org.apache.derby.jdbc.EmbeddedDriver</value></property>
  <property><name>javax.jdo.option.ConnectionUserName</name><value>APP</value></property>
  <property><name>javax.jdo.option.ConnectionPassword</name><value>mine</value></property>
  <property><name>datanucleus.schema.autoCreateAll</name><value>true</value></property>
  <property><name>metastore.schema.verification</name><value>false</value></property>
  <property><name>metastore.warehouse.dir</name><value>$defaultfs/user/hive/warehouse</value></property>
  <property><name>metastore.warehouse.external.dir</name><value>$defaultfs/user/hive/external</value></property>
  <property><name>fs.defaultFS</name><value>$defaultfs</value></property>
  <property><name>metastore.sasl.enabled</name><value>false</value></property>
  <property><name>metastore.execute.setugi</name><value>false</value></property>
  <property><name>datanucleus.connectionPoolingType</name><value>None</value></property>
  <property><name>metastore.try.direct.sql</name><value>false</value></property>
  <property><name>metastore.server.min.threads</name><value>4</value></property>
  <property><name>metastore.server.max.threads</name><value>64</value></property>
  <property><name>metastore.compactor.initiator.on</name><value>false</value></property>
  <property><name>metastore.compactor.cleaner.on</name><value>false</value></property>
  <property><name>metastore.compactor.worker.threads</name><value>0</value></property>
  <property><name>metastore.housekeeping.threads.on</name><value>false</value></property>
  <!-- One metastore: no leader election through the (absent) lock tables. -->
  <property><name>metastore.housekeeping.leader.election</name><value>host</value></property>
  <!-- No Iceberg REST catalog servlet (its jar is not on the classpath). -->
  <property><name>metastore.catalog.servlet.port</name><value>-1</value></property>
  <!-- The default list names tasks that live in hive-exec, absent here. -->
  <property><name>metastore.task.threads.always</name><value>org.apache.hadoop.hive.metastore.events.EventCleanerTask</value></property>
  <property><name>metastore.event.db.notification.api.auth</name><value>false</value></property>
  <property><name>metastore.metrics.enabled</name><value>false</value></property>
</configuration>
EOF
  say "starting the Hive metastore on 127.0.0.1:$METASTORE_PORT (Derby, warehouse $defaultfs/user/hive/warehouse)"
  # Java 17 needs these for Hive's and DataNucleus' reflection.
  local opens=() m
  for m in java.lang java.lang.reflect java.util java.util.concurrent java.util.regex java.net java.nio java.io \
    java.text java.time sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar; do
    opens+=(--add-opens "java.base/$m=ALL-UNNAMED")
  done
  launch metastore "$DIR/metastore" \
    -Xmx"$METASTORE_HEAP" -Xms128m -XX:+UseSerialGC -XX:CICompilerCount=2 \
    "${opens[@]}" -Djava.net.preferIPv4Stack=true \
    -Dderby.stream.error.file="$LOGS/derby.log" -Dderby.system.home="$DIR/metastore" \
    -Dlog4j2.configurationFile="$HERE/conf/metastore-log4j2.properties" \
    -Dlog4j.configurationFile="$HERE/conf/metastore-log4j2.properties" \
    -Djava.io.tmpdir="$DIR/metastore" \
    -cp "$DIR/metastore/conf:$CONF:$(cat "$TARGET/metastore/classpath.txt")" \
    org.apache.hadoop.hive.metastore.HiveMetaStore -p "$METASTORE_PORT"
}

# ---- waiting ------------------------------------------------------------------------
wait_for() { # service description command...
  local svc=$1 what=$2 deadline=$((SECONDS + START_TIMEOUT))
  shift 2
  while :; do
    if [[ -z $(pid_of "$svc") ]]; then
      log_tail "$svc"
      die "$svc exited before $what"
    fi
    "$@" 2>/dev/null && return 0
    if ((SECONDS >= deadline)); then
      log_tail "$svc"
      die "$svc: timed out after ${START_TIMEOUT}s waiting until $what"
    fi
    sleep 1
  done
}

hadoop_ready() {
  [[ -f $DIR/hadoop/hadoop.ready && -f $CONF/yarn-site.xml ]] || return 1
  HADOOP_CONF_DIR=$CONF HADOOP_USER_NAME=${HADOOP_USER_NAME:-$(id -un)} "$PROBE" hdfs || return 1
  "$PROBE" yarn "http://127.0.0.1:$RM_WEB_PORT" "$NM_COUNT"
}
kafka_ready() { "$PROBE" kafka "127.0.0.1:$KAFKA_PORT"; }
metastore_ready() { "$PROBE" metastore "127.0.0.1:$METASTORE_PORT"; }

write_env() {
  local tmp=$DIR/.env.tmp
  cat >"$tmp" <<EOF
export HADOOP_CONF_DIR=$CONF
export LOOM_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export LOOM_HIVE_METASTORE=127.0.0.1:$METASTORE_PORT
export LOOM_YARN_RM_WEB=http://127.0.0.1:$RM_WEB_PORT
export LOOM_CLUSTER_DIR=$DIR
EOF
  mv "$tmp" "$DIR/env"
}

cmd_up() {
  mkdir -p "$LOGS" "$PIDS"
  java_version_ok || die "Java 17 or newer is needed ($JAVA -version)"
  getent hosts localhost >/dev/null || die "'localhost' does not resolve (NodeManagers register as localhost)"
  local h
  h=$(hostname)
  getent hosts "$h" >/dev/null || say "warning: this machine's hostname '$h' does not resolve; the harness binds to 127.0.0.1/localhost only"
  build
  local t0=$SECONDS started=()
  if [[ -z $(pid_of hadoop) ]]; then start_hadoop; started+=(hadoop); fi
  if [[ -z $(pid_of kafka) ]]; then start_kafka; started+=(kafka); fi
  wait_for hadoop "HDFS accepts writes and $NM_COUNT NodeManagers are RUNNING" hadoop_ready
  if [[ -z $(pid_of metastore) ]]; then start_metastore; started+=(metastore); fi
  wait_for kafka "the broker answers metadata requests" kafka_ready
  wait_for metastore "the metastore answers" metastore_ready
  write_env
  if ((${#started[@]})); then
    say "up in $((SECONDS - t0))s (started: ${started[*]}); logs in $LOGS"
  else
    say "already up; logs in $LOGS"
  fi
  cat "$DIR/env"
}

stop_service() { # service grace-seconds
  local svc=$1 grace=$2 pid kids=() k waited=0
  pid=$(pid_of "$svc")
  if [[ -z $pid ]]; then
    rm -f "$PIDS/$svc.pid"
    return 0
  fi
  # Remember the whole tree (for hadoop: YARN containers) before the parent goes.
  mapfile -t kids < <(descendants "$pid")
  say "stopping $svc (pid $pid)"
  local t0=$SECONDS
  kill -TERM "$pid" 2>/dev/null || true
  while [[ -n $(pid_of "$svc") ]] && ((waited < grace * 5)); do
    sleep 0.2
    waited=$((waited + 1))
  done
  if [[ -n $(pid_of "$svc") ]]; then
    say "$svc did not stop within ${grace}s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while [[ -d /proc/$pid ]] && [[ $(starttime "$pid") != "" ]]; do sleep 0.2; done
  fi
  for k in "${kids[@]}"; do
    [[ -d /proc/$k ]] && kill -KILL "$k" 2>/dev/null || true
  done
  rm -f "$PIDS/$svc.pid"
  say "$svc stopped in $((SECONDS - t0))s"
}

cmd_down() {
  mkdir -p "$PIDS"
  stop_service metastore 30
  stop_service kafka 30
  stop_service hadoop 60
  # YARN containers the NodeManagers left behind (they run in their own sessions).
  local left tries=0
  left=$(container_pids)
  if [[ -n $left ]]; then
    say "killing leftover YARN container processes: $(echo $left)"
    kill -KILL $left 2>/dev/null || true
    while [[ -n $(container_pids) ]] && ((tries < 50)); do
      sleep 0.2
      tries=$((tries + 1))
    done
  fi
  rm -f "$DIR/env" "$DIR/hadoop/hadoop.ready"
  say "down"
}

cmd_status() {
  local svc pid all=0 rss
  for svc in "${SERVICES[@]}"; do
    pid=$(pid_of "$svc")
    if [[ -n $pid ]]; then
      rss=$(awk '/VmRSS/ {printf "%d MiB", $2/1024}' "/proc/$pid/status" 2>/dev/null)
      echo "$svc: running (pid $pid, RSS $rss, ports $(service_ports "$svc"))"
    else
      echo "$svc: stopped"
      all=3
    fi
  done
  local n
  n=$(container_pids | wc -l)
  echo "yarn container processes: $n"
  echo "state and logs: $DIR"
  return $all
}

cmd_env() {
  [[ -f $DIR/env ]] || die "no cluster env at $DIR/env: run make cluster-up"
  cat "$DIR/env"
}

# up and down of one cluster directory never run at the same time (two sessions
# sharing a work tree): they take its lock, waiting up to 15 minutes.
lock() {
  exec 9>"$DIR/.lock"
  flock -w 900 9 || die "another cluster-up/down holds $DIR/.lock for 15 minutes"
}

case ${1:-} in
  up) lock; cmd_up ;;
  down) lock; cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
