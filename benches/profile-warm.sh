#!/bin/sh
# A CPU profile of the handler's warm batches, the way issue 14's was taken: perf sampling
# (cpu-clock: this VM has no hardware counters) with DWARF stacks, attached to the handler while
# the load tool replays warm batches at one partition, then the shares by part of the pipeline.
#
#   benches/profile-warm.sh [SECONDS]      (default 10; the warm phase lasts about 35 s)
#
# Needs perf (Debian: linux-perf) and python3. Builds an unstripped release binary into
# target/profiling (cargo rustc -C strip=none), then the stripped one back. Writes
# target/profiling/{load.txt,warm.data,warm.script}.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}
out=target/profiling
mkdir -p "$out"
cargo rustc --release --locked --quiet --bin defender-misp -- -C strip=none
cp target/release/defender-misp "$out/defender-misp"
cargo build --release --locked --quiet --bin defender-misp --example load
target/release/examples/load --binary "$out/defender-misp" --concurrency 1 --starts 0 \
  --batches 100 --cold-one-batches 10 --warm-rounds 300 >"$out/load.txt" 2>/dev/null &
load=$!
until grep -q '^warm phase: handler pid' "$out/load.txt" 2>/dev/null; do
  kill -0 "$load" 2>/dev/null || { echo "the load tool stopped before the warm phase" >&2; exit 1; }
  sleep 0.2
done
pid=$(sed -n 's/^warm phase: handler pid \([0-9]*\).*/\1/p' "$out/load.txt" | head -1)
sleep 1
perf record -q -e cpu-clock -F 499 --call-graph dwarf,8192 -p "$pid" -o "$out/warm.data" -- sleep "$secs"
wait "$load"
grep -E '^(warm|handler CPU)' "$out/load.txt"
echo "top functions by self time:"
perf report -i "$out/warm.data" --no-children --sort symbol --stdio 2>/dev/null |
  grep -E '^ +[0-9]+\.[0-9]+%' | sed 's/  *-  *-  *$//' | head -20
perf script -i "$out/warm.data" -F comm,tid,ip,sym --no-inline 2>/dev/null >"$out/warm.script"
python3 benches/perf_shares.py "$out/warm.script"
