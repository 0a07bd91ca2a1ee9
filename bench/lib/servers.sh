# bench/lib/servers.sh - start, stop and query the server under test (Kamailio, presenced)
# Sourced by bench/run.sh (uses its settings and globals); not run on its own.
# shellcheck shell=bash

# ---------------------------------------------------------------- servers
SRV=""         # server of the current step
SRV_PID=""
KAM_RUN=""
PRES_RUN=""
PRES_PROFILE=""   # set by the profile scenario: directory for the profiles

start_kamailio() {  # $1 = step dir
	KAM_RUN=$(mktemp -d "$WORK/kam.XXXXXX")
	local dburl extra=()
	if [ "$KAM_DB" = sqlite ]; then
		command -v sqlite3 >/dev/null || { log "sqlite3 missing (apt-get install sqlite3)"; return 1; }
		local dbf
		if [ -d /dev/shm ] && [ -w /dev/shm ]; then dbf=$(mktemp /dev/shm/kpb.XXXXXX.sqlite); else dbf="$KAM_RUN/presence.sqlite"; fi
		rm -f "$dbf"
		cat /usr/share/kamailio/db_sqlite/standard-create.sql \
		    /usr/share/kamailio/db_sqlite/presence-create.sql | sqlite3 "$dbf" || return 1
		echo "$dbf" > "$KAM_RUN/dbfile"
		dburl="sqlite://$dbf"
		extra=(-A WITH_SQLITE)
	else
		mkdir -p "$KAM_RUN/db"
		local t
		for t in version presentity watchers active_watchers xcap; do
			cp /usr/share/kamailio/dbtext/kamailio/$t "$KAM_RUN/db/" || return 1
		done
		dburl="text://$KAM_RUN/db"
	fi
	"$KAMAILIO" -f "$HERE/kamailio/presence.cfg" -DD -E -m "$KAM_SHM" -M "$KAM_PKG" \
		-P "$KAM_RUN/kamailio.pid" -Y "$KAM_RUN" \
		-A "LISTEN=udp:$T_HOST:$T_PORT" -A "SRVADDR=\"sip:$T_HOST:$T_PORT\"" \
		-A "DBURL=\"$dburl\"" -A "CTLSOCK=\"unix:$KAM_RUN/kamailio_ctl\"" \
		-A "NCHILDREN=$KAM_CHILDREN" "${extra[@]}" \
		> "$1/server.log" 2>&1 &
	SRV_PID=$!
}

PRES_READY=""
prepare_presenced() {
	[ -n "$PRES_READY" ] && return 0
	if [ -z "$PRES_BIN" ]; then
		PRES_BIN="$WORK/presenced"
		log "building presenced: (cd $REPO && $GO build -o $PRES_BIN ./cmd/presenced)"
		( cd "$REPO" && "$GO" build -o "$PRES_BIN" ./cmd/presenced ) || { log "go build failed"; return 1; }
	fi
	[ -x "$PRES_BIN" ] || { log "presenced binary $PRES_BIN not executable"; return 1; }
	# what was measured: the binary's VCS stamp, and the uncommitted
	# changes of the daemon's sources at build time (others may edit the
	# checkout during a run)
	{
		echo "presenced binary: $PRES_BIN"
		"$GO" version -m "$PRES_BIN" 2>/dev/null | awk '$1 == "build" && $2 ~ /^vcs\./ { print "  " $2 }'
	} >> "$OUT/env.txt"
	git -C "$REPO" diff HEAD -- . ':(exclude)bench' > "$RAW/daemon-uncommitted.diff" 2>/dev/null &&
		echo "  uncommitted daemon changes at build time: raw/daemon-uncommitted.diff, sha256 $(sha256sum < "$RAW/daemon-uncommitted.diff" | cut -c1-16), $(wc -l < "$RAW/daemon-uncommitted.diff") lines" >> "$OUT/env.txt"
	PRES_READY=1
}

# writes the presenced config of one start into $PRES_RUN/presenced.yaml;
# a driver that sources this file adds its modules' sections in
# PRES_EXTRA_CONFIG (YAML, appended as is)
write_presenced_config() {
	local dbdir=${PRES_DB_DIR:-$PRES_RUN}
	local db="$dbdir/presenced-$$-$RANDOM.db"
	rm -f "$db" "$db-wal" "$db-shm"
	echo "$db" > "$PRES_RUN/dbfile"
	cat > "$PRES_RUN/presenced.yaml" <<EOF
# written by ${BENCH_DRIVER:-bench/run.sh} for one benchmark step
log:
  level: $PRES_LOG
sip:
  listen: ["udp:$T_HOST:$T_PORT"]
store:
  backend: $PRES_STORE
  path: $db
mi:
  enabled: true
  listen: 127.0.0.1:$MI_PORT
${PRES_EXTRA_CONFIG:-}
EOF
}

start_presenced() {  # $1 = step dir
	prepare_presenced || return 1
	PRES_RUN=$(mktemp -d "$WORK/pres.XXXXXX")
	write_presenced_config
	cp "$PRES_RUN/presenced.yaml" "$1/presenced.yaml"
	if [ -n "$PRES_PROFILE" ]; then
		env $PRES_ENV "$PROF_BIN" -c "$PRES_RUN/presenced.yaml" -cpuprofile "$PRES_PROFILE/cpu.prof" \
			-heapprofile "$PRES_PROFILE/heap.prof" > "$1/server.log" 2>&1 &
	else
		env $PRES_ENV "$PRES_BIN" run -c "$PRES_RUN/presenced.yaml" > "$1/server.log" 2>&1 &
	fi
	SRV_PID=$!
}

start_server() {  # $1 = step dir ; uses SRV, sets SRV_PID
	case "$SRV" in
	kamailio) start_kamailio "$1" || return 1;;
	presenced) start_presenced "$1" || return 1;;
	cmd) bash -c "exec $SERVER_CMD" > "$1/server.log" 2>&1 & SRV_PID=$!;;
	pid) SRV_PID=$SERVER_PID; return 0;;
	none) SRV_PID=""; return 0;;
	esac
	local i
	for i in $(seq 1 150); do
		udp_port_bound "$T_PORT" && kill -0 "$SRV_PID" 2>/dev/null && { sleep 0.5; return 0; }
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	log "server $SRV did not come up on $TARGET (see $1/server.log)"
	stop_server
	return 1
}

stop_server() {
	case "$SRV" in
	kamailio|presenced|cmd)
		if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
			kill -TERM "$SRV_PID" 2>/dev/null
			local i
			for i in $(seq 1 200); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
			if kill -0 "$SRV_PID" 2>/dev/null; then
				log "  server pid $SRV_PID still running 20 s after SIGTERM: SIGKILL"
				kill -KILL "$SRV_PID" 2>/dev/null
			fi
			wait "$SRV_PID" 2>/dev/null
		fi
		SRV_PID=""
		if [ -n "$KAM_RUN" ]; then
			[ -f "$KAM_RUN/dbfile" ] && rm -f "$(cat "$KAM_RUN/dbfile")"*
			rm -rf "$KAM_RUN"; KAM_RUN=""
		fi
		if [ -n "$PRES_RUN" ]; then
			[ -f "$PRES_RUN/dbfile" ] && rm -f "$(cat "$PRES_RUN/dbfile")"*
			rm -rf "$PRES_RUN"; PRES_RUN=""
		fi
		;;
	esac
}

# the server's own memory accounting, "" when it has none:
# Kamailio: shared memory in use (bytes, kamcmd core.shmmem);
# presenced: Go heap in use (bytes, go_memstats_heap_inuse_bytes on /metrics)
server_mem_used() {
	case "$SRV" in
	kamailio)
		[ -n "$KAM_RUN" ] && command -v kamcmd >/dev/null || { echo ""; return; }
		kamcmd -s "unix:$KAM_RUN/kamailio_ctl" core.shmmem 2>/dev/null | awk '$1 == "used:" { print $2 }';;
	presenced)
		curl -s -m 5 "http://127.0.0.1:$MI_PORT/metrics" 2>/dev/null |
			awk '$1 == "go_memstats_heap_inuse_bytes" { printf "%.0f\n", $2 }';;
	*) echo "";;
	esac
}

# subscriptions the server says it holds, "" when unknown
server_subs() {
	case "$SRV" in
	presenced)
		curl -s -m 5 "http://127.0.0.1:$MI_PORT/metrics" 2>/dev/null |
			awk '$1 == "presenced_subscriptions" { printf "%.0f\n", $2 }';;
	*) echo "";;
	esac
}

BG_PIDS=""
cleanup() {
	stop_sampler
	local p
	for p in ${BG_PIDS:-}; do kill -TERM "$p" 2>/dev/null; done
	stop_server
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
