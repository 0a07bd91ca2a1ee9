# breakdown.awk - groups the CPU samples of `go tool pprof -traces` of a
# presenced profile under REGISTER + pua_usrloc load by the goroutine that
# used them (bench/register/run.sh --scenarios profile). Adapted from
# bench/profile/breakdown.awk (PUBLISH/SUBSCRIBE) for the registrar,
# usrloc, pua_usrloc and pua goroutines.
#   go tool pprof -traces cpu.prof | awk -f bench/register/breakdown.awk
# Each stack is classified by its frames (leaf first, root last).
function flush(   c) {
	if (v == 0) return
	if (st ~ /runtime\.gcBgMarkWorker/) c = "GC background marking"
	else if (st ~ /commit\.\(\*Committer[^ ]*\.run\.func1/) c = "commit callback goroutine: replies after the store write (REGISTER 200s, PUBLISH 200s)"
	else if (st ~ /commit\.\(\*Committer[^ ]*\.(flush|writeRetry)/) c = (leaf ~ /Syscall/ ? "store writer goroutine: file I/O syscalls" : "store writer goroutine: SQLite (modernc, pure Go)")
	else if (st ~ /readUDP/) c = "UDP reader goroutine (recvfrom)"
	else if (st ~ /sipnet\.\(\*Stack\)\.(worker|process)/) {
		if (st ~ /sipgo\/sip\.\(\*Parser\)/) c = "SIP workers: SIP parsing (sipgo parser)"
		else if (st ~ /sendto|writeUDP/) c = "SIP workers: UDP send (sendto)"
		else if (st ~ /registrar\./) c = "SIP workers: registrar (REGISTER handling)"
		else if (st ~ /presence\./) c = "SIP workers: presence handlers (PUBLISH)"
		else if (st ~ /\/pua\./) c = "SIP workers: pua core (PUBLISH responses)"
		else c = "SIP workers: transaction layer, other"
	}
	else if (st ~ /registrar\./) c = "registrar goroutines (one per REGISTER)"
	else if (st ~ /pua\/usrloc\./) c = "pua_usrloc (on usrloc shards): building PUBLISHes"
	else if (st ~ /\/usrloc\./) c = "usrloc shard goroutines"
	else if (st ~ /\/pua\./) c = "pua core shard goroutines (sending PUBLISHes, client transactions)"
	else if (st ~ /presence\./) c = "presence shard goroutines"
	else if (st ~ /sipnet\./) c = "sipnet timers, client transactions"
	else c = "Go runtime (scheduler, sweeping, timers)"
	sum[c] += v; tot += v
	if (st ~ /runtime\.mallocgc|gcAssist/) alloc += v
	if (st ~ /sendto/) snd += v
	if (st ~ /recvfrom/) rcv += v
	if (st ~ /modernc\.org\/sqlite/) sql += v
	v = 0; st = ""; leaf = ""
}
/^-----------\+/ { flush(); next }
/^ *[0-9.]+(ns|us|ms|s) / && st == "" {
	x = $1; u = x; sub(/[a-z]+$/, "", x); sub(/^[0-9.]+/, "", u)
	v = x * (u == "s" ? 1 : u == "ms" ? 1e-3 : u == "us" ? 1e-6 : 1e-9)
	leaf = $2; st = $2; next
}
v > 0 && NF > 0 { st = st " " $1 }
END {
	flush()
	for (c in sum) printf "%6.1f%%  %7.2fs  %s\n", 100 * sum[c] / tot, sum[c], c | "sort -rn"
	close("sort -rn")
	print "cross-cutting (included in the lines above):"
	printf "%6.1f%%  %7.2fs  memory allocation (mallocgc, GC assist)\n", 100 * alloc / tot, alloc
	printf "%6.1f%%  %7.2fs  modernc.org/sqlite (any goroutine)\n", 100 * sql / tot, sql
	printf "%6.1f%%  %7.2fs  sendto syscalls\n", 100 * snd / tot, snd
	printf "%6.1f%%  %7.2fs  recvfrom syscalls\n", 100 * rcv / tot, rcv
	printf "total %.2fs of CPU samples\n", tot
}
