#!/usr/bin/env bash
# bench/bla/run.sh - BLA (pua_bla, dialog;sla) latency benchmark of presenced under SIPp.
#
# For each aggregate rate of phone state changes: starts presenced with
# pua_bla on lines line1..lineN (SQLite store), SIPp "phones" (UAS: answers
# pua_bla's SUBSCRIBEs, then NOTIFYs timestamped dialog states), SIPp
# "watchers" (UAC: each phone's SUBSCRIBE to its line, logs the arrival of
# every NOTIFY), registers the phones, waits until all subscriptions exist
# both ways, runs the load, and reports counts and the latency from a
# phone's NOTIFY to the other phones' NOTIFYs. See README.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

usage() {
	cat <<EOF
usage: bench/bla/run.sh [options]
  --rates "R..."        aggregate phone state changes (NOTIFYs to pua_bla) per second (default "100 300 1000")
  --duration S          seconds of load per rate, at least one cycle of 3 states per phone (default 30)
  --lines N             shared lines (default 1000)
  --phones N            phones per line, 1..26 (default 3)
  --self-exclusion yes|no
                        yes (default): each phone's NOTIFY names the address of its own
                        line subscription, so the presence server leaves that watcher out
                        (N-1 NOTIFYs per change); no: every watcher of the line gets it (N)
  --store sqlite|memory presenced store (default sqlite, fresh file under \$TMPDIR)
  --setup S             seconds allowed for set-up before the load starts (default 40)
  --profile             CPU-profile presenced during the load of the highest rate (bench/profile, -windowprofile)
  --out DIR             results directory (default bench/bla/results/<label>-<date>)
  --label NAME          run label (default bla)
  --port-base P         presenced SIP P, MI P+9, phones P+11, watchers P+12, register P+13,
                        SIPp control ports P+21..P+23 (default 6470)
  --presenced-bin PATH  measure this binary instead of building ./cmd/presenced
  --keep-raw            keep raw SIPp logs uncompressed
EOF
}

ARGS="$*"
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
while [ $# -gt 0 ]; do
	case "$1" in
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
	-h|--help) usage; exit 0;;
	*) echo "unknown option $1" >&2; usage >&2; exit 2;;
	esac
	shift
done
case "$SELFX" in yes|no) ;; *) echo "--self-exclusion yes|no" >&2; exit 2;; esac
[ "$PHONES" -ge 1 ] && [ "$PHONES" -le 26 ] || { echo "--phones 1..26" >&2; exit 2; }

SIPP=${SIPP:-sipp}
GO=${GO:-go}
command -v "$SIPP" >/dev/null || { echo "sipp not found (apt-get install sip-tester)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 1; }

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
HZ=$(getconf CLK_TCK)

log() { echo "$(date -u +%H:%M:%S) $*" | tee -a "$OUT/run.log"; }

# ---------------------------------------------------------------- processes
SRV_PID=""
PH_PID=""
W_PID=""
SAMPLER_PID=""
cleanup() {
	local p
	for p in $SAMPLER_PID $PH_PID $W_PID; do
		kill -TERM "$p" 2>/dev/null || true
	done
	if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -TERM "$SRV_PID" 2>/dev/null || true
		local i
		for i in $(seq 1 100); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SRV_PID" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	SRV_PID="" PH_PID="" W_PID="" SAMPLER_PID=""
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

udp_port_bound() { ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }
udp_drops() { ss -Hulnm "sport = :$1" 2>/dev/null | sed -n 's/.*[(,]d\([0-9]*\)).*/\1/p' | head -1; }
cpu_ticks() { [ -r "/proc/$1/stat" ] && awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" || echo 0; }
cpu_busy_total() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
metric() {  # $1 = name (with labels), sum over matching series
	curl -s -m 5 "http://127.0.0.1:$MI_PORT/metrics" 2>/dev/null |
		awk -v n="$1" 'index($0, n) == 1 { s += $NF; f = 1 } END { if (f) printf "%.0f\n", s; else print "" }'
}
wait_metric() {  # $1 = metric, $2 = at least, $3 = timeout s; 0 when reached
	local t=0 v
	while [ "$t" -lt "$(($3 * 10))" ]; do
		v=$(metric "$1")
		[ -n "$v" ] && [ "$v" -ge "$2" ] && return 0
		kill -0 "$SRV_PID" 2>/dev/null || return 1
		sleep 0.1; t=$((t + 1))
	done
	return 1
}
# waits until the counter $1 stays the same for $2 s (at most $3 s)
wait_settled() {
	local prev="" v t=0
	while [ "$t" -lt "$3" ]; do
		v=$(metric "$1"); [ -n "$v" ] && [ "$v" = "$prev" ] && return 0
		prev=$v; sleep "$2"; t=$((t + $2))
	done
	return 1
}

for p in $SIP_PORT $PH_PORT $W_PORT $R_PORT $CP_BASE $((CP_BASE + 1)) $((CP_BASE + 2)); do
	if udp_port_bound "$p"; then log "UDP port $p is in use (another benchmark?): choose --port-base"; exit 1; fi
done
if ss -Hltn "sport = :$MI_PORT" 2>/dev/null | grep -q .; then log "TCP port $MI_PORT is in use: choose --port-base"; exit 1; fi

# ---------------------------------------------------------------- build
if [ -z "$PRES_BIN" ]; then
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
	echo "rates: $RATES; duration: $DURATION s; lines: $LINES; phones per line: $PHONES; self-exclusion: $SELFX (NOTIFYs per change: $FAN); store: $STORE"
	echo "git HEAD: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
	echo "uncommitted daemon changes: $(git -C "$REPO" diff HEAD --stat -- . ':(exclude)bench' 2>/dev/null | tail -1)"
	echo "presenced: $PRES_BIN"
	"$GO" version -m "$PRES_BIN" 2>/dev/null | awk '$1 == "build" && $2 ~ /^vcs\./ { print "  " $2 }'
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
{
	echo SEQUENTIAL
	for ((l = 1; l <= LINES; l++)); do
		for ((k = 0; k < PHONES; k++)); do echo "p${letters[$k]}-line$l;$l"; done
	done
} > "$WORK/watchers.csv"

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

echo "rate,attempted_rate,achieved_rate,load_s,phones,changes_sent,notifies_expected,notifies_received,missing,duplicates,late_over_5ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,presenced_cpu_pct,presenced_rss_peak_kb,sipp_phones_cpu_pct,sipp_watchers_cpu_pct,other_cpu_pct,phone_retrans,watcher_failed,udp_drops,pua_notify_200,pua_notify_200_expected,pass" > "$SUMMARY"

# ---------------------------------------------------------------- one step
run_step() {  # $1 = rate, $2 = profile (1/"")
	local rate=$1 prof=$2
	local period_ms=$((NSUBS * 1000 / rate))
	local cycles=$(( (DURATION * 1000 + 3 * period_ms / 2) / (3 * period_ms) ))
	[ "$cycles" -ge 1 ] || cycles=1
	local load_s=$(( 3 * cycles * period_ms / 1000 ))
	local dir="$RAW/r$rate"
	rm -rf "$dir"; mkdir -p "$dir"
	log "rate $rate changes/s: $NSUBS phones, a NOTIFY every $period_ms ms each, $cycles cycle(s) of 3 states, ~$load_s s of load"

	sed -e "s/@PERIOD@/$period_ms/g" -e "s/@CYCLES@/$cycles/g" "$HERE/phones.xml" > "$dir/phones.xml"
	local idle=$(( (SETUP + load_s + period_ms / 1000 + 60) * 1000 ))
	sed -e "s/@NEND@/$FAN/g" -e "s/@IDLE@/$idle/g" "$HERE/watchers.xml" > "$dir/watchers.xml"

	# presenced
	local db="$WORK/presenced-$rate.db"
	rm -f "$db" "$db-wal" "$db-shm"
	write_config "$dir/presenced.yaml" "$db"
	"$PRES_BIN" check -c "$dir/presenced.yaml" > "$dir/check.txt" 2>&1 || { log "  config check failed: $(cat "$dir/check.txt")"; return 1; }
	if [ -n "$prof" ]; then
		mkdir -p "$OUT/profile-r$rate"
		"$PROF_BIN" -c "$dir/presenced.yaml" -windowprofile "$OUT/profile-r$rate/cpu.prof" > "$dir/server.log" 2>&1 &
	else
		"$PRES_BIN" run -c "$dir/presenced.yaml" > "$dir/server.log" 2>&1 &
	fi
	SRV_PID=$!
	local i
	for i in $(seq 1 100); do udp_port_bound "$SIP_PORT" && break; sleep 0.1; done
	udp_port_bound "$SIP_PORT" || { log "  presenced did not come up (see $dir/server.log)"; return 1; }
	sleep 0.5
	local rss_base; rss_base=$(rss_kb "$SRV_PID")

	local t0; t0=$(( $(date +%s) + SETUP ))
	local tmax=$((SETUP + load_s + 240))
	# phones (UAS)
	( cd "$dir" && exec timeout "$tmax" "$SIPP" -sf phones.xml "${SIPP_COMMON[@]}" -p "$PH_PORT" -cp "$CP_BASE" \
		-m "$NSUBS" -l $((NSUBS + 100)) -set t0 "$t0" -set cport "$CPORT" -set period "$period_ms" \
		-trace_stat -stf phones-stat.csv -fd 1 -trace_err -error_file phones-err.log \
		-trace_logs -log_file phones-log.csv > phones.out 2>&1 ) &
	PH_PID=$!
	# watchers (UAC): every phone's subscription to its line
	( cd "$dir" && exec timeout "$tmax" "$SIPP" 127.0.0.1:"$SIP_PORT" -sf watchers.xml "${SIPP_COMMON[@]}" -p "$W_PORT" \
		-cp $((CP_BASE + 1)) -inf "$WORK/watchers.csv" -r 1000 -m "$NSUBS" -l $((NSUBS + 100)) \
		-trace_stat -stf watchers-stat.csv -fd 1 -trace_err -error_file watchers-err.log \
		-trace_logs -log_file watchers-log.csv > watchers.out 2>&1 ) &
	W_PID=$!
	if ! wait_metric presenced_subscriptions "$NSUBS" 30; then
		log "  only $(metric presenced_subscriptions) of $NSUBS line subscriptions after 30 s"; return 1
	fi
	# register the phones: pua_bla subscribes to each, each NOTIFYs its idle state
	( cd "$dir" && timeout 60 "$SIPP" 127.0.0.1:"$SIP_PORT" -sf "$HERE/register.xml" "${SIPP_COMMON[@]}" -p "$R_PORT" \
		-cp $((CP_BASE + 2)) -inf "$WORK/register.csv" -r 1000 -m "$NSUBS" -l $((NSUBS + 100)) \
		-trace_stat -stf register-stat.csv -fd 1 > register.out 2>&1 ) || { log "  REGISTERs failed (see $dir/register.out)"; return 1; }
	if ! wait_metric presenced_pua_subscriptions "$NSUBS" 30; then
		log "  only $(metric presenced_pua_subscriptions) of $NSUBS pua_bla subscriptions after 30 s"; return 1
	fi
	if ! wait_metric presenced_publications "$NSUBS" 30; then
		log "  only $(metric presenced_publications) of $NSUBS idle states published after 30 s"; return 1
	fi
	wait_settled presenced_notify_sent_total 1 20 || true
	local left=$((t0 - $(date +%s)))
	log "  set-up done: $(metric presenced_subscriptions) line subscriptions, $(metric presenced_pua_subscriptions) pua_bla subscriptions, $(metric presenced_publications) publications; load starts in $left s"
	[ "$left" -ge 1 ] || { log "  set-up took longer than --setup $SETUP s"; return 1; }
	while [ "$(date +%s)" -lt "$t0" ]; do sleep 0.05; done

	# the load: RSS peak all along; CPU over the steady part, from one
	# period after t0 (every phone has started) to the end of the last cycle
	local php wp
	php=$(pgrep -P "$PH_PID" | head -1); wp=$(pgrep -P "$W_PID" | head -1)
	php=${php:-$PH_PID}; wp=${wp:-$W_PID}
	local ns0; ns0=$(metric presenced_notify_sent_total)
	local win0 win1 sampled=0 peak=0 r
	win0=$(awk -v t="$t0" -v p="$period_ms" 'BEGIN { printf "%.3f", t + p / 1000 }')
	win1=$((t0 + load_s))
	local c0=0 p0=0 w0=0 b0=0 s0=0 c1=0 p1=0 w1=0 b1=0 s1=0
	while kill -0 "$PH_PID" 2>/dev/null; do
		r=$(rss_kb "$SRV_PID"); [ "${r:-0}" -gt "$peak" ] && peak=$r
		if [ "$sampled" -eq 0 ] && awk -v a="$(now)" -v b="$win0" 'BEGIN { exit !(a >= b) }'; then
			c0=$(cpu_ticks "$SRV_PID"); p0=$(cpu_ticks "$php"); w0=$(cpu_ticks "$wp"); b0=$(cpu_busy_total); s0=$(now)
			[ -n "$prof" ] && kill -USR1 "$SRV_PID"
			sampled=1
		elif [ "$sampled" -eq 1 ] && [ "$(date +%s)" -ge "$win1" ]; then
			c1=$(cpu_ticks "$SRV_PID"); p1=$(cpu_ticks "$php"); w1=$(cpu_ticks "$wp"); b1=$(cpu_busy_total); s1=$(now)
			[ -n "$prof" ] && kill -USR2 "$SRV_PID"
			sampled=2
		fi
		[ "$(date +%s)" -gt "$((t0 + load_s + 60))" ] && { log "  phones still running 60 s after the load: stopping them"; kill -TERM "$PH_PID" 2>/dev/null || true; }
		sleep 0.2
	done
	[ "$sampled" -eq 2 ] || log "  the phones ended before the end of the load window: no CPU figures"
	wait "$PH_PID" 2>/dev/null || true; PH_PID=""
	local ns1; ns1=$(metric presenced_notify_sent_total)
	# the watchers end after their end markers
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
	local pua200; pua200=$(metric 'presenced_pua_notifies_total{code="200"}'); pua200=${pua200:-0}
	{
		echo "notify_sent_total during load: $((ns1 - ns0))"
		curl -s -m 5 "http://127.0.0.1:$MI_PORT/metrics" | grep -E '^presenced_(pua|notify|subscriptions|publications|sip_)' || true
	} > "$dir/metrics-end.txt"
	kill -TERM "$SRV_PID" 2>/dev/null || true
	for i in $(seq 1 200); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true; SRV_PID=""
	rm -f "$db" "$db-wal" "$db-shm"

	# results
	local el; el=$(awk -v a="$s0" -v b="$s1" 'BEGIN { print (b > a) ? b - a : 1 }')
	local srv_cpu ph_cpu w_cpu other
	srv_cpu=$(awk -v d=$((c1 - c0)) -v h="$HZ" -v e="$el" 'BEGIN { printf "%.0f", 100 * d / h / e }')
	ph_cpu=$(awk -v d=$((p1 - p0)) -v h="$HZ" -v e="$el" 'BEGIN { printf "%.0f", 100 * d / h / e }')
	w_cpu=$(awk -v d=$((w1 - w0)) -v h="$HZ" -v e="$el" 'BEGIN { printf "%.0f", 100 * d / h / e }')
	other=$(awk -v d=$(( (b1 - b0) - (c1 - c0) - (p1 - p0) - (w1 - w0) )) -v h="$HZ" -v e="$el" 'BEGIN { v = 100 * d / h / e; if (v < 0) v = 0; printf "%.0f", v }')
	local retrans wfailed
	retrans=$(stat_col "$dir/phones-stat.csv" "Retransmissions(C)")
	wfailed=$(stat_col "$dir/watchers-stat.csv" "FailedCall(C)")
	local st
	st=$(awk -F';' -v fan="$FAN" -v phones="$PHONES" '
		FNR == 1 { f++ }
		f == 1 && $1 == "S" { sent++; t = $2 + $3 / 1e6; if (!t0 || t < t0) t0 = t; if (t > t1) t1 = t; next }
		f == 2 && $1 == "N" && $4 != "x" && $4 != "" {
			k = $4 ";" $5 ";" $6 ";" $7
			if (k in seen) { dup++; next }
			seen[k] = 1; got++
			ms = (($2 - $4) * 1e6 + ($3 - $5)) / 1000
			print ms > "/dev/stderr"
		}
		f == 2 && $1 == "T" { idle++ }
		END { printf "%d %d %d %.6f %.6f %d\n", sent, got, dup, t0, t1, idle }' \
		"$dir/phones-log.csv" "$dir/watchers-log.csv" 2> "$dir/latency-ms.txt")
	local sent got dup ts0 ts1 idle
	read -r sent got dup ts0 ts1 idle <<< "$st"
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
	local pua_exp=$((sent + 2 * NSUBS))
	if [ "$pua200" -eq "$pua_exp" ] && [ "$missing" -eq 0 ] && [ "$dup" -eq 0 ] && [ "$wfailed" -eq 0 ] && [ "$sent" -gt 0 ] &&
	   awk -v p="$p99" 'BEGIN { exit !(p + 0 < 5) }'; then pass=PASS; fi
	[ -n "$KEEP_RAW" ] || gzip -f "$dir"/*-log.csv "$dir/latency-ms.txt" 2>/dev/null || true
	echo "$rate,$((NSUBS * 1000 / period_ms)),$achieved,$load_s,$NSUBS,$sent,$expected,$got,$missing,$dup,$late,$p50,$p90,$p99,$p999,$pmax,$srv_cpu,$peak,$ph_cpu,$w_cpu,$other,$retrans,$wfailed,$drops,$pua200,$pua_exp,$pass" >> "$SUMMARY"
	log "  sent $sent changes ($achieved/s), NOTIFYs expected $expected, received $got, missing $missing, duplicates $dup, idle watchers $idle"
	log "  latency ms: p50 $p50 p90 $p90 p99 $p99 p99.9 $p999 max $pmax (over 5 ms: $late); presenced CPU $srv_cpu %, RSS $rss_base -> peak $peak kB; SIPp phones $ph_cpu %, watchers $w_cpu %; others $other %; phone retransmissions $retrans; watcher failed calls $wfailed; UDP drops $drops; pua_bla accepted $pua200 NOTIFYs of $pua_exp -> $pass"
	# the one window SIGUSR1..SIGUSR2 of the load
	[ -n "$prof" ] && [ -f "$OUT/profile-r$rate/cpu.prof.1" ] && mv "$OUT/profile-r$rate/cpu.prof.1" "$OUT/profile-r$rate/cpu.prof"
	if [ -n "$prof" ] && [ -s "$OUT/profile-r$rate/cpu.prof" ]; then
		local pb=${PROF_BIN}
		"$GO" tool pprof -top -nodecount=40 "$pb" "$OUT/profile-r$rate/cpu.prof" > "$OUT/profile-r$rate/top-flat.txt" 2>/dev/null || true
		"$GO" tool pprof -top -cum -nodecount=60 "$pb" "$OUT/profile-r$rate/cpu.prof" > "$OUT/profile-r$rate/top-cum.txt" 2>/dev/null || true
		[ -f "$REPO/bench/profile/breakdown.awk" ] &&
			"$GO" tool pprof -traces "$pb" "$OUT/profile-r$rate/cpu.prof" 2>/dev/null |
			awk -f "$REPO/bench/profile/breakdown.awk" > "$OUT/profile-r$rate/breakdown.txt" 2>/dev/null || true
		log "  profile: $OUT/profile-r$rate/ (top-flat.txt, top-cum.txt, breakdown.txt)"
	fi
}

stat_col() {  # value of column $2 in the last row of SIPp -trace_stat file $1
	[ -f "$1" ] || { echo 0; return; }
	awk -F';' -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next }
		{ last = $k } END { print last + 0 }' "$1"
}

top=0
for r in $RATES; do [ "$r" -gt "$top" ] && top=$r; done
for r in $RATES; do
	p=""
	[ -n "$PROFILE" ] && [ "$r" -eq "$top" ] && p=1
	run_step "$r" "$p" || log "  step failed"
	for q in $PH_PID $W_PID; do kill -TERM "$q" 2>/dev/null || true; done
	if [ -n "$SRV_PID" ]; then kill -TERM "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=""; fi
	wait 2>/dev/null || true
	PH_PID="" W_PID=""
done
log "summary: $SUMMARY"
column -s, -t < "$SUMMARY" | tee -a "$OUT/run.log"
