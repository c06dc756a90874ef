#!/usr/bin/env bash
# make bench-e2e: a national peak day through Sidep, end to end, on this machine, in embedded or distributed mode.
# Starts `sidep serve --demo` on a fresh data directory (distributed: with librdkafka's mock cluster in the server's
# process and a throwaway PostgreSQL), drives it with `sidep-loadgen` (perf/Sidep.LoadGen) (5,000 labs: HL7 v2, HPRIM Santé, HPRIM Médecin
# and FHIR over HTTP, HL7 v2 over MLLP; retests, late results, later corrections and duplicates, invalid items), waits
# until every stage has caught up, checks that every result is accounted for and that the national and département
# daily tables equal the generator's ground truth, and prints the server's memory peak and CPU time.
# Usage: perf/bench-e2e.sh [RESULTS] [BATCH] [CONCURRENCY] [embedded|distributed]
# (CONCURRENCY: HTTP senders, and as many MLLP connections; SIDEP_BENCH_LOADGEN_ARGS: more loadgen options, e.g.
# "--mllp-rate 1000 --labs 50" for the single-message MLLP latency measurement.)
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS=${1:-2280000}
BATCH=${2:-1000}
CONCURRENCY=${3:-4}
MODE=${4:-embedded}
PORT=${SIDEP_BENCH_PORT:-5390}
PGPORT=${SIDEP_BENCH_PGPORT:-5391}
MLLPPORT=${SIDEP_BENCH_MLLP_PORT:-5392}
dotnet build src/Sidep.Host -c Release --nologo -v q >/dev/null
dotnet build perf/Sidep.LoadGen -c Release --nologo -v q >/dev/null
LOADGEN="dotnet perf/Sidep.LoadGen/bin/Release/net10.0/sidep-loadgen.dll"
SIDEP="dotnet src/Sidep.Host/bin/Release/net10.0/sidep.dll"
DATA=$(mktemp -d /tmp/sidep-bench-XXXXXX)
TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
AGENT_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
LOG="$DATA/serve.log"
BACKENDS=()
# SIDEP_BENCH_MAX_LAG: the backpressure threshold (embedded: serve's default unless set; distributed: 5,000).
[ -z "${SIDEP_BENCH_MAX_LAG:-}" ] || BACKENDS=(--max-lag "$SIDEP_BENCH_MAX_LAG")
PGDIR=""
if [ "$MODE" = distributed ]; then
  PGDIR=$(mktemp -u /tmp/sidep-bench-pg-XXXXXX)
  CONN=$(infra/postgres/throwaway.sh start "$PGDIR" "$PGPORT" | tail -1)
  # librdkafka's mock cluster keeps at most 5 MiB a partition and deletes older messages: the backlog must stay well
  # inside that (a stage finding its input deleted stops, loudly), so backpressure holds senders at a small lag.
  BACKENDS=(--kafka mock --postgres "$CONN" --max-lag "${SIDEP_BENCH_MAX_LAG:-5000}")
fi
$SIDEP serve --demo --data-dir "$DATA/data" --urls "http://127.0.0.1:$PORT" --mllp-port "$MLLPPORT" --operator-token "$TOKEN" --agent-key "$AGENT_KEY" "${BACKENDS[@]}" >"$LOG" 2>&1 &
SERVER=$!
# SIDEP_BENCH_KEEP=1: leave the server running and its data (and PostgreSQL) in place, to look into them.
if [ -z "${SIDEP_BENCH_KEEP:-}" ]; then
  trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; [ -z "$PGDIR" ] || infra/postgres/throwaway.sh stop "$PGDIR" >/dev/null 2>&1 || true; rm -rf "$DATA"' EXIT
else
  trap 'echo "kept: server pid $SERVER, data $DATA${PGDIR:+, PostgreSQL $PGDIR port $PGPORT}, operator token $TOKEN"' EXIT
fi
for _ in $(seq 1 300); do
  grep -q "its API key" "$LOG" 2>/dev/null && break
  kill -0 $SERVER 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.1
done
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB; .NET $(dotnet --version)"
if [ "$MODE" = distributed ]; then
  echo "distributed mode (Kafka: librdkafka's mock cluster, 3 brokers, in the server's process; PostgreSQL $(pg_config --version 2>/dev/null || echo '') throwaway, fsync off): $RESULTS results, batches of $BATCH, $CONCURRENCY senders (server, PostgreSQL and load generator share the machine)"
else
  echo "embedded mode: $RESULTS results, batches of $BATCH, $CONCURRENCY senders (server and load generator share the machine)"
fi
# The managed heap (the runtime's metric on /metrics: every generation after the last collection), sampled every 2 s:
# how much of the memory peak the garbage-collected heap is.
( max=0; while kill -0 $SERVER 2>/dev/null; do
    h=$(curl -s -H "X-Operator-Token: $TOKEN" "http://127.0.0.1:$PORT/metrics" 2>/dev/null | awk '/^dotnet_gc_last_collection_heap_size_bytes/ {s += $NF} END {printf "%.0f", s}')
    [ -n "$h" ] && [ "$h" -gt "$max" ] 2>/dev/null && { max=$h; echo "$max" >"$DATA/heap-peak"; }
    sleep 2
  done ) &
STATUS=0
TIMEFORMAT="load generator CPU time: %U s user + %S s system (%R s elapsed)"
time $LOADGEN --server "http://127.0.0.1:$PORT" --mllp-port "$MLLPPORT" --operator-token "$TOKEN" --agent-key "$AGENT_KEY" \
  --results "$RESULTS" --batch "$BATCH" --concurrency "$CONCURRENCY" --mllp-connections "$CONCURRENCY" ${SIDEP_BENCH_LOADGEN_ARGS:-} \
  | tee "$DATA/loadgen.out" || STATUS=$?
# The results submitted (corrections, duplicates and probes included), as the load generator counted them.
SUBMITTED=$(sed -n 's/^submitted \([0-9,]*\) results.*/\1/p' "$DATA/loadgen.out" | tr -d , | head -1)
[ -z "$SUBMITTED" ] || echo "server CPU per result: $(awk -v hz="$(getconf CLK_TCK)" -v n="$SUBMITTED" '{printf "%.0f µs (%.0f CPU-seconds for %d results submitted)", ($14 + $15) / hz / n * 1e6, ($14 + $15) / hz, n}' /proc/$SERVER/stat)"
echo "server memory peak (VmHWM): $(awk '/VmHWM/{printf "%.0f MB", $2/1024}' /proc/$SERVER/status) (managed heap at most $(awk '{printf "%.0f MB", $1/1048576}' "$DATA/heap-peak" 2>/dev/null || echo "? MB") after a collection); server CPU time: $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.0f s user + %.0f s system", $14/hz, $15/hz}' /proc/$SERVER/stat)"
ALLOCATED=$(curl -s -H "X-Operator-Token: $TOKEN" "http://127.0.0.1:$PORT/metrics" 2>/dev/null | awk '/^dotnet_gc_heap_total_allocated_bytes_total/ {print $NF}')
[ -z "$ALLOCATED" ] || echo "managed allocations: $(awk -v a="$ALLOCATED" -v n="${SUBMITTED:-$RESULTS}" 'BEGIN {printf "%.1f GB, %.1f KB a result", a / 1e9, a / n / 1024}')"
echo "data on disk: $(du -sh "$DATA/data" | cut -f1)${PGDIR:+, PostgreSQL $(du -sh "$PGDIR" 2>/dev/null | cut -f1)}"
exit $STATUS
