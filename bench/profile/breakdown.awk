# breakdown.awk groups the CPU samples of a presenced profile by the
# goroutine and the module that used them (SIP workers, shards of the
# presence server, pua core, usrloc, dialog tracker, store writer...).
# Used by bench/run.sh, bench/register, bench/calls and bench/bla:
#   go tool pprof -traces cpu.prof | awk -f bench/profile/breakdown.awk
function mod(s) {
	if (s ~ /presenced\/proxy\./) return "proxy"
	if (s ~ /presenced\/pua\/dialoginfo\./) return "pua_dialoginfo"
	if (s ~ /presenced\/pua\/usrloc\./) return "pua_usrloc"
	if (s ~ /presenced\/pua\/bla\./) return "pua_bla"
	if (s ~ /presenced\/dialog\./) return "dialog tracker"
	if (s ~ /presenced\/pua\./) return "pua core"
	if (s ~ /presenced\/registrar\./) return "registrar"
	if (s ~ /presenced\/usrloc\./) return "usrloc"
	if (s ~ /presenced\/presence\./) return "presence server"
	return ""
}
function flush(   c, m) {
	if (v == 0) return
	m = mod(st)
	if (st ~ /runtime\.gcBgMarkWorker/) c = "GC background marking"
	else if (st ~ /Committer[^ ]*\.run\.func1/) c = "commit callback goroutines (after store writes)" (m != "" ? ": " m : "")
	else if (st ~ /Committer[^ ]*\.(flush|writeRetry)/) c = (leaf ~ /Syscall/ ? "store writer goroutine: file I/O syscalls" : "store writer goroutine: SQLite (modernc, pure Go)")
	else if (st ~ /readUDP/) c = "UDP reader goroutine (recvfrom)"
	else if (st ~ /sipnet\.\(\*Stack\)\.(worker|process)/) {
		if (st ~ /sipgo\/sip\.\(\*Parser\)/) c = "workers: SIP parsing (sipgo parser)"
		else if (st ~ /sendto|writeUDP/) c = "workers: UDP send (sendto)"
		else if (m != "") c = "workers: " m " handlers"
		else c = "workers: transaction layer, other"
	}
	else if (m != "") c = m " goroutines (shards)" (st ~ /sendto|writeUDP/ ? ": sendto" : "")
	else if (st ~ /sipnet\./) c = "sipnet timers, client transactions"
	else c = "Go runtime (scheduler, sweeping, timers)"
	sum[c] += v; tot += v
	if (st ~ /runtime\.mallocgc|gcAssist/) alloc += v
	if (st ~ /sendto/) snd += v
	if (st ~ /recvfrom/) rcv += v
	if (st ~ /modernc\.org\/sqlite/) sq += v
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
	printf "%6.1f%%  %7.2fs  SQLite (modernc.org/sqlite, any goroutine)\n", 100 * sq / tot, sq
	printf "%6.1f%%  %7.2fs  sendto syscalls\n", 100 * snd / tot, snd
	printf "%6.1f%%  %7.2fs  recvfrom syscalls\n", 100 * rcv / tot, rcv
	printf "total %.2fs of CPU samples\n", tot
}
