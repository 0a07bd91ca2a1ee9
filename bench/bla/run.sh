#!/usr/bin/env bash
# bench/bla/run.sh - BLA (pua_bla, dialog;sla) latency benchmark under SIPp:
# presenced and Kamailio 5.6 (kamailio/bla.cfg), step by step interleaved.
#
# For each aggregate rate of phone state changes, and for each server in turn
# (the order alternating from one rate to the next): starts the server with
# pua_bla on lines line1..lineN (presenced: SQLite store; Kamailio: memory),
# SIPp "phones" (UAS: answers pua_bla's SUBSCRIBEs, then NOTIFYs timestamped
# dialog states), SIPp "watchers" (UAC: each phone's SUBSCRIBE to its line,
# logs the arrival of every NOTIFY), registers the phones, waits until all
# subscriptions exist both ways, runs the load, and reports counts and the
# latency from a phone's NOTIFY to the other phones' NOTIFYs. See README.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=$(cd "$HERE/.." && pwd)
REPO=$(cd "$BENCH/.." && pwd)

usage() {
	cat <<EOF
usage: bench/bla/run.sh [options]
  --servers "A B"       servers, interleaved rate by rate (default "presenced kamailio")
  --rates "R..."        aggregate phone state changes (NOTIFYs to pua_bla) per second (default "100 300 1000")
  --duration S          seconds of load per rate, at least one cycle of 3 states per phone (default 30)
  --lines N             shared lines (default 1000)
  --phones N            phones per line, 1..26 (default 3)
  --self-exclusion yes|no
                        yes (default): each phone's NOTIFY names the address of its own
                        line subscription, so the presence server leaves that watcher out
                        (N-1 NOTIFYs per change); no: every watcher of the line gets it (N)
  --third-state S       the last dialog state of each cycle and of the end marker (default
                        terminated; e.g. early: Kamailio ignores every later PUBLISH of a line
                        once the line's dialog is terminated, see README.md)
  --store sqlite|memory presenced store (default sqlite, fresh file under \$TMPDIR)
  --kam-children N      Kamailio UDP workers (default 4)
  --quiet-pct P --quiet-max S
                        before each step wait (at most S s, default 60) until the machine's
                        CPU busy is below P % of a core (default 30), as bench/run.sh
  --setup S             seconds allowed for set-up before the load starts (default 40)
  --profile             CPU-profile presenced during the load of the highest rate (bench/profile, -windowprofile)
  --out DIR             results directory (default bench/bla/results/<label>-<date>)
  --label NAME          run label (default bla)
  --port-base P         server SIP P, presenced MI P+9, phones P+11, watchers P+12, register P+13,
                        SIPp control ports P+21..P+23 (default 6470)
  --presenced-bin PATH  measure this binary instead of building ./cmd/presenced
  --keep-raw            keep raw SIPp logs uncompressed
EOF
}

ARGS="$*"
SERVERS="presenced kamailio"
RATES="100 300 1000"
DURATION=30
LINES=1000
PHONES=3
SELFX=yes
STORE=sqlite
SETUP=40
PROFILE=""
OUT=""
LABEL=bla
PORT_BASE=6470
PRES_BIN=""
KEEP_RAW=""
KAM_CHILDREN=4
THIRD=terminated
QUIET_PCT=30
QUIET_MAX=60
while [ $# -gt 0 ]; do
	case "$1" in
	--servers) SERVERS=$2; shift;;
	--rates) RATES=$2; shift;;
	--duration) DURATION=$2; shift;;
	--lines) LINES=$2; shift;;
	--phones) PHONES=$2; shift;;
	--self-exclusion) SELFX=$2; shift;;
	--store) STORE=$2; shift;;
	--setup) SETUP=$2; shift;;
	--profile) PROFILE=1;;
	--out) OUT=$2; shift;;
	--label) LABEL=$2; shift;;
	--port-base) PORT_BASE=$2; shift;;
	--presenced-bin) PRES_BIN=$2; shift;;
	--keep-raw) KEEP_RAW=1;;
	--kam-children) KAM_CHILDREN=$2; shift;;
	--third-state) THIRD=$2; shift;;
	--quiet-pct) QUIET_PCT=$2; shift;;
	--quiet-max) QUIET_MAX=$2; shift;;
	-h|--help) usage; exit 0;;
	*) echo "unknown option $1" >&2; usage >&2; exit 2;;
	esac
	shift
done
case "$SELFX" in yes|no) ;; *) echo "--self-exclusion yes|no" >&2; exit 2;; esac
case "$THIRD" in trying|proceeding|early|confirmed|terminated) ;; *) echo "--third-state: a dialog state" >&2; exit 2;; esac
[ "$PHONES" -ge 1 ] && [ "$PHONES" -le 26 ] || { echo "--phones 1..26" >&2; exit 2; }
for s in $SERVERS; do
	case "$s" in presenced|kamailio) ;; *) echo "--servers: presenced and/or kamailio" >&2; exit 2;; esac
done

SIPP=${SIPP:-sipp}
GO=${GO:-go}
KAMAILIO=${KAMAILIO:-kamailio}
KAM_SCHEMA=/usr/share/kamailio/db_sqlite
need="$SIPP curl"
case " $SERVERS " in *" kamailio "*) need="$need $KAMAILIO kamcmd sqlite3";; esac
for c in $need; do
	command -v "$c" >/dev/null || { echo "$c not found (apt-get install sip-tester curl kamailio kamailio-presence-modules kamailio-sqlite-modules sqlite3)" >&2; exit 1; }
done

SIP_PORT=$PORT_BASE
MI_PORT=$((PORT_BASE + 9))
PH_PORT=$((PORT_BASE + 11))
W_PORT=$((PORT_BASE + 12))
R_PORT=$((PORT_BASE + 13))
CP_BASE=$((PORT_BASE + 21))
NSUBS=$((LINES * PHONES))
if [ "$SELFX" = yes ]; then FAN=$((PHONES - 1)); CPORT=$W_PORT; else FAN=$PHONES; CPORT=$PH_PORT; fi

[ -n "$OUT" ] || OUT="$HERE/results/$LABEL-$(date -u +%Y%m%d-%H%M)"
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)
RAW="$OUT/raw"
SUMMARY="$OUT/summary.csv"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bla-bench.XXXXXX")

log() { echo "$(date -u +%H:%M:%S) $*" | tee -a "$OUT/run.log"; }

# bench/lib/common.sh: the process, CPU and memory sampling helpers of
# bench/run.sh (tree_pids, cpu_of_pids, start_sampler, wait_quiet,
# udp_drops, stat_col, ...); it writes bench/run.sh's summary header to
# $SUMMARY when sourced, so that is pointed away meanwhile
SUMMARY=/dev/null
# shellcheck source=../lib/common.sh
. "$BENCH/lib/common.sh"
SUMMARY="$OUT/summary.csv"

# ---------------------------------------------------------------- processes
SRV=""          # server of the current step
SRV_PID=""
SRV_RUN=""      # its scratch directory (config, database, control socket)
PH_PID=""
W_PID=""
stop_server() {
	if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -TERM "$SRV_PID" 2>/dev/null || true
		local i
		for i in $(seq 1 200); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SRV_PID" 2>/dev/null || true
		wait "$SRV_PID" 2>/dev/null || true
	fi
	SRV_PID=""
	[ -n "$SRV_RUN" ] && rm -rf "$SRV_RUN"
	SRV_RUN=""
}
stop_step() {  # everything a step started
	local p
	stop_sampler || true
	for p in $PH_PID $W_PID; do kill -TERM "$p" 2>/dev/null || true; done
	stop_server
	wait 2>/dev/null || true
	PH_PID="" W_PID=""
}
cleanup() {
	stop_step
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
metric() {  # $1 = presenced metric name (with labels), sum over matching series
	curl -s -m 5 "http://127.0.0.1:$MI_PORT/metrics" 2>/dev/null |
		awk -v n="$1" 'index($0, n) == 1 { s += $NF; f = 1 } END { if (f) printf "%.0f\n", s; else print "" }'
}
kstat() {  # $1 = Kamailio statistic (group:name), from kamcmd
	kamcmd -s "unix:$SRV_RUN/ctl" stats.get_statistics all 2>/dev/null |
		awk -v n="$1" '$1 == n { v = $3; f = 1 } END { if (f) print v + 0; else print "" }'
}
# count $1 of the current server ("" when it cannot say):
#   subs     line subscriptions (the watchers') accepted
#   blasubs  pua_bla's subscriptions to the phones (Kamailio: the phones'
#            NOTIFYs published, each of which needs one)
#   pubs     dialog;sla publications (Kamailio: PUBLISHes accepted)
#   traffic  a counter that moves while messages are exchanged
#   bla200   the phones' NOTIFYs pua_bla accepted (answered 200)
count() {
	case "$SRV:$1" in
	presenced:subs) metric presenced_subscriptions;;
	presenced:blasubs) metric presenced_pua_subscriptions;;
	presenced:pubs) metric presenced_publications;;
	presenced:traffic) metric presenced_notify_sent_total;;
	presenced:bla200) metric 'presenced_pua_notifies_total{code="200"}';;
	kamailio:subs) kstat script:sla_subscribes;;
	kamailio:blasubs|kamailio:bla200) kstat script:bla_notifies;;
	kamailio:pubs) kstat script:sla_publishes;;
	kamailio:traffic) kstat core:rcv_replies;;
	esac
}
wait_count() {  # $1 = count, $2 = at least, $3 = timeout s; 0 when reached
	local t=0 v
	while [ "$t" -lt "$(($3 * 10))" ]; do
		v=$(count "$1")
		[ -n "$v" ] && [ "$v" -ge "$2" ] && return 0
		kill -0 "$SRV_PID" 2>/dev/null || return 1
		sleep 0.1; t=$((t + 1))
	done
	return 1
}
# waits until the count $1 stays the same for $2 s (at most $3 s)
wait_settled() {
	local prev="" v t=0
	while [ "$t" -lt "$3" ]; do
		v=$(count "$1"); [ -n "$v" ] && [ "$v" = "$prev" ] && return 0
		prev=$v; sleep "$2"; t=$((t + $2))
	done
	return 1
}

for p in $SIP_PORT $PH_PORT $W_PORT $R_PORT $CP_BASE $((CP_BASE + 1)) $((CP_BASE + 2)); do
	if udp_port_bound "$p"; then log "UDP port $p is in use (another benchmark?): choose --port-base"; exit 1; fi
done
if ss -Hltn "sport = :$MI_PORT" 2>/dev/null | grep -q .; then log "TCP port $MI_PORT is in use: choose --port-base"; exit 1; fi

# ---------------------------------------------------------------- build
case " $SERVERS " in *" presenced "*) ;; *) PROFILE="";; esac
if [ -z "$PRES_BIN" ] && [[ " $SERVERS " == *" presenced "* ]]; then
	PRES_BIN="$WORK/presenced"
	log "building presenced: (cd $REPO && $GO build -o $PRES_BIN ./cmd/presenced)"
	( cd "$REPO" && "$GO" build -o "$PRES_BIN" ./cmd/presenced )
fi
PROF_BIN=""
if [ -n "$PROFILE" ]; then
	PROF_BIN="$WORK/presenced-profile"
	( cd "$REPO" && "$GO" build -o "$PROF_BIN" ./bench/profile )
fi
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: bench/bla/run.sh $ARGS"
	echo "servers: $SERVERS (interleaved, the order alternating from one rate to the next)"
	echo "rates: $RATES; duration: $DURATION s; lines: $LINES; phones per line: $PHONES; self-exclusion: $SELFX (NOTIFYs per change: $FAN); states: trying, confirmed, $THIRD; store: $STORE"
	echo "git HEAD: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
	echo "uncommitted daemon changes: $(git -C "$REPO" diff HEAD --stat -- . ':(exclude)bench' 2>/dev/null | tail -1)"
	if [ -n "$PRES_BIN" ]; then
		echo "presenced: $PRES_BIN"
		"$GO" version -m "$PRES_BIN" 2>/dev/null | awk '$1 == "build" && $2 ~ /^vcs\./ { print "  " $2 }' || true
	fi
	echo "kamailio: $("$KAMAILIO" -v 2>/dev/null | head -1); bench/bla/kamailio/bla.cfg, $KAM_CHILDREN UDP workers, -m 512 -M 16"
	echo "$("$SIPP" -v 2>&1 | grep -m1 SIPp)"
	echo "go: $("$GO" version)"
	echo "cpu: $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "kernel: $(uname -r); net.core.rmem_max $(cat /proc/sys/net/core/rmem_max)"
} > "$OUT/env.txt"

# ---------------------------------------------------------------- inputs
letters=(A B C D E F G H I J K L M N O P Q R S T U V W X Y Z)
{
	echo SEQUENTIAL
	for ((l = 1; l <= LINES; l++)); do
		for ((k = 0; k < PHONES; k++)); do echo "p${letters[$k]}-line$l;$l;$PH_PORT"; done
	done
} > "$WORK/register.csv"
# the watchers' Contact user: the phone (presenced compares a watcher's
# contact user, host and port with the Sender) or the line (Kamailio takes
# a dialog;sla watcher's presentity from its Contact user and compares the
# whole contact URI, ;phone=pX included, with the Sender)
for srv in presenced kamailio; do
	{
		echo SEQUENTIAL
		for ((l = 1; l <= LINES; l++)); do
			for ((k = 0; k < PHONES; k++)); do
				u="p${letters[$k]}-line$l"; [ "$srv" = kamailio ] && u="line$l"
				echo "$u;$l;p${letters[$k]}"
			done
		done
	} > "$WORK/watchers-$srv.csv"
done

write_config() {  # $1 = file, $2 = db
	cat > "$1" <<EOF
# written by bench/bla/run.sh
log:
  level: warn
sip:
  listen: ["udp:127.0.0.1:$SIP_PORT"]
store:
  backend: $STORE
  path: $2
mi:
  enabled: true
  listen: 127.0.0.1:$MI_PORT
presence:
  sla:
    # the watchers address the line by Request-URI; their Contact is the
    # phone's own (pX-lineN@127.0.0.1:port), which the Sender is compared with
    presentity_from_contact: false
pua_usrloc:
  enabled: false
pua_bla:
  enabled: true
  lines: ["sip:line*@127.0.0.1"]
  # every phone is one SIPp socket, not the REGISTER's source
  outbound_proxy: 127.0.0.1:$PH_PORT
EOF
}

SIPP_COMMON=(-i 127.0.0.1 -nostdin -nd -buff_size 4194304 -max_recv_loops 5000 -max_sched_loops 5000)

echo "server,rate,attempted_rate,achieved_rate,load_s,phones,changes_sent,notifies_expected,notifies_received,missing,duplicates,late_over_5ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,server_cpu_pct,server_rss_peak_kb,server_pss_peak_kb,sipp_phones_cpu_pct,sipp_watchers_cpu_pct,other_cpu_pct,phone_retrans,watcher_failed,udp_drops,bla_notify_200,bla_notify_200_expected,server_ignored,to_sender,pass" > "$SUMMARY"

# ---------------------------------------------------------------- servers
start_server() {  # $1 = step dir, $2 = profile dir ("" = none); uses SRV, sets SRV_PID and SRV_PIDS
	SRV_RUN=$(mktemp -d "$WORK/$SRV.XXXXXX")
	case "$SRV" in
	presenced)
		write_config "$1/presenced.yaml" "$SRV_RUN/presenced.db"
		"$PRES_BIN" check -c "$1/presenced.yaml" > "$1/check.txt" 2>&1 || { log "  config check failed: $(cat "$1/check.txt")"; return 1; }
		if [ -n "$2" ]; then
			mkdir -p "$2"
			"$PROF_BIN" -c "$1/presenced.yaml" -windowprofile "$2/cpu.prof" > "$1/server.log" 2>&1 &
		else
			"$PRES_BIN" run -c "$1/presenced.yaml" > "$1/server.log" 2>&1 &
		fi
		SRV_PID=$!;;
	kamailio)
		# a scratch sqlite database for the modules' table-version checks
		cat "$KAM_SCHEMA/standard-create.sql" "$KAM_SCHEMA/presence-create.sql" | sqlite3 "$SRV_RUN/ref.sqlite" > /dev/null
		"$KAMAILIO" -DD -E -f "$HERE/kamailio/bla.cfg" -m 512 -M 16 -P "$SRV_RUN/kamailio.pid" -Y "$SRV_RUN" \
			-A "LISTEN=udp:127.0.0.1:$SIP_PORT" -A "SRVADDR=\"sip:127.0.0.1:$SIP_PORT\"" \
			-A "PHONES=\"sip:127.0.0.1:$PH_PORT\"" -A "DBURL=\"sqlite://$SRV_RUN/ref.sqlite\"" \
			-A "NCHILDREN=$KAM_CHILDREN" -A "CTLSOCK=\"unix:$SRV_RUN/ctl\"" > "$1/server.log" 2>&1 &
		SRV_PID=$!;;
	esac
	local i
	for i in $(seq 1 100); do udp_port_bound "$SIP_PORT" && break; sleep 0.1; done
	udp_port_bound "$SIP_PORT" || { log "  $SRV did not come up (see $1/server.log)"; return 1; }
	sleep 0.5
	# every process of the server (Kamailio: its workers, timers, ...)
	SRV_PIDS=$(tree_pids "$SRV_PID" | tr '\n' ' ')
}

server_counters() {  # the server's own counters at the end of a step
	case "$SRV" in
	presenced) curl -s -m 5 "http://127.0.0.1:$MI_PORT/metrics" | grep -E '^presenced_(pua|notify|subscriptions|publications|sip_)' || true;;
	kamailio) kamcmd -s "unix:$SRV_RUN/ctl" stats.get_statistics all 2>/dev/null | grep -E '^(script|core|tmx|sl|presence|usrloc|registrar):' || true;;
	esac
}

# ---------------------------------------------------------------- one step
run_step() {  # $1 = rate, $2 = profile (1/""); uses SRV
	local rate=$1 prof=$2
	local period_ms=$((NSUBS * 1000 / rate))
	local cycles=$(( (DURATION * 1000 + 3 * period_ms / 2) / (3 * period_ms) ))
	[ "$cycles" -ge 1 ] || cycles=1
	local load_s=$(( 3 * cycles * period_ms / 1000 ))
	local dir="$RAW/$SRV/r$rate"
	rm -rf "$dir"; mkdir -p "$dir"
	wait_quiet
	log "$SRV, rate $rate changes/s: $NSUBS phones, a NOTIFY every $period_ms ms each, $cycles cycle(s) of 3 states, ~$load_s s of load"

	sed -e "s/@PERIOD@/$period_ms/g" -e "s/@CYCLES@/$cycles/g" \
		-e "s|<state>terminated</state>|<state>$THIRD</state>|" "$HERE/phones.xml" > "$dir/phones.xml"
	local idle=$(( (SETUP + load_s + period_ms / 1000 + 60) * 1000 ))
	sed -e "s/@NEND@/$FAN/g" -e "s/@IDLE@/$idle/g" "$HERE/watchers.xml" > "$dir/watchers.xml"

	start_server "$dir" "${prof:+$OUT/profile-r$rate}" || return 1
	local mem_base; mem_base=$(mem_of_pids $SRV_PIDS)
	start_sampler "$dir/mem.peak" $SRV_PIDS

	local cline=0; [ "$SRV" = kamailio ] && cline=1
	local t0; t0=$(( $(date +%s) + SETUP ))
	local tmax=$((SETUP + load_s + 240))
	# phones (UAS)
	( cd "$dir" && exec timeout "$tmax" "$SIPP" -sf phones.xml "${SIPP_COMMON[@]}" -p "$PH_PORT" -cp "$CP_BASE" \
		-m "$NSUBS" -l $((NSUBS + 100)) -set t0 "$t0" -set cport "$CPORT" -set period "$period_ms" -set cline "$cline" \
		-trace_stat -stf phones-stat.csv -fd 1 -trace_err -error_file phones-err.log \
		-trace_logs -log_file phones-log.csv > phones.out 2>&1 ) &
	PH_PID=$!
	# watchers (UAC): every phone's subscription to its line
	( cd "$dir" && exec timeout "$tmax" "$SIPP" 127.0.0.1:"$SIP_PORT" -sf watchers.xml "${SIPP_COMMON[@]}" -p "$W_PORT" \
		-cp $((CP_BASE + 1)) -inf "$WORK/watchers-$SRV.csv" -r 1000 -m "$NSUBS" -l $((NSUBS + 100)) \
		-trace_stat -stf watchers-stat.csv -fd 1 -trace_err -error_file watchers-err.log \
		-trace_logs -log_file watchers-log.csv > watchers.out 2>&1 ) &
	W_PID=$!
	if ! wait_count subs "$NSUBS" 30; then
		log "  only $(count subs) of $NSUBS line subscriptions after 30 s"; return 1
	fi
	# register the phones: pua_bla subscribes to each, each NOTIFYs its idle state
	( cd "$dir" && timeout 60 "$SIPP" 127.0.0.1:"$SIP_PORT" -sf "$HERE/register.xml" "${SIPP_COMMON[@]}" -p "$R_PORT" \
		-cp $((CP_BASE + 2)) -inf "$WORK/register.csv" -r 1000 -m "$NSUBS" -l $((NSUBS + 100)) \
		-trace_stat -stf register-stat.csv -fd 1 > register.out 2>&1 ) || { log "  REGISTERs failed (see $dir/register.out)"; return 1; }
	if ! wait_count blasubs "$NSUBS" 30; then
		log "  only $(count blasubs) of $NSUBS pua_bla subscriptions after 30 s"; return 1
	fi
	if ! wait_count pubs "$NSUBS" 30; then
		log "  only $(count pubs) of $NSUBS idle states published after 30 s"; return 1
	fi
	wait_settled traffic 1 20 || true
	local left=$((t0 - $(date +%s)))
	log "  set-up done: $(count subs) line subscriptions, $(count blasubs) pua_bla subscriptions, $(count pubs) publications; load starts in $left s"
	[ "$left" -ge 1 ] || { log "  set-up took longer than --setup $SETUP s"; return 1; }
	while [ "$(date +%s)" -lt "$t0" ]; do sleep 0.05; done

	# the load: CPU over the steady part, from one period after t0 (every
	# phone has started) to the end of the last cycle; memory all along
	local php wp
	php=$(pgrep -P "$PH_PID" | head -1); wp=$(pgrep -P "$W_PID" | head -1)
	php=${php:-$PH_PID}; wp=${wp:-$W_PID}
	local win0 win1 sampled=0
	win0=$(awk -v t="$t0" -v p="$period_ms" 'BEGIN { printf "%.3f", t + p / 1000 }')
	win1=$((t0 + load_s))
	local c0=0 p0=0 w0=0 b0=0 s0=0 c1=0 p1=0 w1=0 b1=0 s1=0
	while kill -0 "$PH_PID" 2>/dev/null; do
		if [ "$sampled" -eq 0 ] && awk -v a="$(now)" -v b="$win0" 'BEGIN { exit !(a >= b) }'; then
			c0=$(cpu_of_pids $SRV_PIDS); p0=$(cpu_of_pids "$php"); w0=$(cpu_of_pids "$wp"); b0=$(cpu_busy_total); s0=$(now)
			[ -n "$prof" ] && kill -USR1 "$SRV_PID"
			sampled=1
		elif [ "$sampled" -eq 1 ] && [ "$(date +%s)" -ge "$win1" ]; then
			c1=$(cpu_of_pids $SRV_PIDS); p1=$(cpu_of_pids "$php"); w1=$(cpu_of_pids "$wp"); b1=$(cpu_busy_total); s1=$(now)
			[ -n "$prof" ] && kill -USR2 "$SRV_PID"
			sampled=2
		fi
		[ "$(date +%s)" -gt "$((t0 + load_s + 60))" ] && { log "  phones still running 60 s after the load: stopping them"; kill -TERM "$PH_PID" 2>/dev/null || true; }
		sleep 0.2
	done
	[ "$sampled" -eq 2 ] || log "  the phones ended before the end of the load window: no CPU figures"
	wait "$PH_PID" 2>/dev/null || true; PH_PID=""
	# the watchers end after their end markers
	local i
	for i in $(seq 1 300); do kill -0 "$W_PID" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$W_PID" 2>/dev/null; then
		log "  watchers still running 30 s after the phones ended: stopping them"
		kill -TERM "$wp" 2>/dev/null || true
		sleep 1
	fi
	wait "$W_PID" 2>/dev/null || true; W_PID=""
	local drops; drops=$(udp_drops "$SIP_PORT"); drops=${drops:-0}
	# NOTIFYs pua_bla accepted (200): the idle states, the changes, the end
	# markers; fewer means some were taken for retransmissions or refused
	local bla200; bla200=$(count bla200); bla200=${bla200:-0}
	server_counters > "$dir/counters-end.txt"
	# PUBLISHes the server answered 200 but ignored (Kamailio: "Trying to
	# update an already terminated state. Skipping update."; no NOTIFY)
	local ignored=""
	[ "$SRV" = kamailio ] && ignored=$(grep -c 'already terminated state' "$dir/server.log" || true)
	stop_sampler || true
	local peak="0 0"; [ -s "$dir/mem.peak" ] && peak=$(cat "$dir/mem.peak")
	local rss_peak pss_peak
	read -r rss_peak pss_peak <<< "$peak"
	stop_server

	# results
	local el; el=$(awk -v a="$s0" -v b="$s1" 'BEGIN { print (b > a) ? b - a : 1 }')
	local srv_cpu ph_cpu w_cpu other
	srv_cpu=$(pct_of_core $((c1 - c0)) "$el")
	ph_cpu=$(pct_of_core $((p1 - p0)) "$el")
	w_cpu=$(pct_of_core $((w1 - w0)) "$el")
	other=$(pct_of_core $(( (b1 - b0) - (c1 - c0) - (p1 - p0) - (w1 - w0) )) "$el")
	local retrans=0 wfailed=0
	[ -f "$dir/phones-stat.csv" ] && retrans=$(stat_col "$dir/phones-stat.csv" "Retransmissions(C)")
	[ -f "$dir/watchers-stat.csv" ] && wfailed=$(stat_col "$dir/watchers-stat.csv" "FailedCall(C)")
	local st
	# self = NOTIFYs that reached the phone that made the change: watcher
	# call n is row n of the SEQUENTIAL watchers file, phone letter (n-1) % PHONES
	st=$(awk -F';' -v fan="$FAN" -v phones="$PHONES" '
		FNR == 1 { f++ }
		f == 1 && $1 == "S" { sent++; t = $2 + $3 / 1e6; if (!t0 || t < t0) t0 = t; if (t > t1) t1 = t; next }
		f == 2 && $1 == "N" && $4 != "x" && $4 != "" {
			k = $4 ";" $5 ";" $6 ";" $7
			if (k in seen) { dup++; next }
			seen[k] = 1; got++
			if ($6 == "p" substr("ABCDEFGHIJKLMNOPQRSTUVWXYZ", ($7 - 1) % phones + 1, 1)) self++
			ms = (($2 - $4) * 1e6 + ($3 - $5)) / 1000
			print ms > "/dev/stderr"
		}
		f == 2 && $1 == "T" { idle++ }
		END { printf "%d %d %d %.6f %.6f %d %d\n", sent, got, dup, t0, t1, idle, self }' \
		"$dir/phones-log.csv" "$dir/watchers-log.csv" 2> "$dir/latency-ms.txt")
	local sent got dup ts0 ts1 idle self
	read -r sent got dup ts0 ts1 idle self <<< "$st"
	local expected=$((sent * FAN)) missing
	missing=$((expected - got))
	local achieved
	achieved=$(awk -v n="$sent" -v a="$ts0" -v b="$ts1" 'BEGIN { if (b > a) printf "%.0f", n / (b - a); else print 0 }')
	local pct
	pct=$(sort -n "$dir/latency-ms.txt" | awk '{ v[NR] = $1; if ($1 > 5) late++ } END {
		if (NR == 0) { print "0 - - - - -"; exit }
		q = "50 90 99 99.9"; n = split(q, a, " ")
		printf "%d", late + 0
		for (i = 1; i <= n; i++) { k = int(NR * a[i] / 100 + 0.999999); if (k < 1) k = 1; printf " %.2f", v[k] }
		printf " %.2f\n", v[NR] }')
	local late p50 p90 p99 p999 pmax
	read -r late p50 p90 p99 p999 pmax <<< "$pct"
	local pass=FAIL
	local bla_exp=$((sent + 2 * NSUBS))
	# (with --self-exclusion no every phone is meant to get its own changes)
	if [ "$bla200" -eq "$bla_exp" ] && [ "$missing" -eq 0 ] && [ "$dup" -eq 0 ] && { [ "$SELFX" = no ] || [ "$self" -eq 0 ]; } && [ "$wfailed" -eq 0 ] && [ "$sent" -gt 0 ] &&
	   awk -v p="$p99" 'BEGIN { exit !(p + 0 < 5) }'; then pass=PASS; fi
	[ -n "$KEEP_RAW" ] || gzip -f "$dir"/*-log.csv "$dir/latency-ms.txt" 2>/dev/null || true
	echo "$SRV,$rate,$((NSUBS * 1000 / period_ms)),$achieved,$load_s,$NSUBS,$sent,$expected,$got,$missing,$dup,$late,$p50,$p90,$p99,$p999,$pmax,$srv_cpu,$rss_peak,$pss_peak,$ph_cpu,$w_cpu,$other,$retrans,$wfailed,$drops,$bla200,$bla_exp,$ignored,$self,$pass" >> "$SUMMARY"
	log "  sent $sent changes ($achieved/s), NOTIFYs expected $expected, received $got, missing $missing, duplicates $dup, to the sending phone $self, idle watchers $idle"
	log "  latency ms: p50 $p50 p90 $p90 p99 $p99 p99.9 $p999 max $pmax (over 5 ms: $late); $SRV CPU $srv_cpu %, RSS/PSS kB at start $mem_base, peak $rss_peak / $pss_peak; SIPp phones $ph_cpu %, watchers $w_cpu %; others $other %; phone retransmissions $retrans; watcher failed calls $wfailed; UDP drops $drops; pua_bla accepted $bla200 NOTIFYs of $bla_exp${ignored:+, PUBLISHes ignored $ignored} -> $pass"
	[ -n "$prof" ] && profile_reports "$OUT/profile-r$rate"
	return 0
}

profile_reports() {  # $1 = profile dir: the one window SIGUSR1..SIGUSR2 of the load
	[ -f "$1/cpu.prof.1" ] && mv "$1/cpu.prof.1" "$1/cpu.prof"
	[ -s "$1/cpu.prof" ] || return 0
	"$GO" tool pprof -top -nodecount=40 "$PROF_BIN" "$1/cpu.prof" > "$1/top-flat.txt" 2>/dev/null || true
	"$GO" tool pprof -top -cum -nodecount=60 "$PROF_BIN" "$1/cpu.prof" > "$1/top-cum.txt" 2>/dev/null || true
	"$GO" tool pprof -traces "$PROF_BIN" "$1/cpu.prof" 2>/dev/null |
		awk -f "$BENCH/profile/breakdown.awk" > "$1/breakdown.txt" 2>/dev/null || true
	log "  profile: $1/ (top-flat.txt, top-cum.txt, breakdown.txt)"
}

top=0
for r in $RATES; do [ "$r" -gt "$top" ] && top=$r; done
k=0
for r in $RATES; do
	order=$SERVERS
	[ $((k % 2)) -eq 1 ] && order=$(echo "$SERVERS" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')
	for SRV in $order; do
		p=""
		[ -n "$PROFILE" ] && [ "$r" -eq "$top" ] && [ "$SRV" = presenced ] && p=1
		run_step "$r" "$p" || log "  step failed"
		stop_step
	done
	k=$((k + 1))
done
log "summary: $SUMMARY"
column -s, -t < "$SUMMARY" | tee -a "$OUT/run.log"
