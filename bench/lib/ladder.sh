# bench/lib/ladder.sh - rate ladders (publish, subscribe), p99 steps, the CPU profile
# Sourced by bench/run.sh (uses its settings and globals); not run on its own.
# shellcheck shell=bash

# ---------------------------------------------------------------- one ladder step (publish / subscribe)
run_step_once() {  # $1 = server, $2 = scenario, $3 = rate, $4 = row name, $5 = duration, $6 = attempt
	local srv=$1 sc=$2 rate=$3 row=$4 dur=$5 att=$6
	SRV=$srv
	local k=$(( (rate + SIPP_SPLIT - 1) / SIPP_SPLIT )); [ "$k" -lt 1 ] && k=1
	local calls=$((rate * dur)); [ "$calls" -lt "$MIN_CALLS" ] && calls=$MIN_CALLS
	local dir="$RAW/$srv/$row-r$rate"; [ "$att" -gt 1 ] && dir="$dir-a$att"
	rm -rf "$dir"; mkdir -p "$dir"
	log "$srv $row: rate $rate/s, $calls calls, $k SIPp instance(s) -> $TARGET (attempt $att)"
	LAST_PASS=FAIL; LAST_OTHER=0; LAST_ACH=0; LAST_P99=""
	if ! start_server "$dir"; then
		echo "$srv,$row,$rate,$att,$calls,0,0,$calls,0,0,FAIL,,,,,,,,,,,,,,,,,,,,,server did not start" >> "$SUMMARY"
		return 1
	fi
	local pids="" base_mem="0 0 0"
	if [ -n "$SRV_PID" ]; then
		pids=$(tree_pids "$SRV_PID" | tr '\n' ' ')
		base_mem=$(mem_of_pids $pids)
		start_sampler "$dir/mem.peak" $pids
	fi
	local c0 c1 t0 t1 i
	c0=$(cpu_of_pids $pids); t0=$(cpu_busy_total)
	local tmax=$((calls / rate + 60))
	local sp=() spids=() s0=() slast=() sdrop=()
	for i in $(seq 0 $((k - 1))); do
		local ri=$((rate / k)) ci=$((calls / k))
		[ "$i" -lt $((rate % k)) ] && ri=$((ri + 1))
		[ "$i" -lt $((calls % k)) ] && ci=$((ci + 1))
		launch_sipp "$dir/sipp$i" $((P_BASE + 2 * i)) $((P_BASE + 2 * i + 1)) $((tmax + 30)) \
			-sf "$HERE/sipp/$sc.xml" -set inst "$i-" -r "$ri" -m "$ci" -l "$ci" \
			-recv_timeout 5000 -timeout "${tmax}s" -trace_stat -stf stat.csv -fd 1 \
			-trace_rtt -rtt_freq 100 -trace_err -error_file errors.log
		sp[$i]=$LAUNCHED
	done
	BG_PIDS="${sp[*]}"
	sleep 0.1
	for i in $(seq 0 $((k - 1))); do
		spids[$i]=$(tree_pids "${sp[$i]}" | tr '\n' ' ')
		s0[$i]=$(cpu_of_pids ${spids[$i]}); slast[$i]=${s0[$i]}; sdrop[$i]=0
	done
	local alive=1 d
	while [ "$alive" -eq 1 ]; do
		alive=0
		for i in $(seq 0 $((k - 1))); do
			kill -0 "${sp[$i]}" 2>/dev/null || continue
			alive=1
			slast[$i]=$(cpu_of_pids ${spids[$i]})
			d=$(udp_drops $((P_BASE + 2 * i))); [ -n "$d" ] && sdrop[$i]=$d
		done
		[ "$alive" -eq 1 ] && sleep 0.5
	done
	local rc=0
	for i in $(seq 0 $((k - 1))); do wait "${sp[$i]}" || rc=$?; done
	BG_PIDS=""
	c1=$(cpu_of_pids $pids); t1=$(cpu_busy_total)
	local vdrop; vdrop=$(udp_drops "$T_PORT")
	stop_sampler
	local peak="0 0"; [ -f "$dir/mem.peak" ] && peak=$(cat "$dir/mem.peak")
	stop_server

	# ---- aggregate the instances
	local ok=0 fail=0 retr=0 el=0 dsipp=0 smax_pct=0 sd=0 st missing=0 e p
	for i in $(seq 0 $((k - 1))); do
		st="$dir/sipp$i/stat.csv"
		if [ ! -s "$st" ]; then missing=$((missing + 1)); continue; fi
		ok=$((ok + $(stat_col "$st" "SuccessfulCall(C)")))
		fail=$((fail + $(stat_col "$st" "FailedCall(C)")))
		retr=$((retr + $(stat_col "$st" "Retransmissions(C)")))
		e=$(stat_elapsed "$st")
		el=$(awk -v a="$el" -v b="$e" 'BEGIN { print (b > a) ? b : a }')
		d=$((slast[$i] - s0[$i])); dsipp=$((dsipp + d))
		p=$(pct_of_core "$d" "$e"); [ "$p" -gt "$smax_pct" ] && smax_pct=$p
		sd=$((sd + sdrop[$i]))
	done
	if [ "$missing" -eq "$k" ]; then
		log "  no SIPp statistics (rc=$rc), see $dir/sipp*/sipp.out"
		echo "$srv,$row,$rate,$att,$calls,0,0,$calls,0,0,FAIL,,,,,,,,,,,,,$k,,,,,,,sipp rc=$rc" >> "$SUMMARY"
		return
	fi
	local unfin=$((calls - ok - fail))
	local ach
	ach=$(awk -v o="$ok" -v e="$el" 'BEGIN { if (e > 0) printf "%.0f", o / e; else print 0 }')
	local pass=FAIL
	if [ "$fail" -eq 0 ] && [ "$unfin" -eq 0 ] && [ "$missing" -eq 0 ] &&
		awk -v a="$ach" -v r="$rate" 'BEGIN { exit !(a >= 0.95 * r) }'; then
		pass=PASS
	fi
	local rtts=("$dir"/sipp*/*_rtt.csv)
	[ -e "${rtts[0]}" ] || rtts=()
	local r1 r2 r3
	r1=$(rtt_pct 1 "${rtts[@]}"); r2=$(rtt_pct 2 "${rtts[@]}"); r3=$(rtt_pct 3 "${rtts[@]}")
	set -- $r1; local a50=$2 a90=$3 a99=$4 amax=$5
	set -- $r2; local b50=$2 b99=$4
	set -- $r3; local c50=$2 c99=$4
	local srv_pct sipp_pct oth_pct
	srv_pct=$(pct_of_core $((c1 - c0)) "$el"); sipp_pct=$(pct_of_core "$dsipp" "$el")
	oth_pct=$(pct_of_core $((t1 - t0 - (c1 - c0) - dsipp)) "$el")
	set -- $base_mem; local rb=$1 pb=$2 np=$3
	set -- $peak; local rp=$1 pp=$2
	local extra="server_udp_drops=${vdrop:-?};sipp_udp_drops=$sd"
	[ "$oth_pct" -gt "$NOISE_PCT" ] && extra="$extra;noisy"
	[ "$smax_pct" -ge 90 ] && extra="$extra;sipp_saturated"
	echo "$srv,$row,$rate,$att,$calls,$ok,$fail,$unfin,$ach,$retr,$pass,$a50,$a90,$a99,$amax,$b50,$b99,$c50,$c99,$el,$srv_pct,$sipp_pct,$smax_pct,$k,$oth_pct,$rb,$rp,$pb,$pp,$np,$extra" >> "$SUMMARY"
	log "  $pass: ok=$ok failed=$fail unfinished=$unfin achieved=${ach}/s retrans=$retr rt1 p50=${a50}ms p99=${a99}ms; cpu: server ${srv_pct}% sipp ${sipp_pct}% (max instance ${smax_pct}%) other ${oth_pct}%; server rss peak ${rp}kB pss peak ${pp}kB"
	compress_big "$dir"
	LAST_PASS=$pass; LAST_OTHER=$oth_pct; LAST_ACH=$ach; LAST_P99=$a99
}

# runs one step; repeats it (at most ATTEMPTS times) while other processes
# disturbed it; returns 0 when the last attempt passed
run_step() {  # $1 = function, $2... = its arguments (the attempt number is appended)
	local fn=$1 i; shift
	for i in $(seq 1 "$ATTEMPTS"); do
		wait_quiet
		"$fn" "$@" "$i"
		[ "$LAST_OTHER" -le "$NOISE_PCT" ] && break
		[ "$i" -lt "$ATTEMPTS" ] && log "  other processes used ${LAST_OTHER}% of a core during the step: repeating it"
	done
	[ "$LAST_PASS" = PASS ]
}

# the servers of this run in the order of step number $1 (alternating)
servers_in_order() {
	local n=$1 s list=()
	for s in $SERVERS; do list+=("$s"); done
	if [ $((n % 2)) -eq 1 ] && [ ${#list[@]} -gt 1 ]; then
		local rev=() j
		for ((j = ${#list[@]} - 1; j >= 0; j--)); do rev+=("${list[$j]}"); done
		list=("${rev[@]}")
	fi
	echo "${list[@]}"
}

declare -A CAP FAILS STOPPED

# ladder of one scenario for every server, interleaved step by step
run_ladders() {  # $1 = scenario, $2 = rates
	local sc=$1 rate srv n=0
	for srv in $SERVERS; do CAP[$srv:$sc]=0; FAILS[$srv:$sc]=0; STOPPED[$srv:$sc]=""; done
	for rate in $2; do
		for srv in $(servers_in_order $n); do
			[ -n "${STOPPED[$srv:$sc]}" ] && continue
			if run_step run_step_once "$srv" "$sc" "$rate" "$sc" "$DURATION"; then
				CAP[$srv:$sc]=$rate; FAILS[$srv:$sc]=0
			else
				FAILS[$srv:$sc]=$((FAILS[$srv:$sc] + 1))
				[ "${FAILS[$srv:$sc]}" -ge "$KEEP_GOING" ] && STOPPED[$srv:$sc]=1
			fi
		done
		n=$((n + 1))
	done
	for srv in $SERVERS; do
		log "$srv $sc capacity (highest passing rate): ${CAP[$srv:$sc]} calls/s"
		echo "$srv,$sc,${CAP[$srv:$sc]}" >> "$OUT/capacity.csv"
	done
}

# value for server $2 in a "server=value ..." list $1
pick() {
	local kv
	for kv in $1; do [ "${kv%%=*}" = "$2" ] && { echo "${kv#*=}"; return; }; done
	echo ""
}

# capacity of server $1 in scenario $2: this run's ladder, else capacity.csv
capacity_of() {
	local c=${CAP[$1:$2]:-}
	if [ -z "$c" ] && [ -f "$OUT/capacity.csv" ]; then
		c=$(awk -F, -v s="$1" -v c="$2" '$1 == s && $2 == c { v = $3 } END { print v }' "$OUT/capacity.csv")
	fi
	echo "${c:-0}"
}

# response times at P99_PCT % of each server's capacity, longer steps
run_p99() {
	local sc srv rate n=0 list cap
	for sc in publish subscribe; do
		if [ "$sc" = publish ]; then list=$P99_PUBLISH; else list=$P99_SUBSCRIBE; fi
		for srv in $(servers_in_order $n); do
			rate=$(pick "$list" "$srv")
			if [ -z "$rate" ]; then
				cap=$(capacity_of "$srv" "$sc")
				rate=$(( cap * P99_PCT / 100 / 50 * 50 ))
			fi
			if [ "$rate" -le 0 ]; then log "$srv p99-$sc: no capacity known, skipped"; continue; fi
			run_step run_step_once "$srv" "$sc" "$rate" "p99-$sc" "$P99_DURATION"
			log "$srv $sc at $rate calls/s: p99 ${LAST_P99:-?} ms (target < 10 ms)"
		done
		n=$((n + 1))
	done
}

# ---------------------------------------------------------------- profile
# presenced built with bench/profile (the same server package, plus
# runtime/pprof) under publish and subscribe load; go tool pprof -top
run_profile() {
	PROF_BIN="$WORK/presenced-prof"
	log "building the profiling harness: (cd $REPO && $GO build -o $PROF_BIN ./bench/profile)"
	( cd "$REPO" && "$GO" build -o "$PROF_BIN" ./bench/profile ) || { log "go build ./bench/profile failed"; return 1; }
	local sc rate cap pdir
	for sc in publish subscribe; do
		rate=$(pick "$PROFILE_RATES" "$sc")
		if [ -z "$rate" ]; then
			cap=$(capacity_of presenced "$sc")
			rate=$(( cap * 90 / 100 / 50 * 50 ))
		fi
		[ "$rate" -gt 0 ] || { log "profile $sc: no rate (give --profile-rates)"; continue; }
		pdir="$OUT/profile/$sc-r$rate"
		mkdir -p "$pdir"
		PRES_PROFILE="$RAW/presenced/profile-$sc"
		rm -rf "$PRES_PROFILE"; mkdir -p "$PRES_PROFILE"
		wait_quiet
		run_step_once presenced "$sc" "$rate" "profile-$sc" "$DURATION" 1
		( cd "$REPO" && "$GO" tool pprof -top -nodecount=40 "$PROF_BIN" "$PRES_PROFILE/cpu.prof" ) > "$pdir/top-flat.txt" 2>&1
		( cd "$REPO" && "$GO" tool pprof -top -cum -nodecount=60 "$PROF_BIN" "$PRES_PROFILE/cpu.prof" ) > "$pdir/top-cum.txt" 2>&1
		( cd "$REPO" && "$GO" tool pprof -traces "$PROF_BIN" "$PRES_PROFILE/cpu.prof" 2>/dev/null ) |
			awk -f "$HERE/profile/breakdown.awk" > "$pdir/breakdown.txt"
		log "profile $sc at $rate/s: $pdir (cpu.prof in $PRES_PROFILE)"
		PRES_PROFILE=""
	done
	# heap of held subscriptions
	if [ -n "$HOLD_SUBS" ]; then
		local n=${HOLD_SUBS%% *}
		PRES_PROFILE="$RAW/presenced/profile-hold"
		rm -rf "$PRES_PROFILE"; mkdir -p "$PRES_PROFILE"
		wait_quiet
		run_hold_once presenced "$n" 1
		pdir="$OUT/profile/hold-n$n"; mkdir -p "$pdir"
		[ -f "$PRES_PROFILE/heap.prof.2" ] && ( cd "$REPO" && "$GO" tool pprof -top -sample_index=inuse_space -nodecount=40 "$PROF_BIN" "$PRES_PROFILE/heap.prof.2" ) > "$pdir/heap-inuse.txt" 2>&1
		log "heap profile with $n held subscriptions: $pdir"
		PRES_PROFILE=""
	fi
}
