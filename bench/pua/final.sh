#!/usr/bin/env bash
# bench/pua/final.sh - every figure of bench/pua/README.md in one go: builds
# once, then, holding the shared benchmark lock (at most 30 minutes), runs
#   1. hold: 100,000 refreshing publications, CPU and RSS sampled 250 s,
#   2. the pua_publish rate ladders, SQLite and memory store,
#   3. mixed initial / modify / remove cycles at three rates, both stores,
#   4. CPU profiles of the daemon at 4000 pua_publish/s, both stores,
#   5. the peer: one ladder interleaving presenced (both stores) and
#      Kamailio 5.6's pua.publish (bench/pua/kamailio/pua.cfg).
#
#   bench/pua/final.sh [OUTDIR]     (default bench/pua/results/final-YYYYMMDD-HHMM)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$REPO/bench/pua/results/final-$(date -u +%Y%m%d-%H%M)}
LOCK=${LOCK:-/tmp/presenced-bench.lock}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BIN=$(mktemp -d "${TMPDIR:-/tmp}/puabin.XXXXXX")
trap 'rm -rf "$BIN"' EXIT
RUN="$REPO/bench/pua/run.sh"

# build outside the lock: the hold part with a tiny load builds the binaries
"$RUN" --bin-dir "$BIN" --out "$BIN/smoke" -- -mode throughput -stores memory -rates 100 \
	-duration 1s -attempts 1 -lock "" -quiet-max 1s > /dev/null 2>&1

COMMON=(-lock "" -quiet-max 20s)
flock "$LOCK" timeout 1790 bash -c '
	set -euo pipefail
	RUN=$1 BIN=$2 OUT=$3; shift 3
	"$RUN" --bin-dir "$BIN" --out "$OUT/hold" -- -mode hold -n 100000 -create-rate 3000 \
		-refresh 120 -observe 250s "$@"
	"$RUN" --bin-dir "$BIN" --out "$OUT/throughput-sqlite" -- -mode throughput -stores sqlite \
		-rates 2000,2500,3000,3500,4000,4500,5000 "$@"
	"$RUN" --bin-dir "$BIN" --out "$OUT/throughput-memory" -- -mode throughput -stores memory \
		-rates 5000,6000,7000,8000,9000,10000 "$@"
	"$RUN" --bin-dir "$BIN" --out "$OUT/mix" -- -mode throughput -stores sqlite,memory -mix \
		-rates 1500,3000,4500 -attempts 1 -keep-going 1 "$@"
	"$RUN" --bin-dir "$BIN" --out "$OUT/profile" --profile -- -mode throughput -stores sqlite,memory \
		-rates 4000 -attempts 1 "$@"
	"$RUN" --bin-dir "$BIN" --out "$OUT/peer" -- -mode throughput -servers presenced,kamailio \
		-stores sqlite,memory -rates 2000,3000,3500,4000,4500,5000,5500,6000,7000,8000 "$@"
' _ "$RUN" "$BIN" "$OUT" "${COMMON[@]}"
cp "$BIN/rev" "$OUT/presenced-rev.txt"
for d in hold throughput-sqlite throughput-memory mix profile peer; do
	echo "==== $d"
	cat "$OUT/$d/summary.txt"
done | tee "$OUT/summary.txt"
