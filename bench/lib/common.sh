# bench/lib/common.sh - process, CPU/memory sampling and SIPp result helpers
# Sourced by bench/run.sh (uses its settings and globals); not run on its own.
# shellcheck shell=bash

# ---------------------------------------------------------------- process helpers
# all pids of the tree rooted at $1
tree_pids() {
	local root=$1
	ps -e -o pid=,ppid= | awk -v r="$root" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			q[1] = r; n = 1; h = 1
			while (h <= n) {
				p = q[h++]; print p
				m = split(kids[p], a, " ")
				for (i = 1; i <= m; i++) q[++n] = a[i]
			}
		}'
}

# "rss_kb pss_kb nprocs" summed over the given pids
mem_of_pids() {
	local p files_s=() files_r=()
	for p in "$@"; do
		[ -r "/proc/$p/status" ] && files_s+=("/proc/$p/status") && files_r+=("/proc/$p/smaps_rollup")
	done
	[ ${#files_s[@]} -gt 0 ] || { echo "0 0 0"; return; }
	{ cat "${files_s[@]}"; cat "${files_r[@]}"; } 2>/dev/null |
		awk -v n=${#files_s[@]} '/^VmRSS:/ { r += $2 } /^Pss:/ { p += $2 } END { print r + 0, p + 0, n }'
}

# CPU clock ticks (utime+stime) used so far by the given pids
cpu_of_pids() {
	local p files=()
	for p in "$@"; do [ -r "/proc/$p/stat" ] && files+=("/proc/$p/stat"); done
	[ ${#files[@]} -gt 0 ] || { echo 0; return; }
	cat "${files[@]}" 2>/dev/null | awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

# busy clock ticks of the whole machine (all CPUs)
cpu_busy_total() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }

HZ=$(getconf CLK_TCK)

# background sampler: peak RSS/PSS of a fixed set of pids (the server's
# processes, taken once after start-up) while a step runs
SAMPLER_PID=""
start_sampler() {  # $1 = output file, $2... = pids
	local f=$1; shift
	local pids="$*" first=$1
	( peak_r=0; peak_p=0
	  while kill -0 "$first" 2>/dev/null; do
		read -r r p _ <<< "$(mem_of_pids $pids)"
		[ "${r:-0}" -gt "$peak_r" ] && peak_r=$r
		[ "${p:-0}" -gt "$peak_p" ] && peak_p=$p
		echo "$peak_r $peak_p" > "$f"
		sleep 1
	  done ) &
	SAMPLER_PID=$!
}
stop_sampler() {
	[ -n "${SAMPLER_PID:-}" ] && kill "$SAMPLER_PID" 2>/dev/null && wait "$SAMPLER_PID" 2>/dev/null
	SAMPLER_PID=""
}

# Before a step, wait (at most QUIET_MAX s) until the machine is quiet:
# CPU busy below QUIET_PCT % of one core over 2 s.
wait_quiet() {
	local waited=0 a b busy
	while :; do
		a=$(cpu_busy_total); sleep 2; b=$(cpu_busy_total)
		busy=$(( (b - a) * 100 / HZ / 2 ))
		[ "$busy" -le "$QUIET_PCT" ] && return 0
		[ "$waited" -ge "$QUIET_MAX" ] && { log "  machine still busy (${busy}% of a core), going on"; return 0; }
		[ "$waited" -eq 0 ] && log "  machine busy (${busy}% of a core), waiting for quiet"
		waited=$((waited + 2))
	done
}

# packets the kernel dropped on the UDP socket bound to port $1 (receive buffer full)
udp_drops() {
	ss -Hulnm "sport = :$1" 2>/dev/null | sed -n 's/.*[(,]d\([0-9]*\)).*/\1/p' | head -1
}

udp_port_bound() {  # $1 = port
	ss -Hlun "sport = :$1" 2>/dev/null | grep -q .
}


# ---------------------------------------------------------------- result helpers
# gzip the bulky raw files of a finished step (error logs of failing steps can be 100+ MB)
compress_big() {  # $1 = step dir
	find "$1" -type f -size +1M ! -name '*.gz' -exec gzip -f {} + 2>/dev/null
}

# value of column NAME in the last row of a SIPp -trace_stat file
stat_col() {  # $1 = file, $2 = column name
	awk -F';' -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next }
		{ last = $k } END { print last + 0 }' "$1"
}

# seconds (with fractions) between StartTime and the last CurrentTime of a -trace_stat file
stat_elapsed() {  # $1 = file
	awk -F';' 'NR == 1 { next }
		{ split($1, a, "\t"); split($3, b, "\t"); s = a[3]; c = b[3] }
		END { printf "%.3f\n", c - s }' "$1"
}

# "n p50 p90 p99 max" (ms) of response-time timer $1 over SIPp -trace_rtt files $2...
rtt_pct() {
	local r=$1; shift
	[ $# -gt 0 ] || { echo "0 - - - -"; return; }
	awk -F';' -v r="$r" 'FNR > 1 && $3 == r { print $2 + 0 }' "$@" | sort -n |
	awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "0 - - - -"; exit }
		p50 = v[int((NR * 50 + 99) / 100)]; p90 = v[int((NR * 90 + 99) / 100)]
		p99 = v[int((NR * 99 + 99) / 100)]
		print NR, p50, p90, p99, v[NR] }'
}

pct_of_core() {  # $1 = clock ticks, $2 = seconds
	awk -v d="$1" -v h="$HZ" -v e="$2" 'BEGIN { if (e > 0 && d > 0) printf "%.0f", 100 * d / h / e; else print 0 }'
}

HDR="server,scenario,target_rate,attempt,calls,successful,failed,unfinished,achieved_cps,retrans,pass,rt1_p50_ms,rt1_p90_ms,rt1_p99_ms,rt1_max_ms,rt2_p50_ms,rt2_p99_ms,rt3_p50_ms,rt3_p99_ms,elapsed_s,server_cpu_pct,sipp_cpu_pct,sipp_max_cpu_pct,sipp_instances,other_cpu_pct,server_rss_base_kb,server_rss_peak_kb,server_pss_base_kb,server_pss_peak_kb,server_procs,extra"
[ -f "$SUMMARY" ] || echo "$HDR" > "$SUMMARY"

LAST_PASS=FAIL
LAST_OTHER=0
LAST_ACH=0
LAST_P99=""

# launches one SIPp in the background in directory $1 (created), output to
# $1/sipp.out; $2 = SIP port, $3 = control port, $4 = kill-after seconds,
# the rest = SIPp arguments; sets LAUNCHED to the pid
launch_sipp() {
	local dir=$1 p=$2 cp=$3 tmax=$4; shift 4
	mkdir -p "$dir"
	( cd "$dir" && exec timeout "$tmax" "$SIPP" "$TARGET" -i 127.0.0.1 -p "$p" -cp "$cp" \
		-nostdin -nd -buff_size 4194304 -max_recv_loops 5000 -max_sched_loops 5000 \
		"$@" > sipp.out 2>&1 ) &
	LAUNCHED=$!
}
