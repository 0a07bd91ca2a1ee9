# bench/lib/fanout.sh - fan-out steps (fanout, fanout1) and held subscriptions (hold)
# Sourced by bench/run.sh (uses its settings and globals); not run on its own.
# shellcheck shell=bash

# ---------------------------------------------------------------- fan-out steps
# starts the server and N watchers (fanout-watch.xml) and waits until they
# all hold their subscription; sets FO_* variables; returns 1 if the server
# did not start
fanout_setup() {  # $1 = dir, $2 = n
	local dir=$1 n=$2
	FO_PIDS=""; FO_BASE="0 0 0"; FO_HELD="0 0 0"; FO_USED0=""; FO_USED1=""
	start_server "$dir" || return 1
	if [ -n "$SRV_PID" ]; then
		FO_PIDS=$(tree_pids "$SRV_PID" | tr '\n' ' ')
		FO_BASE=$(mem_of_pids $FO_PIDS)
		start_sampler "$dir/mem.peak" $FO_PIDS
	fi
	FO_USED0=$(server_mem_used)
	local wmax=$((n / FANOUT_SUB_RATE + 240))
	launch_sipp "$dir/watch" $P_WATCH $C_WATCH $((wmax + 30)) -sf "$HERE/sipp/fanout-watch.xml" \
		-r "$FANOUT_SUB_RATE" -m "$n" -l "$n" -recv_timeout 130000 -timeout "${wmax}s" \
		-trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 100 \
		-trace_err -error_file errors.log -trace_logs -log_file log.csv
	FO_WP=$LAUNCHED
	BG_PIDS="$FO_WP"
	local i subs=0
	for i in $(seq 1 $(( (n / FANOUT_SUB_RATE + 60) * 10 ))); do
		subs=$(grep -c '^S;' "$dir/watch/log.csv" 2>/dev/null); subs=${subs:-0}
		[ "$subs" -ge "$n" ] && break
		kill -0 "$FO_WP" 2>/dev/null || break
		sleep 0.1
	done
	FO_SUBS=$subs
	log "  $subs/$n subscriptions established"
	# let the subscription transactions expire before sampling "held" memory
	sleep 6
	FO_HELD=$(mem_of_pids $FO_PIDS); FO_USED1=$(server_mem_used)
	FO_WPIDS=$(tree_pids "$FO_WP" | tr '\n' ' ')
	return 0
}

# waits until the watchers have received $2 NOTIFYs or fell quiet for 2 s
wait_notifies() {  # $1 = watcher log, $2 = expected
	local prev=-1 cur
	while :; do
		cur=$(grep -c '^N;' "$1" 2>/dev/null); cur=${cur:-0}
		[ "$cur" -ge "$2" ] && break
		[ "$cur" -eq "$prev" ] && break
		prev=$cur; sleep 2
	done
}

fanout_memory_extra() {  # $1 = n ; prints the memory part of the extra column
	local n=$1 ph per_sub used_per_sub=""
	set -- $FO_BASE; local pb=$2
	set -- $FO_HELD; ph=$2
	per_sub=$(awk -v a="$ph" -v b="$pb" -v n="$n" 'BEGIN { printf "%.2f", (a - b) / n }')
	[ -n "$FO_USED0" ] && [ -n "$FO_USED1" ] && used_per_sub=$(awk -v a="$FO_USED1" -v b="$FO_USED0" -v n="$n" 'BEGIN { printf "%.0f", (a - b) / n }')
	echo "held_pss_kb=$ph;pss_per_sub_kb=$per_sub;mem_used_per_sub_b=$used_per_sub"
}

# the 12 back-to-back PUBLISHes of fanout-publish.xml (the anchor's test)
run_fanout_once() {  # $1 = server, $2 = number of watchers, $3 = attempt
	local srv=$1 n=$2 att=$3 dir="$RAW/$1/fanout-n$2"; [ "$att" -gt 1 ] && dir="$dir-a$att"
	SRV=$srv
	rm -rf "$dir"; mkdir -p "$dir"
	log "$srv fanout: $n watchers of one presentity, 12 back-to-back PUBLISHes (attempt $att)"
	LAST_PASS=FAIL; LAST_OTHER=0
	if ! fanout_setup "$dir" "$n"; then
		echo "$srv,fanout,$n,$att,$((12 * n)),0,0,$((12 * n)),0,0,FAIL,,,,,,,,,,,,,,,,,,,,,server did not start" >> "$SUMMARY"
		return 1
	fi
	local c0 t0 c1 t1 w0 w1 wt0 wt1 p0 p1
	c0=$(cpu_of_pids $FO_PIDS); t0=$(cpu_busy_total); w0=$(cpu_of_pids $FO_WPIDS); wt0=$(date +%s.%N)
	launch_sipp "$dir/pub" $P_PUB $C_PUB 300 -sf "$HERE/sipp/fanout-publish.xml" \
		-r 100 -m 1 -recv_timeout 60000 -timeout 280s \
		-trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1 -trace_err -error_file errors.log
	local pp=$LAUNCHED ppids
	BG_PIDS="$FO_WP $pp"
	sleep 0.05; ppids=$(tree_pids "$pp" | tr '\n' ' '); p0=$(cpu_of_pids $ppids); p1=$p0
	while kill -0 "$pp" 2>/dev/null; do p1=$(cpu_of_pids $ppids); sleep 0.2; done
	wait "$pp"; local prc=$?
	wait_notifies "$dir/watch/log.csv" $((12 * n))
	c1=$(cpu_of_pids $FO_PIDS); t1=$(cpu_busy_total); w1=$(cpu_of_pids $FO_WPIDS); wt1=$(date +%s.%N)
	local vdrop wdrop
	vdrop=$(udp_drops "$T_PORT"); wdrop=$(udp_drops $P_WATCH)
	# the watchers un-SUBSCRIBE 10 s after their last NOTIFY and then end
	wait "$FO_WP"; local wrc=$?
	BG_PIDS=""
	stop_sampler
	local peak="0 0"; [ -f "$dir/mem.peak" ] && peak=$(cat "$dir/mem.peak")
	stop_server

	local res
	res=$(awk -F';' '
		$1 == "N" { ts = $2 + $3 / 1e6; k = $4 ";" $5
			if (k in seen) { dup++; next }
			seen[k] = 1; cnt++
			if (first == 0 || ts < first) first = ts
			if (ts > last) last = ts }
		END { span = last - first; if (cnt < 2 || span <= 0) { print cnt + 0, 0, 0, dup + 0; exit }
			printf "%d %.3f %.0f %d\n", cnt, span, cnt / span, dup }' "$dir/watch/log.csv")
	set -- $res; local got=$1 span=$2 nps=$3 dups=$4
	local expect=$((12 * n)) missing
	missing=$((expect - got)); [ "$missing" -lt 0 ] && missing=0
	local wok=0 wfail=0 pok=0 pfail=0 wretr=0
	if [ -s "$dir/watch/stat.csv" ]; then
		wok=$(stat_col "$dir/watch/stat.csv" "SuccessfulCall(C)"); wfail=$(stat_col "$dir/watch/stat.csv" "FailedCall(C)")
		wretr=$(stat_col "$dir/watch/stat.csv" "Retransmissions(C)")
	fi
	if [ -s "$dir/pub/stat.csv" ]; then
		pok=$(stat_col "$dir/pub/stat.csv" "SuccessfulCall(C)"); pfail=$(stat_col "$dir/pub/stat.csv" "FailedCall(C)")
	fi
	local prtt=("$dir"/pub/*_rtt.csv) wrtt=("$dir"/watch/*_rtt.csv)
	[ -e "${prtt[0]}" ] || prtt=(); [ -e "${wrtt[0]}" ] || wrtt=()
	local r1 s1
	r1=$(rtt_pct 1 "${prtt[@]}"); s1=$(rtt_pct 1 "${wrtt[@]}")
	set -- $r1; local a50=$2 a90=$3 a99=$4 amax=$5
	set -- $s1; local b50=$2 b99=$4
	local pass=FAIL
	[ "$missing" -eq 0 ] && [ "$wfail" -eq 0 ] && [ "$wok" -eq "$n" ] && [ "$pfail" -eq 0 ] && [ "$pok" -eq 1 ] && pass=PASS
	set -- $FO_BASE; local rb=$1 pb=$2 np=$3
	set -- $peak; local rp=$1 ppk=$2
	local win srv_pct sipp_pct oth_pct dsipp=$(( (w1 - w0) + (p1 - p0) ))
	win=$(awk -v a="$wt0" -v b="$wt1" 'BEGIN { printf "%.3f", b - a }')
	srv_pct=$(pct_of_core $((c1 - c0)) "$win"); sipp_pct=$(pct_of_core "$dsipp" "$win")
	local wmax_pct; wmax_pct=$(pct_of_core $((w1 - w0)) "$win")
	oth_pct=$(pct_of_core $((t1 - t0 - (c1 - c0) - dsipp)) "$win")
	local extra
	extra="$(fanout_memory_extra "$n");dup_notify=$dups;server_udp_drops=${vdrop:-?};watcher_udp_drops=${wdrop:-?};pub_rc=$prc;watch_rc=$wrc"
	[ "$oth_pct" -gt "$NOISE_PCT" ] && extra="$extra;noisy"
	# fan-out row: target_rate = watchers, calls = NOTIFYs expected,
	# successful = NOTIFYs received, failed = failed SIPp calls,
	# unfinished = NOTIFYs missing, achieved_cps = NOTIFYs/s (first to last
	# NOTIFY), rt1 = PUBLISH -> 200 (12 per step), rt2 = watcher SUBSCRIBE -> 200
	echo "$srv,fanout,$n,$att,$expect,$got,$((wfail + pfail)),$missing,$nps,$wretr,$pass,$a50,$a90,$a99,$amax,$b50,$b99,,,$span,$srv_pct,$sipp_pct,$wmax_pct,2,$oth_pct,$rb,$rp,$pb,$ppk,$np,$extra" >> "$SUMMARY"
	log "  $pass: $got/$expect NOTIFYs in ${span}s = ${nps} NOTIFY/s; PUBLISH->200 p50=${a50}ms p99=${a99}ms max=${amax}ms; watchers ok=$wok failed=$wfail; cpu: server ${srv_pct}% sipp ${sipp_pct}% other ${oth_pct}%; $(fanout_memory_extra "$n")"
	compress_big "$dir"
	LAST_PASS=$pass; LAST_OTHER=$oth_pct
}

# per round of fanout-publish1.xml: "round count last_ms p50_ms p99_ms"
# (last_ms = PUBLISH sent -> last of its NOTIFYs arrived); the k-th distinct
# publish-triggered NOTIFY of a watcher (by CSeq) belongs to round k
fanout1_rounds() {  # $1 = publisher log, $2 = watcher log
	awk -F';' '
		FNR == NR { if ($1 == "P") pt[$4 + 0] = $2 + $3 / 1e6; next }
		$1 == "N" { k = $4 ";" $5; if (k in seen) next; seen[k] = 1
			c = $4; n = ++cnt[c]; cs[c, n] = $5 + 0; ts[c, n] = $2 + $3 / 1e6 }
		END {
			for (c in cnt) {
				n = cnt[c]
				for (i = 2; i <= n; i++) {   # insertion sort by CSeq
					x = cs[c, i]; y = ts[c, i]
					for (j = i - 1; j >= 1 && cs[c, j] > x; j--) { cs[c, j + 1] = cs[c, j]; ts[c, j + 1] = ts[c, j] }
					cs[c, j + 1] = x; ts[c, j + 1] = y
				}
				for (i = 1; i <= n; i++) {
					r = i - 1; got[r]++
					if (ts[c, i] > last[r]) last[r] = ts[c, i]
					lat[r, got[r]] = (ts[c, i] - pt[r]) * 1000
				}
			}
			for (r = 0; r in pt; r++) {
				m = got[r] + 0
				if (m == 0) { printf "%d 0 - - -\n", r; continue }
				# p50 / p99 of the per-watcher delays (selection by sorting a copy)
				delete v; for (i = 1; i <= m; i++) v[i] = lat[r, i]
				asort_n(v, m)
				printf "%d %d %.0f %.0f %.0f\n", r, m, (last[r] - pt[r]) * 1000, v[int((m * 50 + 99) / 100)], v[int((m * 99 + 99) / 100)]
			}
		}
		function asort_n(a, m,    i, j, t, h) {   # shell sort, numeric
			for (h = 1; h < m; h = 3 * h + 1) ;
			for (h = int(h / 3); h >= 1; h = int(h / 3))
				for (i = h + 1; i <= m; i++) {
					t = a[i]
					for (j = i; j > h && a[j - h] > t; j -= h) a[j] = a[j - h]
					a[j] = t
				}
		}' "$1" "$2"
}

# one PUBLISH at a time (fanout-publish1.xml): time from the PUBLISH to the
# last NOTIFY it caused
run_fanout1_once() {  # $1 = server, $2 = number of watchers, $3 = attempt
	local srv=$1 n=$2 att=$3 dir="$RAW/$1/fanout1-n$2"; [ "$att" -gt 1 ] && dir="$dir-a$att"
	SRV=$srv
	rm -rf "$dir"; mkdir -p "$dir"
	log "$srv fanout1: $n watchers of one presentity, one PUBLISH every ${FANOUT1_GAP} ms (attempt $att)"
	LAST_PASS=FAIL; LAST_OTHER=0
	local rounds=6
	if ! fanout_setup "$dir" "$n"; then
		echo "$srv,fanout1,$n,$att,$((rounds * n)),0,0,$((rounds * n)),0,0,FAIL,,,,,,,,,,,,,,,,,,,,,server did not start" >> "$SUMMARY"
		return 1
	fi
	local c0 t0 c1 t1 w0 w1 wt0 wt1
	c0=$(cpu_of_pids $FO_PIDS); t0=$(cpu_busy_total); w0=$(cpu_of_pids $FO_WPIDS); wt0=$(date +%s.%N)
	launch_sipp "$dir/pub" $P_PUB $C_PUB 300 -sf "$HERE/sipp/fanout-publish1.xml" \
		-r 100 -m 1 -d "$FANOUT1_GAP" -recv_timeout 60000 -timeout 280s \
		-trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1 -trace_err -error_file errors.log \
		-trace_logs -log_file log.csv
	local pp=$LAUNCHED
	BG_PIDS="$FO_WP $pp"
	wait "$pp"; local prc=$?
	wait_notifies "$dir/watch/log.csv" $((rounds * n))
	c1=$(cpu_of_pids $FO_PIDS); t1=$(cpu_busy_total); w1=$(cpu_of_pids $FO_WPIDS); wt1=$(date +%s.%N)
	local vdrop wdrop
	vdrop=$(udp_drops "$T_PORT"); wdrop=$(udp_drops $P_WATCH)
	wait "$FO_WP"; local wrc=$?
	BG_PIDS=""
	stop_sampler
	local peak="0 0"; [ -f "$dir/mem.peak" ] && peak=$(cat "$dir/mem.peak")
	stop_server

	fanout1_rounds "$dir/pub/log.csv" "$dir/watch/log.csv" > "$dir/rounds.txt"
	# rounds.txt: round count last_ms p50_ms p99_ms
	local res
	res=$(awk -v n="$n" '{ got += $2; if ($2 < n) short++; if ($3 != "-" && $3 > worst) worst = $3
		if ($3 != "-") { sum += $3; m++ } if ($3 != "-" && $3 > 1000) slow++
		if ($4 != "-" && $4 > p50) p50 = $4; if ($5 != "-" && $5 > p99) p99 = $5 }
		END { printf "%d %d %.0f %.0f %d %s %s\n", got, short + 0, worst, (m ? sum / m : 0), slow + 0, p50 + 0, p99 + 0 }' "$dir/rounds.txt")
	set -- $res; local got=$1 short=$2 worst=$3 mean=$4 slow=$5 wp50=$6 wp99=$7
	local expect=$((rounds * n)) missing
	missing=$((expect - got)); [ "$missing" -lt 0 ] && missing=0
	local wok=0 wfail=0 pok=0 pfail=0 wretr=0
	if [ -s "$dir/watch/stat.csv" ]; then
		wok=$(stat_col "$dir/watch/stat.csv" "SuccessfulCall(C)"); wfail=$(stat_col "$dir/watch/stat.csv" "FailedCall(C)")
		wretr=$(stat_col "$dir/watch/stat.csv" "Retransmissions(C)")
	fi
	if [ -s "$dir/pub/stat.csv" ]; then
		pok=$(stat_col "$dir/pub/stat.csv" "SuccessfulCall(C)"); pfail=$(stat_col "$dir/pub/stat.csv" "FailedCall(C)")
	fi
	local prtt=("$dir"/pub/*_rtt.csv)
	[ -e "${prtt[0]}" ] || prtt=()
	local r1; r1=$(rtt_pct 1 "${prtt[@]}")
	set -- $r1; local a50=$2 a90=$3 a99=$4 amax=$5
	local pass=FAIL
	[ "$missing" -eq 0 ] && [ "$wfail" -eq 0 ] && [ "$wok" -eq "$n" ] && [ "$pfail" -eq 0 ] && [ "$pok" -eq 1 ] && pass=PASS
	set -- $FO_BASE; local rb=$1 pb=$2 np=$3
	set -- $peak; local rp=$1 ppk=$2
	local win srv_pct wpct oth_pct
	win=$(awk -v a="$wt0" -v b="$wt1" 'BEGIN { printf "%.3f", b - a }')
	srv_pct=$(pct_of_core $((c1 - c0)) "$win"); wpct=$(pct_of_core $((w1 - w0)) "$win")
	oth_pct=$(pct_of_core $((t1 - t0 - (c1 - c0) - (w1 - w0))) "$win")
	local per_round; per_round=$(awk '{ printf "%s%s", (NR > 1 ? "/" : ""), $3 }' "$dir/rounds.txt")
	local extra
	extra="fanout_ms_max=$worst;fanout_ms_mean=$mean;fanout_ms_per_round=$per_round;rounds_over_1s=$slow;rounds_incomplete=$short;notify_delay_p50_ms=$wp50;notify_delay_p99_ms=$wp99;$(fanout_memory_extra "$n");server_udp_drops=${vdrop:-?};watcher_udp_drops=${wdrop:-?};pub_rc=$prc;watch_rc=$wrc"
	[ "$oth_pct" -gt "$NOISE_PCT" ] && extra="$extra;noisy"
	# fanout1 row: target_rate = watchers, calls = NOTIFYs expected (6 rounds),
	# successful = received, unfinished = missing, achieved_cps = worst
	# round's PUBLISH -> last NOTIFY time in ms, elapsed_s = mean of the
	# rounds' times in s; rt1 = PUBLISH -> 200
	echo "$srv,fanout1,$n,$att,$expect,$got,$((wfail + pfail)),$missing,$worst,$wretr,$pass,$a50,$a90,$a99,$amax,,,,,$(awk -v m="$mean" 'BEGIN { printf "%.3f", m / 1000 }'),$srv_pct,$wpct,$wpct,2,$oth_pct,$rb,$rp,$pb,$ppk,$np,$extra" >> "$SUMMARY"
	log "  $pass: $got/$expect NOTIFYs; PUBLISH -> last NOTIFY per round (ms): $per_round (target 1000); watchers ok=$wok failed=$wfail; cpu: server ${srv_pct}% watchers ${wpct}% other ${oth_pct}%"
	compress_big "$dir"
	LAST_PASS=$pass; LAST_OTHER=$oth_pct
}

# ---------------------------------------------------------------- hold step
# N subscriptions held at once (hold.xml); the server's memory when all are up
run_hold_once() {  # $1 = server, $2 = number of subscriptions, $3 = attempt
	local srv=$1 n=$2 att=$3 dir="$RAW/$1/hold-n$2"; [ "$att" -gt 1 ] && dir="$dir-a$att"
	SRV=$srv
	rm -rf "$dir"; mkdir -p "$dir"
	local subtime=$(( (n + HOLD_RATE - 1) / HOLD_RATE ))
	local hold_ms=$(( (subtime + HOLD_SETTLE + 60) * 1000 ))
	log "$srv hold: $n subscriptions at $HOLD_RATE/s, each held $((hold_ms / 1000)) s (attempt $att)"
	LAST_PASS=FAIL; LAST_OTHER=0
	if ! start_server "$dir"; then
		echo "$srv,hold,$n,$att,$n,0,0,$n,0,0,FAIL,,,,,,,,,,,,,,,,,,,,,server did not start" >> "$SUMMARY"
		return 1
	fi
	local pids="" base="0 0 0"
	if [ -n "$SRV_PID" ]; then
		pids=$(tree_pids "$SRV_PID" | tr '\n' ' ')
		base=$(mem_of_pids $pids)
		start_sampler "$dir/mem.peak" $pids
	fi
	local used0; used0=$(server_mem_used)
	local c0 t0 s0 wt0
	c0=$(cpu_of_pids $pids); t0=$(cpu_busy_total); wt0=$(date +%s.%N)
	local tmax=$(( subtime * 2 + hold_ms / 1000 + 120 ))
	launch_sipp "$dir/hold" $P_WATCH $C_WATCH $((tmax + 30)) -sf "$HERE/sipp/hold.xml" \
		-r "$HOLD_RATE" -m "$n" -l "$n" -d "$hold_ms" -recv_timeout 10000 -timeout "${tmax}s" \
		-trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 100 \
		-trace_err -error_file errors.log -trace_logs -log_file log.csv
	local hp=$LAUNCHED hpids
	BG_PIDS="$hp"
	sleep 0.1; hpids=$(tree_pids "$hp" | tr '\n' ' '); s0=$(cpu_of_pids $hpids)
	# wait until every subscription is up, or no progress for 20 s
	local subs=0 prev=-1 still=0 s1=$s0
	while :; do
		subs=$(grep -c '^S;' "$dir/hold/log.csv" 2>/dev/null); subs=${subs:-0}
		[ "$subs" -ge "$n" ] && break
		kill -0 "$hp" 2>/dev/null || break
		if [ "$subs" -eq "$prev" ]; then still=$((still + 1)); [ "$still" -ge 40 ] && break; else still=0; fi
		prev=$subs
		s1=$(cpu_of_pids $hpids)
		sleep 0.5
	done
	local wt1 c1 t1
	wt1=$(date +%s.%N); c1=$(cpu_of_pids $pids); t1=$(cpu_busy_total); s1=$(cpu_of_pids $hpids)
	local m1 used1 srvsubs1
	m1=$(mem_of_pids $pids); used1=$(server_mem_used); srvsubs1=$(server_subs)
	log "  $subs/$n subscriptions established; server rss/pss $(echo "$m1" | awk '{ print $1 "/" $2 }') kB; server says ${srvsubs1:-?} subscriptions"
	[ "$SRV" = presenced ] && [ -n "$PRES_PROFILE" ] && kill -USR1 "$SRV_PID" 2>/dev/null
	sleep "$HOLD_SETTLE"
	local m2 used2 srvsubs2
	m2=$(mem_of_pids $pids); used2=$(server_mem_used); srvsubs2=$(server_subs)
	log "  after ${HOLD_SETTLE} s: server rss/pss $(echo "$m2" | awk '{ print $1 "/" $2 }') kB; server says ${srvsubs2:-?} subscriptions"
	[ "$SRV" = presenced ] && [ -n "$PRES_PROFILE" ] && kill -USR1 "$SRV_PID" 2>/dev/null
	local vdrop; vdrop=$(udp_drops "$T_PORT")
	# the watchers un-SUBSCRIBE when their pause ends
	wait "$hp"; local rc=$?
	BG_PIDS=""
	stop_sampler
	local peak="0 0"; [ -f "$dir/mem.peak" ] && peak=$(cat "$dir/mem.peak")
	stop_server

	local ok=0 fail=0 retr=0
	if [ -s "$dir/hold/stat.csv" ]; then
		ok=$(stat_col "$dir/hold/stat.csv" "SuccessfulCall(C)"); fail=$(stat_col "$dir/hold/stat.csv" "FailedCall(C)")
		retr=$(stat_col "$dir/hold/stat.csv" "Retransmissions(C)")
	fi
	local rtt=("$dir"/hold/*_rtt.csv); [ -e "${rtt[0]}" ] || rtt=()
	local r1 r2; r1=$(rtt_pct 1 "${rtt[@]}"); r2=$(rtt_pct 2 "${rtt[@]}")
	set -- $r1; local a50=$2 a90=$3 a99=$4 amax=$5
	set -- $r2; local b50=$2 b99=$4
	local el srv_pct sipp_pct oth_pct
	el=$(awk -v a="$wt0" -v b="$wt1" 'BEGIN { printf "%.3f", b - a }')
	srv_pct=$(pct_of_core $((c1 - c0)) "$el"); sipp_pct=$(pct_of_core $((s1 - s0)) "$el")
	oth_pct=$(pct_of_core $((t1 - t0 - (c1 - c0) - (s1 - s0))) "$el")
	set -- $base; local rb=$1 pb=$2 np=$3
	set -- $m1; local r1k=$1 p1k=$2
	set -- $m2; local r2k=$1 p2k=$2
	set -- $peak; local rp=$1 pp=$2
	local pass=FAIL
	[ "$subs" -ge "$n" ] && [ "$fail" -eq 0 ] && [ "$ok" -eq "$n" ] && pass=PASS
	local extra
	extra="established=$subs;rss_established_kb=$r1k;pss_established_kb=$p1k;rss_settled_kb=$r2k;pss_settled_kb=$p2k"
	extra="$extra;mem_used_base_b=${used0};mem_used_established_b=${used1};mem_used_settled_b=${used2};server_subs=${srvsubs1}/${srvsubs2}"
	extra="$extra;rss_per_sub_b=$(awk -v a="$r2k" -v b="$rb" -v n="$subs" 'BEGIN { if (n > 0) printf "%.0f", (a - b) * 1024 / n }')"
	extra="$extra;pss_per_sub_b=$(awk -v a="$p2k" -v b="$pb" -v n="$subs" 'BEGIN { if (n > 0) printf "%.0f", (a - b) * 1024 / n }')"
	extra="$extra;mem_used_per_sub_b=$(awk -v a="$used2" -v b="$used0" -v n="$subs" 'BEGIN { if (n > 0 && a != "" && b != "") printf "%.0f", (a - b) / n }')"
	extra="$extra;server_udp_drops=${vdrop:-?};sipp_rc=$rc"
	[ "$oth_pct" -gt "$NOISE_PCT" ] && extra="$extra;noisy"
	# hold row: target_rate = subscriptions, successful/failed = SIPp calls
	# (subscribe, hold, unsubscribe), achieved_cps = subscription rate
	# reached, elapsed_s = time to establish them all, CPU over that phase,
	# rt1 = SUBSCRIBE -> 200, rt2 = un-SUBSCRIBE -> 200
	local ach; ach=$(awk -v s="$subs" -v e="$el" 'BEGIN { if (e > 0) printf "%.0f", s / e; else print 0 }')
	echo "$srv,hold,$n,$att,$n,$ok,$fail,$((n - ok - fail)),$ach,$retr,$pass,$a50,$a90,$a99,$amax,$b50,$b99,,,$el,$srv_pct,$sipp_pct,$sipp_pct,1,$oth_pct,$rb,$rp,$pb,$pp,$np,$extra" >> "$SUMMARY"
	log "  $pass: $subs established, calls ok=$ok failed=$fail; rss established ${r1k} kB, settled ${r2k} kB, peak ${rp} kB (pss ${p1k}/${p2k}/${pp} kB); own accounting ${used0:-?} -> ${used1:-?} -> ${used2:-?} B"
	compress_big "$dir"
	LAST_PASS=$pass; LAST_OTHER=$oth_pct
}
