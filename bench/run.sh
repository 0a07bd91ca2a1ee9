#!/usr/bin/env bash
# run.sh - SIPp load benchmark of a SIP presence server: presenced and
# Kamailio 5.6 (the reference), measured the same way, in the same run.
#
# Derived from the shared anchor driver (run-anchor.sh): same scenarios,
# same rate ladders, same pass criteria, same CPU/RSS/PSS sampling.  Adds:
#   --server presenced   build (or take) a presenced binary, write its config
#                        into a temporary directory with a fresh SQLite store,
#                        start it, measure it like Kamailio
#   --compare            run Kamailio and presenced interleaved, step by step
#                        (same rates, alternating which goes first)
#   several SIPp instances per step above --sipp-split calls/s (SIPp is
#   single-threaded), with each instance's CPU recorded
#   scenarios fanout1 (time from one PUBLISH to the last of its NOTIFYs),
#   hold (N subscriptions held, server memory), p99 (response times at a
#   fraction of the capacity), profile (CPU profile of presenced at load)
#
# The functions live in bench/lib/ (common.sh: sampling and SIPp result
# helpers; servers.sh: Kamailio and presenced; ladder.sh: rate ladders, p99,
# profile; fanout.sh: fan-out and held subscriptions).
#
# Everything listens on 127.0.0.1.  The server under test listens on UDP
# 5070, presenced's management API on TCP 5079, SIPp uses UDP 5071-5076 and
# 5080-5099.  Processes started here are stopped by their pid, never by name.
# See bench/README.md.

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORIG_ARGS="$*"
REPO=$(cd "$HERE/.." && pwd)

# ---------------------------------------------------------------- defaults
SERVERS="kamailio"        # servers measured, in this order (--compare: both)
TARGET=127.0.0.1:5070
SERVER_CMD=""
SERVER_PID=""
SCENARIOS="publish subscribe fanout"
PUBLISH_RATES="500 1000 1250 1500 1750 2000 2500 3000"
SUBSCRIBE_RATES="500 1000 1250 1500 1750 2000 2500 3000"
OPTIONS_RATES="1000 3000"   # calibration scenario options.xml
FANOUT_WATCHERS="100 1000 2000 3000 5000 10000"
FANOUT1_WATCHERS="1000 10000"
FANOUT1_GAP=3000          # ms between the PUBLISHes of fanout-publish1.xml
FANOUT_SUB_RATE=1000      # calls/s at which the fan-out watchers subscribe
HOLD_SUBS="100000"        # subscriptions held by the hold scenario
HOLD_RATE=1000            # calls/s at which they subscribe
HOLD_SETTLE=40            # s between "all established" and the second memory sample
P99_PCT=80                # p99 scenario: this % of the capacity found in this run
P99_PUBLISH=""            # ... or explicit rates: "kamailio=1200 presenced=4000"
P99_SUBSCRIBE=""
P99_DURATION=20           # s of traffic of a p99 step
PROFILE_RATES=""          # profile scenario: "publish=4000 subscribe=3000" (default: 90 % of capacity)
DURATION=10               # seconds of traffic per step: -m = rate * DURATION
MIN_CALLS=1000
KEEP_GOING=1              # failing steps tolerated before a ladder stops
SIPP_SPLIT=2000           # at most this many calls/s per SIPp instance
KAM_DB=text               # text | sqlite (Kamailio only)
KAM_CHILDREN=4
KAM_SHM=512               # MB
KAM_PKG=16                # MB
PRES_BIN=""               # presenced binary; default: built from this checkout
PRES_STORE=sqlite         # sqlite | memory
PRES_DB_DIR=""            # directory of the SQLite file (default: the temp dir, on $TMPDIR)
PRES_LOG=warn
PRES_ENV=""               # environment of presenced, e.g. "GOMEMLIMIT=250MiB GOGC=50"
MI_PORT=5079
QUIET_PCT=30              # wait for the machine to be below this busy % (one core = 100)
QUIET_MAX=300             # ... for at most this many seconds
NOISE_PCT=40              # a step where others used more CPU than this is repeated
ATTEMPTS=3                # ... at most this many times
LABEL=""
OUT=""
SIPP=${SIPP:-sipp}
KAMAILIO=${KAMAILIO:-kamailio}
GO=${GO:-go}

# SIPp local ports (all on 127.0.0.1)
P_WATCH=5073; C_WATCH=5074    # fan-out watchers, hold
P_PUB=5075;   C_PUB=5076      # fan-out publisher
P_BASE=5080                   # ladder instance i: SIP port P_BASE+2i, control port P_BASE+2i+1

usage() {
	cat <<EOF
usage: $0 [options]
  --server NAME            kamailio (default), presenced, cmd (with --server-cmd),
                           pid (with --server-pid) or none
  --compare                measure kamailio and presenced interleaved, step by step
  --servers "A B"          the servers of --compare, in this order (default "kamailio presenced")
  --target HOST:PORT       address of the server under test (default $TARGET)
  --server-cmd 'CMD'       start the server with CMD (foreground) before every step
  --server-pid PID         measure an already running server (not restarted)
  --presenced-bin PATH     presenced binary (default: go build ./cmd/presenced of this checkout)
  --presenced-store S      sqlite (default) or memory
  --presenced-db-dir DIR   directory for the fresh SQLite file of each start (default: a temp dir)
  --presenced-log LEVEL    log.level of presenced (default $PRES_LOG)
  --presenced-env "K=V ..." environment variables for presenced (e.g. GOMEMLIMIT=250MiB)
  --scenarios LIST         among "publish subscribe fanout fanout1 hold p99 profile options"
                           (default: $SCENARIOS)
  --publish-rates LIST     calls/s ladder for publish.xml (default: $PUBLISH_RATES)
  --subscribe-rates LIST   calls/s ladder for subscribe.xml (default: $SUBSCRIBE_RATES)
  --options-rates LIST     calls/s of the calibration scenario options.xml (default: $OPTIONS_RATES)
  --fanout-watchers LIST   watcher counts, fan-out with 12 back-to-back PUBLISHes (default: $FANOUT_WATCHERS)
  --fanout1-watchers LIST  watcher counts, fan-out one PUBLISH at a time (default: $FANOUT1_WATCHERS)
  --fanout1-gap MS         pause between those PUBLISHes (default $FANOUT1_GAP)
  --fanout-sub-rate R      subscription rate of the fan-out watchers (default $FANOUT_SUB_RATE)
  --hold-subs LIST         subscriptions held by the hold scenario (default $HOLD_SUBS)
  --hold-rate R            their subscription rate (default $HOLD_RATE)
  --hold-settle S          s between all established and the second memory sample (default $HOLD_SETTLE)
  --p99-pct P              p99 scenario at P % of the capacity found in this run (default $P99_PCT)
  --p99-publish "S=R ..."  explicit p99 rates per server for publish.xml (e.g. "kamailio=1200")
  --p99-subscribe "S=R ..."  ... for subscribe.xml
  --p99-duration S         seconds of traffic of a p99 step (default $P99_DURATION)
  --profile-rates "publish=R subscribe=R"  rates of the profile scenario (default 90 % of capacity)
  --duration S             seconds of traffic per ladder step (default $DURATION; -m = rate*S)
  --keep-going N           failing steps tolerated before a ladder stops (default $KEEP_GOING)
  --sipp-split R           at most R calls/s per SIPp instance (default $SIPP_SPLIT)
  --kam-db text|sqlite     Kamailio DB backend (default $KAM_DB)
  --kam-children N         Kamailio UDP worker processes (default $KAM_CHILDREN)
  --kam-shm MB             Kamailio shared memory (default $KAM_SHM)
  --quiet-pct P            before each step wait until the machine's CPU busy is
                           below P % of one core (default $QUIET_PCT) ...
  --quiet-max S            ... for at most S seconds (default $QUIET_MAX)
  --noise-pct P            repeat a step when processes other than the server and
                           SIPp used more than P % of a core (default $NOISE_PCT)
  --attempts N             at most N tries per step (default $ATTEMPTS)
  --label NAME             name of the result set (default: the servers)
  --out DIR                result directory (default bench/results/LABEL-DATE)
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--server) SERVERS=$2; shift 2;;
	--compare) SERVERS="kamailio presenced"; shift;;
	--servers) SERVERS=$2; shift 2;;
	--target) TARGET=$2; shift 2;;
	--server-cmd) SERVERS=cmd; SERVER_CMD=$2; shift 2;;
	--server-pid) SERVERS=pid; SERVER_PID=$2; shift 2;;
	--no-server) SERVERS=none; shift;;
	--presenced-bin) PRES_BIN=$2; shift 2;;
	--presenced-store) PRES_STORE=$2; shift 2;;
	--presenced-db-dir) PRES_DB_DIR=$2; shift 2;;
	--presenced-log) PRES_LOG=$2; shift 2;;
	--presenced-env) PRES_ENV=$2; shift 2;;
	--scenarios) SCENARIOS=$2; shift 2;;
	--publish-rates) PUBLISH_RATES=$2; shift 2;;
	--subscribe-rates) SUBSCRIBE_RATES=$2; shift 2;;
	--options-rates) OPTIONS_RATES=$2; shift 2;;
	--fanout-watchers) FANOUT_WATCHERS=$2; shift 2;;
	--fanout1-watchers) FANOUT1_WATCHERS=$2; shift 2;;
	--fanout1-gap) FANOUT1_GAP=$2; shift 2;;
	--fanout-sub-rate) FANOUT_SUB_RATE=$2; shift 2;;
	--hold-subs) HOLD_SUBS=$2; shift 2;;
	--hold-rate) HOLD_RATE=$2; shift 2;;
	--hold-settle) HOLD_SETTLE=$2; shift 2;;
	--p99-pct) P99_PCT=$2; shift 2;;
	--p99-publish) P99_PUBLISH=$2; shift 2;;
	--p99-subscribe) P99_SUBSCRIBE=$2; shift 2;;
	--p99-duration) P99_DURATION=$2; shift 2;;
	--profile-rates) PROFILE_RATES=$2; shift 2;;
	--duration) DURATION=$2; shift 2;;
	--keep-going) KEEP_GOING=$2; shift 2;;
	--sipp-split) SIPP_SPLIT=$2; shift 2;;
	--kam-db) KAM_DB=$2; shift 2;;
	--kam-children) KAM_CHILDREN=$2; shift 2;;
	--kam-shm) KAM_SHM=$2; shift 2;;
	--quiet-pct) QUIET_PCT=$2; shift 2;;
	--quiet-max) QUIET_MAX=$2; shift 2;;
	--noise-pct) NOISE_PCT=$2; shift 2;;
	--attempts) ATTEMPTS=$2; shift 2;;
	--label) LABEL=$2; shift 2;;
	--out) OUT=$2; shift 2;;
	-h|--help) usage; exit 0;;
	*) echo "unknown option $1" >&2; usage >&2; exit 2;;
	esac
done

T_HOST=${TARGET%:*}
T_PORT=${TARGET##*:}
[ -n "$LABEL" ] || LABEL=$(echo "$SERVERS" | tr ' ' '-')
[ -n "$OUT" ] || OUT="$HERE/results/$LABEL-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)
RAW="$OUT/raw"                 # per-step SIPp output: git-ignored (/bench/results/*/raw/)
SUMMARY="$OUT/summary.csv"
LOG="$OUT/run.log"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/presenced-bench.XXXXXX")

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

command -v "$SIPP" >/dev/null || { echo "sipp not found (apt-get install sip-tester)" >&2; exit 1; }

for f in common servers ladder fanout; do
	# shellcheck source=/dev/null
	. "$HERE/lib/$f.sh"
done

# ---------------------------------------------------------------- main
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "servers: $SERVERS  target: $TARGET ${SERVER_CMD}${SERVER_PID}"
	echo "scenarios: $SCENARIOS"
	echo "duration per step: ${DURATION}s  p99 steps: ${P99_DURATION}s at ${P99_PCT}%  sipp split: ${SIPP_SPLIT} calls/s per instance"
	echo "command: bench/run.sh $ORIG_ARGS"
	echo "git HEAD: $(git -C "$REPO" rev-parse HEAD 2>/dev/null)"
	echo "git status --short (outside bench/):"
	git -C "$REPO" status --short 2>/dev/null | grep -v ' bench/' | sed 's/^/  /'
	for s in $SERVERS; do
		case "$s" in
		kamailio) "$KAMAILIO" -v | head -1; echo "kamailio db: $KAM_DB  children: $KAM_CHILDREN  shm: ${KAM_SHM}MB  pkg: ${KAM_PKG}MB";;
		presenced) echo "presenced: store $PRES_STORE on ${PRES_DB_DIR:-$WORK} ($(df -T "${PRES_DB_DIR:-$WORK}" | awk 'NR == 2 { print $2 }')), log $PRES_LOG, env '${PRES_ENV}', binary ${PRES_BIN:-built from the checkout}"; "$GO" version;;
		esac
	done
	"$SIPP" -v 2>&1 | grep -m1 SIPp
	echo "cpus: $(nproc) ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))  mem: $(awk '/MemTotal/ { print $2 " kB" }' /proc/meminfo)"
	echo "kernel: $(uname -r)  net.core.rmem_max: $(cat /proc/sys/net/core/rmem_max)"
	echo "load: $(uptime)"
} >> "$OUT/env.txt"
log "results in $OUT"

for sc in $SCENARIOS; do
	case "$sc" in
	publish) run_ladders publish "$PUBLISH_RATES";;
	subscribe) run_ladders subscribe "$SUBSCRIBE_RATES";;
	options) run_ladders options "$OPTIONS_RATES";;
	fanout|fanout1|hold)
		case "$sc" in fanout) fn=run_fanout_once; list=$FANOUT_WATCHERS;; fanout1) fn=run_fanout1_once; list=$FANOUT1_WATCHERS;;
		hold) fn=run_hold_once; list=$HOLD_SUBS;; esac
		declare -A FO_STOP=()
		n=0
		for w in $list; do
			for srv in $(servers_in_order $n); do
				[ -n "${FO_STOP[$srv]:-}" ] && continue
				run_step "$fn" "$srv" "$w" || { [ "$KEEP_GOING" -le 1 ] && FO_STOP[$srv]=1; }
			done
			n=$((n + 1))
		done
		unset FO_STOP;;
	p99) run_p99;;
	profile) run_profile;;
	*) log "unknown scenario $sc";;
	esac
done

echo "end: $(date -u +%Y-%m-%dT%H:%M:%SZ)  load: $(uptime)" >> "$OUT/env.txt"
log "summary: $SUMMARY"
column -s, -t < "$SUMMARY" | cut -c1-240 | tee -a "$LOG" >&2
