#!/usr/bin/env bash
# bench/register/run.sh - SIPp REGISTER load with pua_usrloc on: presenced
# (registrar + usrloc + pua + pua_usrloc + presence server in one process)
# against Kamailio 5.6 with the project's reference full.cfg (registrar +
# usrloc + pua + pua_usrloc + presence), measured the same way, in the same
# run, step by step interleaved.
#
# It reuses bench/run.sh's method and code: bench/lib/{common,servers,ladder,
# fanout}.sh are sourced unchanged, with HERE pointing at this directory (so
# that their "$HERE/sipp/<scenario>.xml" are the files of bench/register/sipp),
# and a few functions redefined here:
#   start_kamailio          Kamailio with bench/register/kamailio/full.cfg and
#                           a fresh sqlite database created as
#                           /work/shared/peers/kamailio/start-full.sh does
#   PRES_EXTRA_CONFIG       (for lib/servers.sh's write_presenced_config)
#                           registrar, usrloc, pua, pua_usrloc, presence on
#   server_subs             (hold rows) publications / AORs held by the server
#   start_server/stop_server  wrapped: before each stop the server's own
#                           counters of REGISTERs and PUBLISHes are written to
#                           publish-check.csv (a step where pua_usrloc did not
#                           publish every binding change is flagged)
# Scenarios:
#   verify    20 AORs registered and held: the server's publications listed
#             (presenced: MI presence_list, pua_list; Kamailio: presentity
#             table, ul.dump), then 100 register.xml calls and their PUBLISH
#             counts
#   register  capacity ladder of register.xml (REGISTER, refresh, un-REGISTER)
#   hold      N AORs registered (expires 3600) and held: memory, time to register
#   profile   presenced under bench/profile (runtime/pprof) at a register rate
#   hold-heap hold of presenced under bench/profile, with heap profiles
#
# Ports (all 127.0.0.1, chosen apart from bench/run.sh's so that both can
# be smoke-tested at once): server UDP 5270, presenced MI 5279, SIPp
# 5273-5274 (hold, verify) and 5280-5299 (ladder instances).
# See bench/register/README.md.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH=$(cd "$HERE/.." && pwd)
REPO=$(cd "$BENCH/.." && pwd)
ORIG_ARGS="$*"

# ---------------------------------------------------------------- defaults (names as in bench/run.sh)
SERVERS="kamailio presenced"
TARGET=127.0.0.1:5270
SERVER_CMD=""
SERVER_PID=""
SCENARIOS="verify register"
REGISTER_RATES="250 500 750 1000 1500 2000 2500 3000 3500 4000 5000"
HOLD_SUBS="100000"         # AORs held by the hold scenario
HOLD_RATE=1000             # REGISTERs/s at which they register
HOLD_SETTLE=40
PROFILE_RATE=""            # profile scenario: register calls/s (default 90 % of capacity)
DURATION=10
MIN_CALLS=1000
KEEP_GOING=2
SIPP_SPLIT=2000
KAM_DB=sqlite              # always sqlite here (full.cfg needs db_sqlite)
KAM_CHILDREN=1            # as full.cfg: with more workers its sqlite database is locked and PUBLISHes fail (README)
KAM_SHM=512
KAM_PKG=16
KAM_LOGLEVEL=1
PRES_BIN=""
PRES_STORE=sqlite
PRES_DB_DIR=""
PRES_LOG=warn
PRES_ENV=""
MI_PORT=5279
QUIET_PCT=30
QUIET_MAX=300
NOISE_PCT=40
ATTEMPTS=2
LABEL=""
OUT=""
SIPP=${SIPP:-sipp}
KAMAILIO=${KAMAILIO:-kamailio}
GO=${GO:-go}

P_WATCH=5273; C_WATCH=5274
P_PUB=5275;   C_PUB=5276
P_BASE=5280

usage() {
	cat <<EOF
usage: $0 [options]
  --compare                kamailio and presenced interleaved (default)
  --server NAME            only this server: kamailio or presenced
  --servers "A B"          servers, in this order (default "$SERVERS")
  --scenarios LIST         among "verify register hold profile hold-heap" (default "$SCENARIOS")
  --register-rates LIST    calls/s ladder of register.xml (default "$REGISTER_RATES")
  --hold-subs N            AORs held by the hold scenario (default $HOLD_SUBS)
  --hold-rate R            their REGISTER rate (default $HOLD_RATE)
  --hold-settle S          s between all registered and the second memory sample (default $HOLD_SETTLE)
  --profile-rate R         calls/s of the profile scenario (default 90 % of this run's capacity)
  --duration S             seconds of traffic per ladder step (default $DURATION)
  --keep-going N           failing steps tolerated before a ladder stops (default $KEEP_GOING)
  --attempts N             tries per step while others disturb it (default $ATTEMPTS)
  --sipp-split R           at most R calls/s per SIPp process (default $SIPP_SPLIT)
  --kam-children N         Kamailio UDP workers (default $KAM_CHILDREN, as full.cfg)
  --kam-shm MB / --kam-pkg MB  Kamailio memory (default $KAM_SHM / $KAM_PKG)
  --kam-loglevel N         Kamailio debug= (default $KAM_LOGLEVEL; full.cfg has 2)
  --presenced-bin PATH     presenced binary (default: go build ./cmd/presenced)
  --presenced-store S      sqlite (default) or memory
  --presenced-db-dir DIR   directory of the SQLite file (default: a temp dir under \$TMPDIR)
  --presenced-env "K=V .." environment of presenced (e.g. GOMEMLIMIT=300MiB)
  --quiet-pct P / --quiet-max S / --noise-pct P   as bench/run.sh
  --label NAME / --out DIR result directory (default bench/register/results/LABEL-DATE)
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--compare) SERVERS="kamailio presenced"; shift;;
	--server|--servers) SERVERS=$2; shift 2;;
	--scenarios) SCENARIOS=$2; shift 2;;
	--register-rates) REGISTER_RATES=$2; shift 2;;
	--hold-subs) HOLD_SUBS=$2; shift 2;;
	--hold-rate) HOLD_RATE=$2; shift 2;;
	--hold-settle) HOLD_SETTLE=$2; shift 2;;
	--profile-rate) PROFILE_RATE=$2; shift 2;;
	--duration) DURATION=$2; shift 2;;
	--keep-going) KEEP_GOING=$2; shift 2;;
	--attempts) ATTEMPTS=$2; shift 2;;
	--sipp-split) SIPP_SPLIT=$2; shift 2;;
	--kam-children) KAM_CHILDREN=$2; shift 2;;
	--kam-shm) KAM_SHM=$2; shift 2;;
	--kam-pkg) KAM_PKG=$2; shift 2;;
	--kam-loglevel) KAM_LOGLEVEL=$2; shift 2;;
	--presenced-bin) PRES_BIN=$2; shift 2;;
	--presenced-store) PRES_STORE=$2; shift 2;;
	--presenced-db-dir) PRES_DB_DIR=$2; shift 2;;
	--presenced-env) PRES_ENV=$2; shift 2;;
	--quiet-pct) QUIET_PCT=$2; shift 2;;
	--quiet-max) QUIET_MAX=$2; shift 2;;
	--noise-pct) NOISE_PCT=$2; shift 2;;
	--label) LABEL=$2; shift 2;;
	--out) OUT=$2; shift 2;;
	-h|--help) usage; exit 0;;
	*) echo "unknown option $1" >&2; usage >&2; exit 2;;
	esac
done

T_HOST=${TARGET%:*}
T_PORT=${TARGET##*:}
[ -n "$LABEL" ] || LABEL=register-$(echo "$SERVERS" | tr ' ' '-')
[ -n "$OUT" ] || OUT="$HERE/results/$LABEL-$(date +%Y%m%d-%H%M)"
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)
RAW="$OUT/raw"                  # git-ignored (bench/register/.gitignore)
SUMMARY="$OUT/summary.csv"
LOG="$OUT/run.log"
PUBCHECK="$OUT/publish-check.csv"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/presenced-regbench.XXXXXX")

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

for c in "$SIPP" "$KAMAILIO" kamcmd sqlite3 curl; do
	command -v "$c" >/dev/null || { echo "$c not found" >&2; rm -rf "$WORK"; exit 1; }
done

# The shared functions are written for bench/run.sh's `set -u -o pipefail`
# (they use `[ cond ] && action` as statements and return the status of
# the last test): from here on errors are handled by their return values.
set +e

for f in common servers ladder fanout; do
	# shellcheck source=/dev/null
	. "$BENCH/lib/$f.sh"
done
# servers.sh installed its cleanup (stop the sampler, SIPp, the server;
# remove $WORK) on EXIT, and exit on INT/TERM, which runs it.

# ---------------------------------------------------------------- redefined server functions
KAM_CFG="$HERE/kamailio/full.cfg"

# Kamailio with full.cfg; its sqlite database created at each start as
# start-full.sh does (WAL, standard + presence schema), in the step's
# temporary directory (same file system as presenced's SQLite file)
start_kamailio() {  # $1 = step dir
	KAM_RUN=$(mktemp -d "$WORK/kam.XXXXXX")
	local schema=/usr/share/kamailio/db_sqlite dbf="$KAM_RUN/ref.sqlite"
	[ -f "$schema/presence-create.sql" ] ||
		schema=$(dirname "$(dpkg -L kamailio-sqlite-modules 2>/dev/null | grep '/presence-create\.sql$' | head -n1)")
	{ echo 'PRAGMA journal_mode=WAL;'; cat "$schema/standard-create.sql" "$schema/presence-create.sql"; } |
		sqlite3 "$dbf" > /dev/null || return 1
	echo "$dbf" > "$KAM_RUN/dbfile"
	"$KAMAILIO" -f "$KAM_CFG" -DD -E -m "$KAM_SHM" -M "$KAM_PKG" \
		-P "$KAM_RUN/kamailio.pid" -Y "$KAM_RUN" \
		-A "LISTEN=udp:$T_HOST:$T_PORT" -A "ALIAS=$T_HOST:$T_PORT" -A "SRVADDR=\"sip:$T_HOST:$T_PORT\"" \
		-A "DBURL=\"sqlite://$dbf\"" -A "CTLSOCK=\"unix:$KAM_RUN/kamailio_ctl\"" \
		-A "NCHILDREN=$KAM_CHILDREN" -A "LOGLEVEL=$KAM_LOGLEVEL" \
		> "$1/server.log" 2>&1 &
	SRV_PID=$!
}

BENCH_DRIVER=bench/register/run.sh
PRES_EXTRA_CONFIG='presence:
  enabled: true
pua:
  enabled: true
usrloc:
  enabled: true
registrar:
  enabled: true
pua_usrloc:
  enabled: true
  publish:
    mode: all'

# "name value" lines of presenced's metrics whose name starts with one of $@
pres_metrics() {
	curl -s -m 5 "http://127.0.0.1:$MI_PORT/metrics" 2>/dev/null |
		awk -v pre="$*" 'BEGIN { n = split(pre, p, " ") } /^#/ { next }
			{ for (i = 1; i <= n; i++) if (index($1, p[i]) == 1) { printf "%s=%.0f\n", $1, $2; break } }'
}

# "name value" of Kamailio statistics matching $1 (kamcmd stats.get_statistics)
kam_stats() {
	[ -n "$KAM_RUN" ] || return 0
	kamcmd -s "unix:$KAM_RUN/kamailio_ctl" stats.get_statistics all 2>/dev/null |
		sed -n 's/^[[:space:]]*\([a-z_]*:[-a-z_0-9]*\) = \([0-9]*\).*/\1=\2/p' | grep -E "$1"
}

kam_presentities() {
	[ -n "$KAM_RUN" ] && [ -f "$KAM_RUN/dbfile" ] || return 0
	sqlite3 "$(cat "$KAM_RUN/dbfile")" "select count(*) from presentity" 2>/dev/null
}

# Kamailio's private memory in use, summed over its processes (bytes)
kam_pkg_used() {
	[ -n "$KAM_RUN" ] || return 0
	kamcmd -s "unix:$KAM_RUN/kamailio_ctl" pkg.stats 2>/dev/null | awk '$1 == "used:" { u += $2 } END { print u + 0 }'
}

# hold rows: what the server says it holds ("server_subs=" in the summary)
server_subs() {
	case "$SRV" in
	presenced)
		pres_metrics presenced_publications presenced_pua_publications presenced_usrloc_bindings |
			sed 's/^presenced_//' | paste -sd'|';;
	kamailio)
		echo "presentity_rows=$(kam_presentities)|$(kam_stats 'usrloc:registered_users|location-contacts' | paste -sd'|')|pkg_used_b=$(kam_pkg_used)";;
	*) echo "";;
	esac
}

# wrap start_server / stop_server: remember the step, and before the stop
# write the server's own counts of REGISTERs and PUBLISHes
eval "lib_start_server() $(declare -f start_server | tail -n +2)"
eval "lib_stop_server() $(declare -f stop_server | tail -n +2)"
STEP_DIR=""
start_server() { STEP_DIR=$1; lib_start_server "$@"; }
[ -f "$PUBCHECK" ] || echo "server,step,counters" > "$PUBCHECK"
stop_server() {
	if [ -n "$SRV_PID" ] && [ -n "$STEP_DIR" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		sleep 1   # the PUBLISH of the last un-REGISTERs
		local c=""
		case "$SRV" in
		presenced) c=$(pres_metrics presenced_pua_publish_replies_total presenced_usrloc_events_total presenced_publications presenced_pua_publications | paste -sd'|');;
		kamailio) c=$(kam_stats 'rcv_requests_(register|publish)|rcv_replies_[2-6]xx=|location-contacts|presence:' | paste -sd'|');;
		esac
		echo "$SRV,${STEP_DIR#"$RAW"/},$c" >> "$PUBCHECK"
	fi
	STEP_DIR=""
	lib_stop_server
}

# ---------------------------------------------------------------- verify
# At low rate: publications really happen. 20 AORs registered and held
# (hold.xml), the server's publications listed; then 100 register.xml
# calls, whose PUBLISH counts land in publish-check.csv.
run_verify_once() {  # $1 = server
	local srv=$1 n=20 dir="$RAW/$1/verify"
	SRV=$srv
	rm -rf "$dir"; mkdir -p "$dir"
	log "$srv verify: $n AORs registered and held, their publications listed"
	start_server "$dir" || { log "  server did not start"; return 1; }
	launch_sipp "$dir/hold" "$P_WATCH" "$C_WATCH" 60 -sf "$HERE/sipp/hold.xml" -r 10 -m "$n" -l "$n" -d 6000 \
		-timeout 50s -trace_stat -stf stat.csv -fd 1 -trace_err -error_file errors.log -trace_logs -log_file log.csv
	local hp=$LAUNCHED i
	BG_PIDS="$hp"
	for i in $(seq 1 40); do
		[ "$(grep -c '^S;' "$dir/hold/log.csv" 2>/dev/null || true)" -ge "$n" ] 2>/dev/null && break
		sleep 0.25
	done
	sleep 1
	local f="$OUT/verify-$srv.txt"
	{
		echo "# $srv: $n AORs registered (bench/register/sipp/hold.xml), $(date -u +%H:%M:%SZ)"
		case "$srv" in
		presenced)
			echo "## presenced mi presence_list"; "$PRES_BIN" mi -a "127.0.0.1:$MI_PORT" presence_list
			echo "## presenced mi pua_list"; "$PRES_BIN" mi -a "127.0.0.1:$MI_PORT" pua_list
			echo "## metrics"; pres_metrics presenced_publications presenced_pua presenced_usrloc;;
		kamailio)
			echo "## sqlite presentity table"
			sqlite3 -header "$(cat "$KAM_RUN/dbfile")" "select username, domain, event, expires, etag, length(body) as body_len from presentity order by username"
			echo "## one body"; sqlite3 "$(cat "$KAM_RUN/dbfile")" "select body from presentity limit 1"
			echo "## kamcmd ul.dump brief"; kamcmd -s "unix:$KAM_RUN/kamailio_ctl" ul.dump brief 2>&1 | head -40
			echo "## statistics"; kam_stats 'rcv_requests_(register|publish)|usrloc:|presence:';;
		esac
	} > "$f" 2>&1
	wait "$hp"; BG_PIDS=""
	sleep 1
	{
		echo "# after the $n un-REGISTERs"
		case "$srv" in
		presenced) pres_metrics presenced_publications presenced_pua presenced_usrloc;;
		kamailio) echo "presentity rows: $(kam_presentities)"; kam_stats 'rcv_requests_(register|publish)|usrloc:|presence:';;
		esac
	} >> "$f" 2>&1
	stop_server
	log "  $srv: listing in $f"
	# 100 calls of the benchmark scenario at 20/s
	local mc=$MIN_CALLS; MIN_CALLS=100
	run_step_once "$srv" register 20 verify-register 5 1
	MIN_CALLS=$mc
}

# ---------------------------------------------------------------- profile
run_register_profile() {
	PROF_BIN="$WORK/presenced-prof"
	log "building the profiling harness: (cd $REPO && $GO build -o $PROF_BIN ./bench/profile)"
	( cd "$REPO" && "$GO" build -o "$PROF_BIN" ./bench/profile ) || { log "go build ./bench/profile failed"; return 1; }
	local rate=$PROFILE_RATE
	[ -n "$rate" ] || rate=$(( $(capacity_of presenced register) * 90 / 100 / 50 * 50 ))
	[ "$rate" -gt 0 ] || { log "profile: no rate (give --profile-rate)"; return 1; }
	local pdir="$OUT/profile/register-r$rate"
	mkdir -p "$pdir"
	PRES_PROFILE="$RAW/presenced/profile-register"
	rm -rf "$PRES_PROFILE"; mkdir -p "$PRES_PROFILE"
	wait_quiet
	run_step_once presenced register "$rate" profile-register "$DURATION" 1
	( cd "$REPO" && "$GO" tool pprof -top -nodecount=40 "$PROF_BIN" "$PRES_PROFILE/cpu.prof" ) > "$pdir/top-flat.txt" 2>&1
	( cd "$REPO" && "$GO" tool pprof -top -cum -nodecount=70 "$PROF_BIN" "$PRES_PROFILE/cpu.prof" ) > "$pdir/top-cum.txt" 2>&1
	( cd "$REPO" && "$GO" tool pprof -traces "$PROF_BIN" "$PRES_PROFILE/cpu.prof" 2>/dev/null ) |
		awk -f "$REPO/bench/profile/breakdown.awk" > "$pdir/breakdown.txt"
	log "profile register at $rate/s: $pdir (cpu.prof in $PRES_PROFILE)"
	PRES_PROFILE=""
}

# ---------------------------------------------------------------- heap of held AORs
# hold under the profiling harness (bench/profile: the same server package
# plus runtime/pprof); heap profiles on SIGUSR1 once all AORs are registered
# (heap.prof.1) and HOLD_SETTLE s later (heap.prof.2)
run_hold_heap() {
	PROF_BIN="$WORK/presenced-prof"
	log "building the profiling harness: (cd $REPO && $GO build -o $PROF_BIN ./bench/profile)"
	( cd "$REPO" && "$GO" build -o "$PROF_BIN" ./bench/profile ) || { log "go build ./bench/profile failed"; return 1; }
	local n=${HOLD_SUBS%% *} pdir
	PRES_PROFILE="$RAW/presenced/profile-hold"
	rm -rf "$PRES_PROFILE"; mkdir -p "$PRES_PROFILE"
	wait_quiet
	run_hold_once presenced "$n" 1
	pdir="$OUT/profile/hold-n$n"; mkdir -p "$pdir"
	local i
	for i in 1 2; do
		[ -f "$PRES_PROFILE/heap.prof.$i" ] &&
			( cd "$REPO" && "$GO" tool pprof -top -sample_index=inuse_space -nodecount=40 "$PROF_BIN" "$PRES_PROFILE/heap.prof.$i" ) > "$pdir/heap-inuse-$i.txt" 2>&1
	done
	log "heap profiles with $n held AORs: $pdir"
	PRES_PROFILE=""
}

# ---------------------------------------------------------------- main
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "servers: $SERVERS  target: $TARGET"
	echo "scenarios: $SCENARIOS"
	echo "duration per step: ${DURATION}s  sipp split: ${SIPP_SPLIT} calls/s per instance"
	echo "command: bench/register/run.sh $ORIG_ARGS"
	echo "git HEAD: $(git -C "$REPO" rev-parse HEAD 2>/dev/null)"
	echo "git status --short (outside bench/):"
	git -C "$REPO" status --short 2>/dev/null | grep -v ' bench/' | sed 's/^/  /'
	for s in $SERVERS; do
		case "$s" in
		kamailio) "$KAMAILIO" -v | head -1
			echo "kamailio cfg: bench/register/kamailio/full.cfg (sha256 $(sha256sum < "$KAM_CFG" | cut -c1-16)), db sqlite (WAL) in $WORK ($(df -T "$WORK" | awk 'NR == 2 { print $2 }')), children: $KAM_CHILDREN  shm: ${KAM_SHM}MB  pkg: ${KAM_PKG}MB  debug: $KAM_LOGLEVEL";;
		presenced) echo "presenced: store $PRES_STORE on ${PRES_DB_DIR:-$WORK} ($(df -T "${PRES_DB_DIR:-$WORK}" | awk 'NR == 2 { print $2 }')), log $PRES_LOG, env '${PRES_ENV}', binary ${PRES_BIN:-built from the checkout}"; "$GO" version;;
		esac
	done
	"$SIPP" -v 2>&1 | grep -m1 SIPp
	echo "cpus: $(nproc) ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))  mem: $(awk '/MemTotal/ { print $2 " kB" }' /proc/meminfo)"
	echo "kernel: $(uname -r)  net.core.rmem_max: $(cat /proc/sys/net/core/rmem_max)"
	echo "load: $(uptime)"
} >> "$OUT/env.txt"
log "results in $OUT"
for s in $SERVERS; do [ "$s" = presenced ] && { prepare_presenced || exit 1; }; done

for sc in $SCENARIOS; do
	case "$sc" in
	verify) for srv in $SERVERS; do run_verify_once "$srv"; done;;
	register) run_ladders register "$REGISTER_RATES";;
	hold)
		n=0
		for h in $HOLD_SUBS; do
			for srv in $(servers_in_order $n); do run_step run_hold_once "$srv" "$h"; done
			n=$((n + 1))
		done;;
	profile) run_register_profile;;
	hold-heap) run_hold_heap;;
	*) log "unknown scenario $sc";;
	esac
done

echo "end: $(date -u +%Y-%m-%dT%H:%M:%SZ)  load: $(uptime)" >> "$OUT/env.txt"
log "summary: $SUMMARY"
column -s, -t < "$SUMMARY" | cut -c1-240 | tee -a "$LOG" >&2
log "publish check: $PUBCHECK"
