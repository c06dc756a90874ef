# Sidep: the two commands of the README, and a few more.
DOTNET ?= dotnet
CONFIG ?= Release

.PHONY: run test build bench bench-e2e bench-e2e-short bench-mllp fuzz clean

## make run [HTTP_PORT=8080] [MLLP_PORT=2575] [DATA=.sidep] [ARGS='…']: build and start Sidep in embedded mode on
## localhost, with the demo lab registered (ARGS: more `sidep serve` options).
HTTP_PORT ?= 8080
MLLP_PORT ?= 2575
DATA ?= $(or $(SIDEP_DATA),.sidep)
ARGS ?=
run:
	$(DOTNET) build src/Sidep.Host -c Release --nologo -v q
	$(DOTNET) src/Sidep.Host/bin/Release/net10.0/sidep.dll serve --demo --urls http://127.0.0.1:$(HTTP_PORT) --mllp-port $(MLLP_PORT) --data-dir $(DATA) $(ARGS)

## make test: build everything (warnings are errors) and run every test.
## TEST_RESULTS=DIR also writes each test project's results there (TRX), for counting them.
TEST_RESULTS ?=
test:
	$(DOTNET) build Sidep.sln -c $(CONFIG) --nologo -v q
	$(DOTNET) test Sidep.sln -c $(CONFIG) --no-build --nologo --logger "console;verbosity=normal" $(if $(TEST_RESULTS),--logger trx --results-directory $(TEST_RESULTS))

build:
	$(DOTNET) build Sidep.sln -c $(CONFIG) --nologo

## make bench [FILTER='*Indicator*']: the BenchmarkDotNet benchmarks; numbers go in perf/README.md.
FILTER ?= *
bench:
	$(DOTNET) run -c Release --project perf/Sidep.Benchmarks -- --filter '$(FILTER)'

## make bench-e2e: a national peak day (2.28M results) end to end, embedded mode then distributed mode (Kafka: the mock
## cluster in the server's process; a throwaway PostgreSQL), each with the correctness check;
## make bench-e2e-short: the same with 100,000 results. Figures go in perf/README.md.
bench-e2e:
	perf/bench-e2e.sh 2280000 1000 32 embedded
	perf/bench-e2e.sh 2280000 1000 32 distributed

bench-e2e-short:
	perf/bench-e2e.sh 100000 1000 32 embedded
	perf/bench-e2e.sh 100000 1000 32 distributed

## make bench-mllp: single HL7 v2 messages over MLLP, 1,000 a second on 50 connections for a minute (embedded mode):
## ACK latency from each message's scheduled time.
bench-mllp:
	SIDEP_BENCH_LOADGEN_ARGS="--mllp-rate 1000 --labs 50" perf/bench-e2e.sh 60000 1000 4 embedded

## make fuzz TARGET=hl7|hprim-sante|hprim-medecin|fhir|mllp SECONDS=600: coverage-guided fuzzing (SharpFuzz + AFL++); FUZZING.md.
TARGET ?= hl7
SECONDS ?= 600
fuzz:
	tests/Sidep.Fuzz/fuzz.sh $(TARGET) $(SECONDS)

clean:
	$(DOTNET) clean Sidep.sln --nologo -v q
