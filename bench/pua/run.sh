#!/usr/bin/env bash
# bench/pua/run.sh - the pua_mi benchmark: builds presenced (from the
# committed HEAD, or the working tree with --worktree), the harness and its
# profiling wrapper, then runs the harness; every argument after the options
# goes to it (bench/pua/run.sh -- -h lists them). With `-servers
# presenced,kamailio` the harness also runs the peer, Kamailio 5.6 with
# bench/pua/kamailio/pua.cfg (this checkout's), interleaved with presenced.
#
#   bench/pua/run.sh [--out DIR] [--label NAME] [--worktree] [--profile] [--bin-dir DIR] [-- HARNESS FLAGS]
#
# --bin-dir DIR keeps the three binaries in DIR: built there when DIR has
# none, reused when it has them (bench/pua/final.sh builds once).
#
# Results: DIR (default bench/pua/results/LABEL-YYYYMMDD-HHMM) gets
# summary.txt, the ladder csv files, hold-timeline.csv, env.txt, run.log
# and, with --profile, profile/*.prof plus their `go tool pprof -top`.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
ALLARGS="$*"
GO=${GO:-go}
LABEL=pua
OUT=""
WORKTREE=0
PROFILE=0
BINDIR=""
while [ $# -gt 0 ]; do
	case "$1" in
	--out) OUT=$2; shift 2;;
	--label) LABEL=$2; shift 2;;
	--worktree) WORKTREE=1; shift;;
	--profile) PROFILE=1; shift;;
	--bin-dir) BINDIR=$2; shift 2;;
	--) shift; break;;
	-h|--help) sed -n '2,15p' "$0"; exit 0;;
	*) break;;
	esac
done
[ -n "$OUT" ] || OUT="$REPO/bench/pua/results/$LABEL-$(date -u +%Y%m%d-%H%M)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/puabench.XXXXXX")
CHILD=""
cleanup() {
	if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
		kill -TERM "$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BIN=${BINDIR:-$WORK/bin}
# sources: HEAD's tree (the daemon as committed) with this checkout's
# bench/pua, or the working tree as it is
if [ "$WORKTREE" = 1 ]; then
	REV="$(git -C "$REPO" rev-parse HEAD) + working tree"
else
	REV=$(git -C "$REPO" rev-parse HEAD)
fi
NEED_BUILD=0
for b in presenced puabench profiled; do [ -x "$BIN/$b" ] || NEED_BUILD=1; done
if [ "$NEED_BUILD" = 0 ]; then
	REV=$(cat "$BIN/rev" 2>/dev/null || echo "$REV")
elif [ "$WORKTREE" = 1 ]; then
	SRC=$REPO
else
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$REPO" archive HEAD | tar -x -C "$SRC"
	rm -rf "$SRC/bench/pua"
	cp -r "$REPO/bench/pua" "$SRC/bench/pua"
	rm -rf "$SRC/bench/pua/results"
fi
if [ "$NEED_BUILD" = 1 ]; then
	mkdir -p "$BIN"
	( cd "$SRC" && "$GO" build -o "$BIN/presenced" ./cmd/presenced \
		&& "$GO" build -o "$BIN/puabench" ./bench/pua \
		&& "$GO" build -o "$BIN/profiled" ./bench/profile )
	echo "$REV" > "$BIN/rev"
fi

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "presenced: $REV"
	echo "go: $("$GO" version)"
	echo "kernel: $(uname -r)"
	echo "cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "memory: $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
	echo "tmpdir: ${TMPDIR:-/tmp} ($(df -T "${TMPDIR:-/tmp}" | awk 'NR==2 {print $2}'))"
	echo "kamailio: $(${KAMAILIO:-kamailio} -v 2>/dev/null | head -1) (used with -servers ...kamailio)"
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "command: bench/pua/run.sh $ALLARGS"
} > "$OUT/env.txt"

PROF=()
if [ "$PROFILE" = 1 ]; then
	mkdir -p "$OUT/profile"
	PROF=(-profiled "$BIN/profiled" -profile-dir "$OUT/profile")
fi

set +e
"$BIN/puabench" -bin "$BIN/presenced" -out "$OUT" "${PROF[@]}" \
	-kamailio "${KAMAILIO:-kamailio}" -kamailio-cfg "$REPO/bench/pua/kamailio/pua.cfg" "$@" 2> >(tee "$OUT/run.log" >&2) &
CHILD=$!
wait "$CHILD"
rc=$?
CHILD=""
set -e

if [ "$PROFILE" = 1 ]; then
	for p in "$OUT"/profile/*.cpu.prof; do
		[ -e "$p" ] || continue
		"$GO" tool pprof -top -nodecount=40 "$BIN/profiled" "$p" > "$p.top.txt" 2>/dev/null || true
	done
	set -- "$OUT"/profile/hold-steady.cpu.prof.*
	if [ -e "$1" ]; then
		"$GO" tool pprof -top -nodecount=40 "$BIN/profiled" "$@" > "$OUT/profile/hold-steady.top.txt" 2>/dev/null || true
		"$GO" tool pprof -proto "$BIN/profiled" "$@" > "$OUT/profile/hold-steady.cpu.prof" 2>/dev/null || true
		rm -f "$@"
	fi
fi
exit $rc
