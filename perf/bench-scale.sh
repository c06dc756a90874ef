#!/usr/bin/env bash
# The distributed mode scaled out on this machine: two gateways and two workers per stage, each in its own process, on
# librdkafka's mock cluster (in the first gateway's process) and a throwaway PostgreSQL, fed by `sidep-loadgen` (perf/Sidep.LoadGen) through
# both gateways at once (labs spread over them, the later duplicates through the other one). Mid-run a gateway and a
# worker are killed (SIGKILL): the load generator's senders go on through the other gateway, the other worker of the
# stage takes the partitions. At the end: every result accounted for, the national and département daily tables equal
# to the ground truth, and the CPU time of every process, by role.
# Usage: perf/bench-scale.sh [RESULTS] [BATCH] [CONCURRENCY] [KILL_AFTER_SECONDS] [KILLED_STAGE]
# KILLED_STAGE (default research): the stage one of whose workers is killed. The mock cluster keeps at most 5 MiB a
# partition, so a stateful stage's worker (match, aggregate) taking over a partition cannot restore it by replay beyond
# that window and stops, loudly; with a real broker (topics kept forever) any stage's worker can be killed. The make
# test scale test stops a worker of every stage, on a workload that fits the window.
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS=${1:-600000}
BATCH=${2:-1000}
CONCURRENCY=${3:-16}
KILL_AFTER=${4:-60}
KILLED_STAGE=${5:-research}
BASE=${SIDEP_BENCH_PORT:-5490}
PGPORT=$((BASE + 9))
dotnet build src/Sidep.Host -c Release --nologo -v q >/dev/null
dotnet build perf/Sidep.LoadGen -c Release --nologo -v q >/dev/null
LOADGEN="dotnet perf/Sidep.LoadGen/bin/Release/net10.0/sidep-loadgen.dll"
SIDEP="dotnet src/Sidep.Host/bin/Release/net10.0/sidep.dll"
DATA=$(mktemp -d /tmp/sidep-scale-XXXXXX)
PGDIR=$(mktemp -u /tmp/sidep-scale-pg-XXXXXX)
TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
AGENT_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
RESEARCH_KEYS="k1=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# SIDEP_BENCH_PG_STATEMENTS=N: PostgreSQL's N costliest statements at the end (pg_stat_statements, time and rows).
PG_STATEMENTS=${SIDEP_BENCH_PG_STATEMENTS:-0}
if [ "$PG_STATEMENTS" != 0 ]; then export SIDEP_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"; fi
CONN=$(infra/postgres/throwaway.sh start "$PGDIR" "$PGPORT" | tail -1)
if [ "$PG_STATEMENTS" != 0 ]; then psql -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE EXTENSION pg_stat_statements" postgres; fi
declare -A PIDS ROLE
cleanup() {
  for pid in "${!ROLE[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  infra/postgres/throwaway.sh stop "$PGDIR" >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT
wait_for() { # LOG PATTERN PID
  for _ in $(seq 1 600); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { cat "$1"; exit 1; }
    sleep 0.1
  done
  cat "$1"; exit 1
}
# The first gateway holds the mock cluster; the second and the workers connect to it.
$SIDEP gateway --kafka mock --postgres "$CONN" --data-dir "$DATA/gw1" --urls "http://127.0.0.1:$BASE" --mllp-port $((BASE + 1)) \
  --operator-token "$TOKEN" --agent-key "$AGENT_KEY" --research-keys "$RESEARCH_KEYS" --max-lag 5000 >"$DATA/gw1.log" 2>&1 &
PIDS[gw1]=$!; ROLE[$!]=gateway
wait_for "$DATA/gw1.log" "Sidep is running" "${PIDS[gw1]}"
KAFKA=$(sed -n 's/.*Kafka \([^ ]*\) (mock cluster.*/\1/p' "$DATA/gw1.log" | head -1)
$SIDEP gateway --kafka "$KAFKA" --postgres "$CONN" --data-dir "$DATA/gw2" --urls "http://127.0.0.1:$((BASE + 2))" --mllp-port $((BASE + 3)) \
  --operator-token "$TOKEN" --agent-key "$AGENT_KEY" --research-keys "$RESEARCH_KEYS" --max-lag 5000 >"$DATA/gw2.log" 2>&1 &
PIDS[gw2]=$!; ROLE[$!]=gateway
for stage in match aggregate fanout research; do
  for n in 1 2; do
    $SIDEP worker --stage "$stage" --kafka "$KAFKA" --postgres "$CONN" --research-dir "$DATA/research" --research-keys "$RESEARCH_KEYS" >"$DATA/$stage$n.log" 2>&1 &
    PIDS[$stage$n]=$!; ROLE[$!]=$stage
  done
done
wait_for "$DATA/gw2.log" "Sidep is running" "${PIDS[gw2]}"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB; .NET $(dotnet --version)"
echo "distributed mode scaled out: 2 gateways, 2 workers per stage (10 processes), Kafka: librdkafka's mock cluster in the first gateway's process; PostgreSQL $(pg_config --version 2>/dev/null || echo '') throwaway, fsync off; $RESULTS results, batches of $BATCH, $CONCURRENCY senders; gateway 2 and a $KILLED_STAGE worker killed (SIGKILL) after ${KILL_AFTER} s"
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The broker: librdkafka's mock cluster runs in one thread of the first gateway's process, named rdk:mock.
brokercpu() {
  for t in /proc/"${PIDS[gw1]}"/task/*; do
    if [ "$(cat "$t/comm" 2>/dev/null)" = "rdk:mock" ]; then awk '{print $14 + $15}' "$t/stat" 2>/dev/null || true; fi
  done | awk -v hz="$(getconf CLK_TCK)" '{s += $1} END {printf "%.1f", s / hz}'
}
# PostgreSQL: the postmaster (with the backends it has reaped) and its live backends.
pgcpu() {
  local pm; pm=$(head -1 "$(find "$PGDIR" -name postmaster.pid 2>/dev/null | head -1)" 2>/dev/null || true)
  [ -n "$pm" ] || { echo 0; return; }
  { awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat" 2>/dev/null || true
    for c in $(pgrep -P "$pm" || true); do awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || true; done; } \
    | awk -v hz="$(getconf CLK_TCK)" '{s += $1} END {printf "%.1f", s / hz}'
}
PG_BEFORE=$(pgcpu)
BROKER_BEFORE=$(brokercpu)
# CPU seconds of a process, read just before it is killed (a killed process's /proc entry goes with it).
( sleep "$KILL_AFTER"
  echo "killing gateway 2 (pid ${PIDS[gw2]}) and ${KILLED_STAGE} worker 1 (pid ${PIDS[${KILLED_STAGE}1]}) at ${KILL_AFTER} s"
  echo "${PIDS[gw2]} $(cpu "${PIDS[gw2]}")" >"$DATA/killed-cpu"
  echo "${PIDS[${KILLED_STAGE}1]} $(cpu "${PIDS[${KILLED_STAGE}1]}")" >>"$DATA/killed-cpu"
  kill -9 "${PIDS[gw2]}" "${PIDS[${KILLED_STAGE}1]}" ) &
KILLER=$!
STATUS=0
TIMEFORMAT="load generator CPU time: %U s user + %S s system (%R s elapsed)"
time $LOADGEN --server "http://127.0.0.1:$BASE,http://127.0.0.1:$((BASE + 2))" --mllp-port "$((BASE + 1)),$((BASE + 3))" \
  --operator-token "$TOKEN" --agent-key "$AGENT_KEY" --results "$RESULTS" --batch "$BATCH" --concurrency "$CONCURRENCY" --mllp-connections "$CONCURRENCY" || STATUS=$?
wait "$KILLER" 2>/dev/null || true
[ -f "$DATA/killed-cpu" ] || echo "note: the run ended before the kill"
# CPU by role: every process of the role, killed ones as of their kill.
declare -A SUM
for pid in "${!ROLE[@]}"; do
  c=$(cpu "$pid")
  if [ "$c" = 0 ] && [ -f "$DATA/killed-cpu" ]; then c=$(awk -v p="$pid" '$1 == p {print $2}' "$DATA/killed-cpu"); c=${c:-0}; fi
  SUM[${ROLE[$pid]}]=$(awk -v a="${SUM[${ROLE[$pid]}]:-0}" -v b="$c" 'BEGIN {printf "%.1f", a + b}')
done
# The broker's thread is counted apart from its gateway's process; PostgreSQL from the start of the load.
SUM[broker]=$(awk -v a="$(brokercpu)" -v b="$BROKER_BEFORE" 'BEGIN {printf "%.1f", a - b}')
SUM[gateway]=$(awk -v a="${SUM[gateway]}" -v b="$(brokercpu)" 'BEGIN {printf "%.1f", a - b}')
SUM[postgresql]=$(awk -v a="$(pgcpu)" -v b="$PG_BEFORE" 'BEGIN {printf "%.1f", a - b}')
TOTAL=0
echo "CPU seconds by role (both processes of each; the broker: the mock cluster's thread; per million results):"
for role in gateway match aggregate fanout research broker postgresql; do
  echo "  $role: ${SUM[$role]} s ($(awk -v s="${SUM[$role]}" -v n="$RESULTS" 'BEGIN {printf "%.0f", s / n * 1000000}') s per million results)"
  TOTAL=$(awk -v a="$TOTAL" -v b="${SUM[$role]}" 'BEGIN {printf "%.1f", a + b}')
done
echo "  every role: $TOTAL s ($(awk -v s="$TOTAL" -v n="$RESULTS" 'BEGIN {printf "%.0f", s / n * 1000000}') µs a result)"
if [ "$PG_STATEMENTS" != 0 ]; then
  echo "PostgreSQL's $PG_STATEMENTS costliest statements (execution ms, calls, rows, µs per row):"
  psql -h 127.0.0.1 -p "$PGPORT" -U postgres -AtF ' | ' postgres -c "SELECT round(total_exec_time) AS ms, calls, rows,
      round((total_exec_time * 1000 / greatest(rows, 1))::numeric, 1), left(regexp_replace(query, '\\s+', ' ', 'g'), 110)
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT $PG_STATEMENTS" | sed 's/^/  /'
fi
echo "data: PostgreSQL $(du -sh "$PGDIR" 2>/dev/null | cut -f1)"
exit $STATUS
