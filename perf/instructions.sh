#!/usr/bin/env bash
# Instructions per packet through the translator, counted by callgrind (repeatable on a shared, noisy
# machine, unlike wall-clock time).
#
# For each case, runs `xlat_loop CASE N` and `xlat_loop CASE 2N` under `valgrind --tool=callgrind` and reports
# (I(2N) - I(N)) / N: start-up (config parsing, table compilation, allocation) cancels out. Three loops:
# the batch path a worker runs (`Pipeline::process_batch`, xlat_loop's default), `--per-packet`
# (`Pipeline::process` frame by frame, for comparison) and `--copy-only` (the frame copy and set-up without
# the translation). The "batch" and "per_packet" columns are each loop minus the copy-only one.
#
# Usage: perf/instructions.sh [CASE...]        (default: every case; `xlat_loop --list` names them)
# Environment: N (packets, multiple of 64; default 12800), KEEP=DIR keeps the callgrind.out files of the 2N
# runs there for `callgrind_annotate` (built with --dump-instr=yes).
set -euo pipefail

cd "$(dirname "$0")/.."
N=${N:-12800}
if (( N % 64 != 0 )); then
    echo "N must be a multiple of 64" >&2
    exit 2
fi

cargo build --quiet --release -p xlat64-dataplane --example xlat_loop
bin=target/release/examples/xlat_loop
command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Total instructions of one run: the "summary:" line of the callgrind output file.
count() { # CASE PACKETS [--copy-only] -> instructions
    local out="$tmp/callgrind.out.$1.$2${3:-}"
    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$out" "$bin" "$@" >/dev/null 2>"$tmp/log" \
        || { cat "$tmp/log" >&2; exit 1; }
    if [[ -n "${KEEP:-}" && "$2" == "$((2 * N))" ]]; then
        mkdir -p "$KEEP"
        cp "$out" "$KEEP/"
    fi
    awk '/^summary:/ { print $2 }' "$out"
}

per_packet() { # I(N) I(2N) -> (I(2N) - I(N)) / N
    awk -v a="$1" -v b="$2" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }'
}

cases=("$@")
if (( ${#cases[@]} == 0 )); then
    mapfile -t cases < <("$bin" --list)
fi

printf '%-16s %10s %10s %10s %10s %10s\n' case total copy batch per_packet saved
for c in "${cases[@]}"; do
    t=$(per_packet "$(count "$c" "$N")" "$(count "$c" "$((2 * N))")")
    p=$(per_packet "$(count "$c" "$N" --per-packet)" "$(count "$c" "$((2 * N))" --per-packet)")
    b=$(per_packet "$(count "$c" "$N" --copy-only)" "$(count "$c" "$((2 * N))" --copy-only)")
    awk -v c="$c" -v t="$t" -v p="$p" -v b="$b" \
        'BEGIN { printf "%-16s %10.1f %10.1f %10.1f %10.1f %10.1f\n", c, t, b, t - b, p - b, p - t }'
done
echo "instructions per packet; N=$N; total = copy + batch (Pipeline::process_batch and the emit callback);"
echo "per_packet: Pipeline::process frame by frame, copy excluded; saved = per_packet - batch"
