#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ and runs each in turn for SECONDS (default 60), one fuzzer
# process at a time, then prints executions, coverage and findings per target.
#
#   scripts/fuzz.sh [seconds] [target ...]     e.g. scripts/fuzz.sh 300 deframer gzip
#
# Seeds are read from Fuzz/Corpus/<target> (never written); new inputs go to
# .build-fuzz/corpus/<target>, kept between runs so that each run starts where the last one ended.
# Crashes and property violations are saved in .build-fuzz/artifacts/<target>/ and the log of each
# run in .build-fuzz/logs/<target>.log. Not part of CI: it takes minutes and its findings need a person.
# FUZZ_NICE (default 10) is the niceness; extra libFuzzer flags can be passed in FUZZ_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${CI:-}" = "true" ]; then
  echo "fuzz.sh: not run in CI" >&2
  exit 0
fi

seconds="${1:-60}"
shift || true
case "$seconds" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds] [target ...]" >&2; exit 2 ;; esac

all_targets=()
for dir in Fuzz/Targets/*/; do all_targets+=("$(basename "$dir")"); done
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [ -d "Fuzz/Targets/$t" ] || { echo "fuzz.sh: no target '$t' (have: ${all_targets[*]})" >&2; exit 2; }
done

scratch=.build-fuzz
nice_level="${FUZZ_NICE:-10}"
# `--sanitize fuzzer` alone leaves Swift code of -O whole-module builds uninstrumented with this
# toolchain (only the C shims get counters), so the coverage kinds are asked for explicitly.
build_flags=(
  --package-path Fuzz --scratch-path "$scratch" -c release
  --sanitize fuzzer --sanitize address
  -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table
)
mkdir -p "$scratch"
# SwiftPM keeps the plan of a path dependency (the library, `..`) until a manifest changes, so a source
# file added to the library is not compiled ("cannot find X in scope"). Dropping the plan makes it look
# again; objects are kept, so the build stays incremental.
rm -f "$scratch/release.yaml" "$scratch/build.db" "$scratch"/*/release/description.json
echo "fuzz.sh: building ${#all_targets[@]} targets (release, -sanitize=fuzzer,address) in $scratch"
# ld.gold warns "Cannot export local symbol" for every libFuzzer-instrumented object: harmless.
if ! nice -n "$nice_level" swift build "${build_flags[@]}" >"$scratch/build.log" 2>&1; then
  grep -v "Cannot export local symbol" "$scratch/build.log" | tail -40
  exit 1
fi
bin="$(swift build "${build_flags[@]}" --show-bin-path)"

mkdir -p "$scratch/corpus" "$scratch/artifacts" "$scratch/logs"
summary=()
failed=0
for t in "${targets[@]}"; do
  corpus="$scratch/corpus/$t"
  artifacts="$scratch/artifacts/$t"
  log="$scratch/logs/$t.log"
  mkdir -p "$corpus" "$artifacts"
  seeds=()
  [ -d "Fuzz/Corpus/$t" ] && seeds=("Fuzz/Corpus/$t")
  dict=()
  [ -f "Fuzz/Dictionaries/$t.dict" ] && dict=("-dict=Fuzz/Dictionaries/$t.dict")
  echo "fuzz.sh: $t for ${seconds}s"
  set +e
  # SWIFT_BACKTRACE=enable=no: Swift's backtracer would hold a crashed run for minutes.
  # shellcheck disable=SC2086
  SWIFT_BACKTRACE=enable=no nice -n "$nice_level" "$bin/fuzz-$t" \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -artifact_prefix="$artifacts/" "${dict[@]}" ${FUZZ_FLAGS:-} \
    "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  set -e
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  last="$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  units="$(find "$corpus" -type f | wc -l)"
  if [ "$rc" -eq 0 ]; then
    result="nothing found"
  else
    failed=$((failed + 1))
    artifact="$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //')"
    reason="$(grep -E "^==[0-9]+==ERROR|property violated|Fatal error|deadly signal|out-of-memory|timeout after" "$log" | head -1 | cut -c1-120)"
    result="FOUND (rc $rc): ${reason:-see $log} ${artifact:+-> $artifact}"
  fi
  summary+=("$(printf '%-17s %12s %8s %6s %6s %7s  %s' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$units" "$result")")
done

echo
printf '%-17s %12s %8s %6s %6s %7s  %s\n' target executions exec/s cov ft corpus result
for line in "${summary[@]}"; do echo "$line"; done
[ "$failed" -eq 0 ]
