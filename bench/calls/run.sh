#!/usr/bin/env bash
# bench/calls/run.sh - calls through the proxy with the busy lamp field on:
# presenced and Kamailio 5.6 (proxy + registrar + dialog + pua_dialoginfo +
# presence in one process), measured the same way, step by step interleaved.
#
# One step, for one server at one rate (calls/s):
#   1. take /tmp/presenced-bench.lock (held for the whole step, released
#      between steps), wait until the machine is quiet (bench/lib/common.sh
#      wait_quiet, at most --quiet-max s),
#   2. start a fresh server on udp:127.0.0.1:5470,
#   3. register the POOL callees c0..c<POOL-1> (sipp/reg.xml) with their
#      Contact on the callee SIPp (sipp/uas.xml, port 5481),
#   4. subscribe the watchers (sipp/watch.xml, Event: dialog) to every callee
#      AOR (port 5485) and, with --sides both, every caller AOR a0..
#      (port 5489),
#   5. run the callers (sipp/uac.xml, port 5483): rate*duration calls, caller
#      a<i> calls callee c<i> (i cycling over the pool), INVITE -> 180 -> 200
#      -> ACK -> talk time -> BYE -> 200, all through the proxy; the callee
#      rings --ring-ms between its 180 and its 200,
#   6. wait for the callees and the watchers to finish (a watcher
#      un-subscribes 5 s after its last NOTIFY), stop the server,
#   7. check the NOTIFYs (blf/main.go): every call's callee lamp must have
#      shown early, every watched side's lamp terminated, and time the 180 ->
#      NOTIFY(early) latency; write a row of summary.csv.
# A step passes when no call failed, none is unfinished, the achieved rate is
# at least 95 % of the target, no registration or watcher failed, and no
# lamp state is missing (blf_missing=0). Capacity = highest passing rate.
#
# Everything listens on 127.0.0.1: the server on 5470 (presenced's
# management API on 5479), SIPp on 5481-5489 (control ports 5491-5499).
# Processes started here are stopped by their pid. See bench/calls/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH=$(cd "$HERE/.." && pwd)
REPO=$(cd "$BENCH/.." && pwd)
ORIG_ARGS="$*"

# ---------------------------------------------------------------- defaults
SERVERS="kamailio presenced"
SCENARIOS="ladder latency profile"
RATES="100 200 300 400 500 600 800 1000"
LAT_RATES=""             # latency steps: "presenced=400 kamailio=400" (or one number for all); default half of presenced's capacity in this run, for both
LAT_DURATION=20
PROFILE_RATE=""          # default: presenced's capacity in this run
DURATION=10
TALK_MS=500              # pause between ACK and BYE
RING_MS=100              # pause between the callee's 180 and its 200
POOL=200                 # callees c0.. and callers a0..
SIDES=both               # both | callee: whose lamps are watched and published
KEEP_GOING=2
ATTEMPTS=2
QUIET_PCT=30
QUIET_MAX=120
NOISE_PCT=40
KAM_CHILDREN=4
PRES_BIN=""
PRES_STORE=sqlite
PRES_ENV=""
LOCK=/tmp/presenced-bench.lock
LABEL=""
OUT=""
SIPP=${SIPP:-sipp}
KAMAILIO=${KAMAILIO:-}
GO=${GO:-go}

T_HOST=127.0.0.1; T_PORT=5470; MI_PORT=5479
TARGET=$T_HOST:$T_PORT
P_UAS=5481; P_UAC=5483; P_WC=5485; P_WA=5489; P_REG=5487

usage() {
	cat <<EOF
usage: $0 [options]
  --servers "A B"        servers, interleaved step by step (default "$SERVERS")
  --scenarios LIST       among "ladder latency profile" (default "$SCENARIOS")
  --rates LIST           calls/s of the ladder (default "$RATES")
  --duration S           seconds of calls per ladder step (default $DURATION)
  --latency-rates "S=R ..." rates of the latency steps per server, or one rate for all
                         (default: half of presenced's capacity found by the ladder, both servers)
  --latency-duration S   seconds of calls of a latency step (default $LAT_DURATION)
  --profile-rate R       rate of the profile step (presenced under bench/profile;
                         default: presenced's capacity found by the ladder)
  --talk-ms MS           pause between ACK and BYE (default $TALK_MS)
  --ring-ms MS           pause between the callee's 180 and 200 (default $RING_MS)
  --pool N               callees (and callers) (default $POOL)
  --sides both|callee    lamps watched (default $SIDES; the servers publish both)
  --keep-going N         failing steps before a server's ladder stops (default $KEEP_GOING)
  --attempts N           tries of a noisy step (default $ATTEMPTS)
  --quiet-pct P --quiet-max S --noise-pct P   as bench/run.sh
  --kam-children N       Kamailio UDP workers (default $KAM_CHILDREN)
  --presenced-bin PATH   presenced binary (default: go build ./cmd/presenced)
  --presenced-store S    sqlite (default) or memory
  --presenced-env "K=V"  environment of presenced
  --lock FILE            lock held during each step (default $LOCK; "" for none)
  --label NAME --out DIR result directory (default bench/calls/results/LABEL-DATE)
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--servers) SERVERS=$2; shift 2;;
	--scenarios) SCENARIOS=$2; shift 2;;
	--rates) RATES=$2; shift 2;;
	--duration) DURATION=$2; shift 2;;
	--latency-rates) LAT_RATES=$2; shift 2;;
	--latency-duration) LAT_DURATION=$2; shift 2;;
	--profile-rate) PROFILE_RATE=$2; shift 2;;
	--talk-ms) TALK_MS=$2; shift 2;;
	--ring-ms) RING_MS=$2; shift 2;;
	--pool) POOL=$2; shift 2;;
	--sides) SIDES=$2; shift 2;;
	--keep-going) KEEP_GOING=$2; shift 2;;
	--attempts) ATTEMPTS=$2; shift 2;;
	--quiet-pct) QUIET_PCT=$2; shift 2;;
	--quiet-max) QUIET_MAX=$2; shift 2;;
	--noise-pct) NOISE_PCT=$2; shift 2;;
	--kam-children) KAM_CHILDREN=$2; shift 2;;
	--presenced-bin) PRES_BIN=$2; shift 2;;
	--presenced-store) PRES_STORE=$2; shift 2;;
	--presenced-env) PRES_ENV=$2; shift 2;;
	--lock) LOCK=$2; shift 2;;
	--label) LABEL=$2; shift 2;;
	--out) OUT=$2; shift 2;;
	-h|--help) usage; exit 0;;
	*) echo "unknown option $1" >&2; usage >&2; exit 2;;
	esac
done
case "$SIDES" in both|callee) ;; *) echo "--sides: both or callee" >&2; exit 2;; esac

[ -n "$LABEL" ] || LABEL=calls
[ -n "$OUT" ] || OUT="$HERE/results/$LABEL-$(date +%Y%m%d-%H%M)"
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)
RAW="$OUT/raw"                 # per-step SIPp output: git-ignored (bench/calls/.gitignore)
SUMMARY="$OUT/summary.csv"
LOG="$OUT/run.log"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/presenced-calls.XXXXXX")

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

command -v "$SIPP" >/dev/null || { echo "sipp not found (apt-get install sip-tester)" >&2; exit 1; }
if [ -z "$KAMAILIO" ]; then
	KAMAILIO=$(command -v kamailio || echo /usr/sbin/kamailio)
fi

# common.sh: process/CPU/memory sampling helpers of bench/run.sh; it writes
# bench/run.sh's summary header to $SUMMARY when sourced, so point it away
SUMMARY_MAIN=$SUMMARY
SUMMARY="$WORK/run-sh-summary.csv"
# shellcheck source=../lib/common.sh
. "$BENCH/lib/common.sh"
SUMMARY=$SUMMARY_MAIN

# ---------------------------------------------------------------- processes
SRV_PID=""; RUN_DIR=""; STEP_PIDS=""; SAMPLER_PID=""
LOCKED=""
kill_pid() {  # $1 = pid: TERM, then KILL after 20 s
	local p=$1 i
	kill -0 "$p" 2>/dev/null || return 0
	kill -TERM "$p" 2>/dev/null || true
	for i in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}
stop_server() {
	[ -n "$SRV_PID" ] && kill_pid "$SRV_PID"
	SRV_PID=""
	[ -n "$RUN_DIR" ] && rm -rf "$RUN_DIR"
	RUN_DIR=""
}
unlock() {
	if [ -n "$LOCKED" ]; then flock -u 9 || true; exec 9>&-; LOCKED=""; fi
}
cleanup() {
	local p
	stop_sampler || true
	for p in $STEP_PIDS; do kill_pid "$p"; done
	stop_server
	unlock
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- servers
PRES_READY=""
prepare_presenced() {
	[ -n "$PRES_READY" ] && return 0
	if [ -z "$PRES_BIN" ]; then
		PRES_BIN="$WORK/presenced"
		log "building presenced: (cd $REPO && $GO build -o $PRES_BIN ./cmd/presenced)"
		( cd "$REPO" && "$GO" build -o "$PRES_BIN" ./cmd/presenced )
	fi
	{
		echo "presenced binary: $PRES_BIN"
		"$GO" version -m "$PRES_BIN" 2>/dev/null | awk '$1 == "build" && $2 ~ /^vcs\./ { print "  " $2 }'
	} >> "$OUT/env.txt"
	PRES_READY=1
}

write_presenced_config() {  # $1 = file, $2 = database path
	cat > "$1" <<EOF
# written by bench/calls/run.sh for one step: registrar + proxy + dialog +
# pua_dialoginfo + presence server in one process, SQLite store
log: {level: warn}
sip:
  listen: ["udp:$T_HOST:$T_PORT"]
store:
  backend: $PRES_STORE
  path: $2
mi:
  enabled: true
  listen: 127.0.0.1:$MI_PORT
presence: {enabled: true}
pua: {enabled: true}
usrloc: {enabled: true}
registrar: {enabled: true}
pua_usrloc: {enabled: true}
proxy: {enabled: true, record_route: true}
dialog: {enabled: true}
pua_dialoginfo:
  enabled: true
  sides: both
  include_callid: true
  include_tags: true
  include_localremote: true
EOF
}

start_server() {  # $1 = server, $2 = step dir, $3 = profile dir ("" = none)
	RUN_DIR=$(mktemp -d "$WORK/srv.XXXXXX")
	case "$1" in
	kamailio)
		{ echo 'PRAGMA journal_mode=WAL;'
		  cat /usr/share/kamailio/db_sqlite/standard-create.sql /usr/share/kamailio/db_sqlite/presence-create.sql
		} | sqlite3 "$RUN_DIR/ref.sqlite" > /dev/null
		"$KAMAILIO" -DD -E -f "$HERE/kamailio/calls.cfg" -A "DBURL=\"sqlite://$RUN_DIR/ref.sqlite\"" \
			-A "NCHILDREN=$KAM_CHILDREN" -Y "$RUN_DIR" -P "$RUN_DIR/kamailio.pid" -m 512 -M 16 \
			> "$2/server.log" 2>&1 &
		SRV_PID=$!;;
	presenced)
		prepare_presenced
		write_presenced_config "$RUN_DIR/presenced.yaml" "$RUN_DIR/presenced.db"
		cp "$RUN_DIR/presenced.yaml" "$2/presenced.yaml"
		if [ -n "$3" ]; then
			env $PRES_ENV "$PROF_BIN" -c "$RUN_DIR/presenced.yaml" -cpuprofile "$3/cpu.prof" > "$2/server.log" 2>&1 &
		else
			env $PRES_ENV "$PRES_BIN" run -c "$RUN_DIR/presenced.yaml" > "$2/server.log" 2>&1 &
		fi
		SRV_PID=$!;;
	*) log "unknown server $1"; return 1;;
	esac
	local i
	for i in $(seq 1 150); do
		if udp_port_bound "$T_PORT" && kill -0 "$SRV_PID" 2>/dev/null; then sleep 0.5; return 0; fi
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	log "server $1 did not come up (see $2/server.log)"
	stop_server
	return 1
}

# ---------------------------------------------------------------- SIPp
# runs SIPp in the background in directory $1 (created): $2 = SIP port,
# $3 = kill-after seconds, the rest = SIPp arguments; sets LAUNCHED
sipp_bg() {
	local dir=$1 p=$2 tmax=$3; shift 3
	mkdir -p "$dir"
	( cd "$dir" && exec timeout "$tmax" "$SIPP" "$TARGET" -i 127.0.0.1 -p "$p" -cp $((p + 10)) \
		-nostdin -nd -buff_size 4194304 -max_recv_loops 5000 -max_sched_loops 5000 \
		"$@" > sipp.out 2>&1 ) &
	LAUNCHED=$!
	STEP_PIDS="$STEP_PIDS $LAUNCHED"
}

sum_stat() {  # $1 = stat file, $2 = column; 0 when missing
	if [ -s "$1" ]; then stat_col "$1" "$2"; else echo 0; fi
}

# ---------------------------------------------------------------- one step
HDR="server,kind,target_cps,attempt,calls,successful,failed,unfinished,achieved_cps,retrans,pass,reg_ok,watch_failed,uas_failed,notifies,blf_missing,callee_missing_early,callee_missing_terminated,caller_missing_terminated,lat_callee_n,lat_callee_p50_ms,lat_callee_p90_ms,lat_callee_p99_ms,lat_callee_max_ms,lat_caller_p50_ms,lat_caller_p99_ms,inv180_p50_ms,inv180_p99_ms,bye_p99_ms,elapsed_s,server_cpu_pct,sipp_max_cpu_pct,other_cpu_pct,server_rss_peak_kb,server_pss_peak_kb,server_udp_drops,extra"
[ -f "$SUMMARY" ] || echo "$HDR" > "$SUMMARY"

LAST_PASS=FAIL; LAST_OTHER=0
kv() { awk -F= -v k="$1" '$1 == k { print $2 }' "$2"; }

run_call_step() {  # $1 = server, $2 = kind (ladder|latency|profile), $3 = rate, $4 = duration, $5 = attempt
	local srv=$1 kind=$2 rate=$3 dur=$4 att=$5
	local calls=$((rate * dur))
	local dir="$RAW/$srv/$kind-r$rate"; [ "$att" -gt 1 ] && dir="$dir-a$att"
	rm -rf "$dir"; mkdir -p "$dir"
	LAST_PASS=FAIL; LAST_OTHER=0
	local pdir=""
	[ "$kind" = profile ] && { pdir="$dir/profile"; mkdir -p "$pdir"; }

	# input files: callees, calls (callee;caller), watched AORs
	local i
	{ echo SEQUENTIAL; for ((i = 0; i < POOL; i++)); do echo "c$i"; done; } > "$dir/callees.csv"
	{ echo SEQUENTIAL; for ((i = 0; i < POOL; i++)); do echo "c$i;a$i"; done; } > "$dir/calls.csv"
	{ echo SEQUENTIAL; for ((i = 0; i < POOL; i++)); do echo "a$i"; done; } > "$dir/callers.csv"

	if [ -n "$LOCK" ]; then exec 9>"$LOCK"; flock 9; LOCKED=1; fi
	wait_quiet
	log "$srv $kind: $rate calls/s, $calls calls, ring ${RING_MS} ms, talk ${TALK_MS} ms, pool $POOL, sides $SIDES (attempt $att)"
	if ! start_server "$srv" "$dir" "$pdir"; then
		echo "$srv,$kind,$rate,$att,$calls,0,0,$calls,0,0,FAIL,,,,,,,,,,,,,,,,,,,,,,,,,,server did not start" >> "$SUMMARY"
		unlock
		return 1
	fi
	local pids; pids=$(tree_pids "$SRV_PID" | tr '\n' ' ')
	start_sampler "$dir/mem.peak" $pids

	# registrations
	sipp_bg "$dir/reg" $P_REG 60 -sf "$HERE/sipp/reg.xml" -inf "$dir/callees.csv" -set uasport $P_UAS \
		-r 1000 -m "$POOL" -recv_timeout 5000 -timeout 50s -trace_stat -stf stat.csv -trace_err -error_file errors.log
	wait "$LAUNCHED" || true
	local reg_ok; reg_ok=$(sum_stat "$dir/reg/stat.csv" "SuccessfulCall(C)")

	# callees, watchers
	local tcall=$((dur + TALK_MS / 1000 + 60))
	sipp_bg "$dir/uas" $P_UAS $((tcall + 60)) -sf "$HERE/sipp/uas.xml" -m "$calls" -d "$RING_MS" \
		-trace_stat -stf stat.csv -trace_err -error_file errors.log -trace_logs -log_file log.csv
	local uas=$LAUNCHED
	local wpids="" wdirs="wc" ws
	[ "$SIDES" = both ] && wdirs="wc wa"
	for ws in $wdirs; do
		local port=$P_WC inf="$dir/callees.csv"
		[ "$ws" = wa ] && { port=$P_WA; inf="$dir/callers.csv"; }
		sipp_bg "$dir/$ws" $port $((tcall + 200)) -sf "$HERE/sipp/watch.xml" -inf "$inf" -r 1000 -m "$POOL" \
			-recv_timeout 130000 -trace_stat -stf stat.csv -trace_err -error_file errors.log \
			-trace_logs -log_file log.csv -trace_msg -message_file messages.log
		wpids="$wpids $LAUNCHED"
	done
	sleep $((2 + POOL / 500))

	# the calls
	local c0 t0 c1 t1
	c0=$(cpu_of_pids $pids); t0=$(cpu_busy_total)
	sipp_bg "$dir/uac" $P_UAC $tcall -sf "$HERE/sipp/uac.xml" -inf "$dir/calls.csv" -r "$rate" -m "$calls" \
		-l "$calls" -d "$TALK_MS" -recv_timeout 10000 -timeout "$((tcall - 5))s" \
		-trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 100 -trace_err -error_file errors.log
	local uac=$LAUNCHED
	sleep 0.1
	local sp=() s0=() s1=() n=0 p
	for p in $uac $uas $wpids; do
		sp[$n]=$(tree_pids "$p" | tr '\n' ' '); s0[$n]=$(cpu_of_pids ${sp[$n]}); s1[$n]=${s0[$n]}; n=$((n + 1))
	done
	while kill -0 "$uac" 2>/dev/null; do
		for ((i = 0; i < n; i++)); do
			local v; v=$(cpu_of_pids ${sp[$i]}); [ "$v" -gt 0 ] && s1[$i]=$v
		done
		sleep 0.5
	done
	wait "$uac" || true
	c1=$(cpu_of_pids $pids); t1=$(cpu_busy_total)
	local vdrop; vdrop=$(udp_drops "$T_PORT"); vdrop=${vdrop:-?}
	# callees exit after -m calls; watchers 5 s after their last NOTIFY
	for p in $uas $wpids; do
		for i in $(seq 1 400); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
		kill_pid "$p"
	done
	STEP_PIDS=""
	stop_sampler || true
	local peak="0 0"; [ -f "$dir/mem.peak" ] && peak=$(cat "$dir/mem.peak")
	stop_server
	unlock

	# ---- results
	local st="$dir/uac/stat.csv"
	local ok fail retr el
	ok=$(sum_stat "$st" "SuccessfulCall(C)"); fail=$(sum_stat "$st" "FailedCall(C)")
	retr=$(sum_stat "$st" "Retransmissions(C)")
	el=0; [ -s "$st" ] && el=$(stat_elapsed "$st")
	local unfin=$((calls - ok - fail))
	local wfail=0 uasfail
	for ws in $wdirs; do wfail=$((wfail + $(sum_stat "$dir/$ws/stat.csv" "FailedCall(C)"))); done
	uasfail=$(sum_stat "$dir/uas/stat.csv" "FailedCall(C)")
	"$BLF_BIN" -uas "$dir/uas/log.csv" -watch "$dir/w*/messages.log" -sides "$SIDES" -lat "$dir/latency.csv" \
		> "$dir/blf.txt" 2>&1 || true
	local b="$dir/blf.txt"
	local notif miss cme cmt amt ln l50 l90 l99 lmax a50 a99
	notif=$(kv notifies_received "$b"); miss=$(kv blf_missing "$b")
	cme=$(kv callee_missing_early "$b"); cmt=$(kv callee_missing_terminated "$b"); amt=$(kv caller_missing_terminated "$b")
	ln=$(kv callee_lat_n "$b"); l50=$(kv callee_lat_p50_ms "$b"); l90=$(kv callee_lat_p90_ms "$b")
	l99=$(kv callee_lat_p99_ms "$b"); lmax=$(kv callee_lat_max_ms "$b")
	a50=$(kv caller_lat_p50_ms "$b"); a99=$(kv caller_lat_p99_ms "$b")
	# achieved rate: of the call starts (INVITE sent = 180 time - INVITE->180
	# time, from -trace_rtt), (n - 1) / span; the elapsed time of the stat
	# file would count the last calls' talk time and the dump period
	local ach
	ach=$(cat "$dir"/uac/*_rtt.csv 2>/dev/null | awk -F';' '$3 == 1 { t = $1 - $2; if (n == 0 || t < lo) lo = t; if (n == 0 || t > hi) hi = t; n++ }
		END { if (n > 1 && hi > lo) printf "%.0f", (n - 1) * 1000 / (hi - lo); else print 0 }')
	# (SIPp writes the rtt samples by hundreds: none for a very short step)
	[ "$ach" = 0 ] && ach=$(awk -v o="$ok" -v e="$el" 'BEGIN { if (e > 0) printf "%.0f", o / e; else print 0 }')
	local pass=FAIL
	if [ "$fail" -eq 0 ] && [ "$unfin" -eq 0 ] && [ "$reg_ok" -eq "$POOL" ] && [ "$wfail" -eq 0 ] &&
		[ "${miss:-1}" = 0 ] && awk -v a="$ach" -v r="$rate" 'BEGIN { exit !(a >= 0.95 * r) }'; then
		pass=PASS
	fi
	local rtts=("$dir"/uac/*_rtt.csv)
	[ -e "${rtts[0]}" ] || rtts=()
	local r1 r2
	r1=$(rtt_pct 1 "${rtts[@]}"); r2=$(rtt_pct 2 "${rtts[@]}")
	set -- $r1; local i50=$2 i99=$4
	set -- $r2; local y99=$4
	local srv_pct dsipp=0 smax=0 oth_pct
	srv_pct=$(pct_of_core $((c1 - c0)) "$el")
	for ((i = 0; i < n; i++)); do
		local d=$((s1[$i] - s0[$i])); dsipp=$((dsipp + d))
		p=$(pct_of_core "$d" "$el"); [ "$p" -gt "$smax" ] && smax=$p
	done
	oth_pct=$(pct_of_core $((t1 - t0 - (c1 - c0) - dsipp)) "$el")
	set -- $peak; local rp=$1 pp=$2
	local extra=""
	[ "$oth_pct" -gt "$NOISE_PCT" ] && extra="noisy"
	[ "$smax" -ge 90 ] && extra="$extra;sipp_saturated"
	echo "$srv,$kind,$rate,$att,$calls,$ok,$fail,$unfin,$ach,$retr,$pass,$reg_ok,$wfail,$uasfail,$notif,$miss,$cme,$cmt,$amt,$ln,$l50,$l90,$l99,$lmax,$a50,$a99,$i50,$i99,$y99,$el,$srv_pct,$smax,$oth_pct,$rp,$pp,$vdrop,$extra" >> "$SUMMARY"
	log "  $pass: ok=$ok failed=$fail unfinished=$unfin achieved=${ach}/s retrans=$retr reg=$reg_ok/$POOL watch_failed=$wfail; NOTIFYs $notif, lamp states missing $miss (callee early $cme, terminated callee $cmt caller $amt); 180->NOTIFY callee p50 ${l50} p90 ${l90} p99 ${l99} max ${lmax} ms (n=$ln), caller p50 ${a50} p99 ${a99}; INVITE->180 p99 ${i99} ms; cpu server ${srv_pct}% sipp max ${smax}% other ${oth_pct}%; pss peak ${pp} kB; drops $vdrop"
	[ "$kind" = profile ] || compress_big "$dir"
	LAST_PASS=$pass; LAST_OTHER=$oth_pct
	[ "$pass" = PASS ]
}

run_step() {  # $1 = server, $2 = kind, $3 = rate, $4 = duration; repeats noisy attempts
	local a rc=1
	for a in $(seq 1 "$ATTEMPTS"); do
		rc=0; run_call_step "$1" "$2" "$3" "$4" "$a" || rc=1
		[ "$LAST_OTHER" -le "$NOISE_PCT" ] && break
		log "  noisy step (others ${LAST_OTHER}% of a core)"
	done
	return $rc
}

servers_in_order() {  # $1 = step index: alternate the order
	if [ $(($1 % 2)) -eq 0 ]; then echo "$SERVERS"; else echo "$SERVERS" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }'; fi
}

pick() {  # $1 = "s=r ..." or "r", $2 = server
	local x
	for x in $1; do
		case "$x" in "$2="*) echo "${x#*=}"; return;; *=*) ;; *) echo "$x"; return;; esac
	done
	echo ""
}

# ---------------------------------------------------------------- main
declare -A FAILS=()
declare -A CAP=()
BLF_BIN="$WORK/blf"
( cd "$REPO" && "$GO" build -o "$BLF_BIN" ./bench/calls/blf )
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: bench/calls/run.sh $ORIG_ARGS"
	echo "servers: $SERVERS  target: $TARGET  scenarios: $SCENARIOS"
	echo "duration per ladder step: ${DURATION}s  latency steps: ${LAT_DURATION}s  ring: ${RING_MS} ms  talk: ${TALK_MS} ms  pool: $POOL  sides: $SIDES"
	echo "git HEAD: $(git -C "$REPO" rev-parse HEAD 2>/dev/null)"
	echo "git status --short (outside bench/):"
	git -C "$REPO" status --short 2>/dev/null | grep -v ' bench/' | sed 's/^/  /' || true
	"$KAMAILIO" -v 2>/dev/null | head -1 || true
	echo "kamailio: bench/calls/kamailio/calls.cfg, children $KAM_CHILDREN, -m 512 -M 16"
	echo "presenced: store $PRES_STORE, env '$PRES_ENV'"
	"$GO" version
	"$SIPP" -v 2>&1 | grep -m1 SIPp || true
	echo "cpus: $(nproc) ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))  mem: $(awk '/MemTotal/ { print $2 " kB" }' /proc/meminfo)"
	echo "load: $(uptime)"
} >> "$OUT/env.txt"
log "results in $OUT"

for sc in $SCENARIOS; do
	case "$sc" in
	ladder)
		k=0
		for r in $RATES; do
			for s in $(servers_in_order $k); do
				[ "${FAILS[$s]:-0}" -ge "$KEEP_GOING" ] && continue
				if run_step "$s" ladder "$r" "$DURATION"; then
					FAILS[$s]=0; CAP[$s]=$r
				else
					FAILS[$s]=$(( ${FAILS[$s]:-0} + 1 ))
				fi
			done
			k=$((k + 1))
		done
		for s in $SERVERS; do log "capacity $s: ${CAP[$s]:-none} calls/s (highest passing step)"; echo "$s,${CAP[$s]:-0}" >> "$OUT/capacity.csv"; done
		;;
	latency)
		if [ -z "$LAT_RATES" ] && [ -n "${CAP[presenced]:-}" ]; then
			LAT_RATES=$(( CAP[presenced] / 2 ))
			log "latency steps at half of presenced's capacity: $LAT_RATES calls/s"
		fi
		for s in $(servers_in_order 0); do
			r=$(pick "$LAT_RATES" "$s")
			[ -n "$r" ] || { log "latency: no rate for $s"; continue; }
			run_step "$s" latency "$r" "$LAT_DURATION" || true
		done;;
	profile)
		[ -n "$PROFILE_RATE" ] || PROFILE_RATE=${CAP[presenced]:-}
		[ -n "$PROFILE_RATE" ] || { log "profile: give --profile-rate"; continue; }
		PROF_BIN="$WORK/presenced-prof"
		log "building the profiling harness: (cd $REPO && $GO build -o $PROF_BIN ./bench/profile)"
		( cd "$REPO" && "$GO" build -o "$PROF_BIN" ./bench/profile )
		run_call_step presenced profile "$PROFILE_RATE" "$DURATION" 1 || true
		pd="$RAW/presenced/profile-r$PROFILE_RATE/profile"
		od="$OUT/profile-r$PROFILE_RATE"; mkdir -p "$od"
		( cd "$REPO" && "$GO" tool pprof -top -nodecount=40 "$PROF_BIN" "$pd/cpu.prof" ) > "$od/top-flat.txt" 2>&1 || true
		( cd "$REPO" && "$GO" tool pprof -top -cum -nodecount=60 "$PROF_BIN" "$pd/cpu.prof" ) > "$od/top-cum.txt" 2>&1 || true
		( cd "$REPO" && "$GO" tool pprof -traces "$PROF_BIN" "$pd/cpu.prof" 2>/dev/null ) |
			awk -f "$REPO/bench/profile/breakdown.awk" > "$od/breakdown.txt" || true
		log "profile at $PROFILE_RATE calls/s: $od";;
	*) log "unknown scenario $sc";;
	esac
done

echo "end: $(date -u +%Y-%m-%dT%H:%M:%SZ)  load: $(uptime)" >> "$OUT/env.txt"
log "summary: $SUMMARY"
column -s, -t < "$SUMMARY" | cut -c1-250 | tee -a "$LOG" >&2 || true
