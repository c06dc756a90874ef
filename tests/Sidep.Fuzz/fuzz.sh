#!/usr/bin/env bash
# Coverage-guided fuzzing of a parser: SharpFuzz instruments the parsing assemblies, AFL++ (Debian's afl++) drives
# sidep-fuzz with inputs grown from ../shared/corpus. Findings (crashes, hangs) stay in .fuzz/findings/TARGET; replay
# one with: dotnet .fuzz/bin/sidep-fuzz.dll TARGET --replay FILE
#   tests/Sidep.Fuzz/fuzz.sh hl7|hprim-sante|hprim-medecin|fhir|mllp SECONDS
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?hl7, hprim-sante, hprim-medecin, fhir or mllp}
seconds=${2:-600}
work=.fuzz
case "$target" in
  hl7) parser=hl7; seeds=(../shared/corpus/hl7v2/*) ;;
  hprim-sante) parser=hprim; seeds=(../shared/corpus/hprim/libHprim__*) ;;
  hprim-medecin) parser=hprim; seeds=(../shared/corpus/hprim/freemedforms__* ../shared/corpus/hprim/hprimtool__*) ;;
  fhir) parser=fhir; seeds=(../shared/corpus/fhir/*) ;;
  # The MLLP framer: the HL7 corpus in MLLP frames (a first byte setting the read sizes), made below.
  mllp) parser=mllp; seeds=() ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac

if ! command -v afl-fuzz >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null
fi
if [ ! -x "$work/tools/sharpfuzz" ]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$work/tools" >/dev/null
fi
# FUZZ_NO_BUILD=1: use the instrumented build as it is (several targets fuzzed at once share it; a rebuild under a
# running fuzzer would replace the assemblies it has loaded).
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  dotnet build tests/Sidep.Fuzz -c Release --nologo -v q -o "$work/bin" >/dev/null
  # Instrument what parses (the shared reader, the format's parser, the domain rules they call); once per build.
  for dll in Sidep.Domain Sidep.Parsing Sidep.Parsing.Hl7v2 Sidep.Parsing.Hprim Sidep.Parsing.Fhir; do
    if [ ! -e "$work/bin/$dll.instrumented" ] || [ "$work/bin/$dll.dll" -nt "$work/bin/$dll.instrumented" ]; then
      "$work/tools/sharpfuzz" "$work/bin/$dll.dll" >/dev/null
      touch "$work/bin/$dll.instrumented"
    fi
  done
fi
mkdir -p "$work/seeds/$target" "$work/findings"
if [ "$target" = mllp ]; then
  i=0
  for f in ../shared/corpus/hl7v2/*; do
    i=$((i + 1))
    { printf "\\x$(printf %02x $((i * 37 % 256)))"; printf '\x0b'; cat "$f"; printf '\x1c\x0d'; printf ' \x0bMSH|^~\\&|\x1c\x0d'; } > "$work/seeds/mllp/seed$i"
  done
else
  cp "${seeds[@]}" "$work/seeds/$target/"
fi

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1
resume=()
[ -d "$work/findings/$target/default" ] && resume=(-i -) || resume=(-i "$work/seeds/$target")
afl-fuzz "${resume[@]}" -o "$work/findings/$target" -t 10000 -m none -V "$seconds" -- dotnet "$work/bin/sidep-fuzz.dll" "$parser" >"$work/$target.log" 2>&1 || true

stats="$work/findings/$target/default/fuzzer_stats"
if [ ! -f "$stats" ]; then
  echo "afl-fuzz did not run: see $work/$target.log" >&2
  tail -20 "$work/$target.log" >&2
  exit 1
fi
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|bitmap_cvg|saved_crashes|saved_hangs|stability) ' "$stats" | sed "s/^/$target: /"
