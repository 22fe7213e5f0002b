#!/usr/bin/env bash
# Builds and runs every fuzz target (one at a time) and appends a results table to ../FUZZING.md.
#
#   fuzz/run.sh [SECONDS] [TARGET[=SECONDS] ...]
#
# SECONDS (default 120) is the time per target; naming targets runs only those, each optionally with its own
# time, e.g. `fuzz/run.sh 60 names=300 config`. Only the stable toolchain is needed: cargo-fuzz passes
# flags that only nightly accepts (e.g. -Zsanitizer=address), which RUSTC_BOOTSTRAP=1 unlocks on stable.
#
# New corpus entries go to fuzz/work/corpus/<target>/ (not committed); the committed seeds in
# fuzz/corpus/<target>/ are read, never written. Crashes land in fuzz/artifacts/<target>/. A dictionary
# fuzz/dicts/<target>.dict is used when it exists.
#
# SANITIZER (default none) is passed to `cargo fuzz -s`. zreplrs and the targets contain no `unsafe`, so
# AddressSanitizer would only watch the dependencies' unsafe code, at about a third of the speed; panics,
# including integer overflow (cargo fuzz builds with debug assertions), are caught either way.
# SANITIZER=address fuzzes with it.
set -euo pipefail

cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
sanitizer=${SANITIZER:-none}

default_secs=${1:-120}
[[ $# -gt 0 ]] && shift
case $default_secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET[=SECONDS] ...]" >&2; exit 2 ;; esac

all_targets=$(cargo fuzz list)
declare -a plan=()
if [[ $# -eq 0 ]]; then
    for t in $all_targets; do plan+=("$t=$default_secs"); done
else
    for arg in "$@"; do
        t=${arg%%=*}
        secs=$default_secs
        [[ $arg == *=* ]] && secs=${arg#*=}
        grep -qx -- "$t" <<<"$all_targets" || { echo "unknown target $t (have: $(echo $all_targets))" >&2; exit 2; }
        plan+=("$t=$secs")
    done
fi

echo "building fuzz targets ..." >&2
cargo fuzz build -s "$sanitizer" >&2

date=$(date -u +%Y-%m-%dT%H:%MZ)
commit=$(git -C .. rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C .. status --porcelain 2>/dev/null | grep -q . && echo "+dirty" || true)
rustc_version=$(rustc --version | cut -d' ' -f2)
rows=()
total_crashes=0
mkdir -p work/logs
for entry in "${plan[@]}"; do
    t=${entry%%=*}
    secs=${entry#*=}
    mkdir -p "work/corpus/$t" "artifacts/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    log="work/logs/$t.log"
    echo "fuzzing $t for ${secs}s (log: fuzz/$log) ..." >&2
    status=0
    dict=()
    [[ -f dicts/$t.dict ]] && dict=(-dict="dicts/$t.dict")
    cargo fuzz run -s "$sanitizer" "$t" "work/corpus/$t" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 -timeout=25 "${dict[@]}" >"$log" 2>&1 || status=$?
    after=$(find "artifacts/$t" -type f | wc -l)
    crashes=$((after - before))
    if [[ $status -ne 0 && $crashes -eq 0 ]]; then
        crashes="? (exit $status, see fuzz/$log)"
    fi
    [[ $crashes =~ ^[0-9]+$ ]] && total_crashes=$((total_crashes + crashes)) || total_crashes=$((total_crashes + 1))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(find "work/corpus/$t" "corpus/$t" -type f | wc -l)
    echo "  $t: ${execs:-?} executions, ${rate:-?} exec/s, $corpus corpus files, crashes: $crashes" >&2
    rows+=("| $date | $t | $secs | ${execs:-?} | ${rate:-?} | $crashes |")
done

{
    echo
    echo "### $date, commit $commit$dirty, rustc $rustc_version"
    echo
    echo "Command: \`${SANITIZER:+SANITIZER=$SANITIZER }fuzz/run.sh ${default_secs}${*:+ $*}\` (sanitizer: $sanitizer)"
    echo
    echo "| date | target | seconds | executions | exec/s | crashes |"
    echo "|---|---|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
} >>../FUZZING.md
echo "results appended to FUZZING.md" >&2
[[ $total_crashes -eq 0 ]]
