// Command blf checks and times the busy-lamp-field NOTIFYs of one step of
// bench/calls/run.sh.
//
//	blf -uas 'DIR/uas_*_logs.log' -watch 'DIR/watch_*_messages.log'
//
// It reads:
//   - the callee SIPp's log (uas.xml, -trace_logs): one line
//     "R;<Call-ID>;<sec>;<usec>" per INVITE, written just before the 180
//     is sent;
//   - the watcher SIPp's message trace (watch.xml, -trace_msg): every
//     received NOTIFY with the time SIPp read it, and its dialog-info body,
//     whose <dialog> elements carry call-id, direction (initiator: the
//     caller's lamp, recipient: the callee's) and <state>.
//
// It prints key=value lines: NOTIFYs received, dialog states seen per
// direction, how many calls had their callee's early state, and the
// terminated state of each watched side, delivered, and the 180 -> NOTIFY
// latency (first NOTIFY showing the call early) in milliseconds, per side:
// n, p50, p90, p99, max. With -lat FILE it also writes every latency
// (side;call-id;ms).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "blf:", err)
		os.Exit(1)
	}
}

type seen struct {
	early     time.Time // first NOTIFY showing the dialog early
	confirmed bool
	term      bool
}

var (
	reDialog = regexp.MustCompile(`(?s)<dialog\s[^>]*>.*?</dialog>`)
	reCallID = regexp.MustCompile(`call-id="([^"]*)"`)
	reDir    = regexp.MustCompile(`direction="([^"]*)"`)
	reState  = regexp.MustCompile(`<state[^>]*>\s*([a-zA-Z]+)\s*</state>`)
)

func run() error {
	uasGlob := flag.String("uas", "", "callee SIPp log files (glob)")
	watchGlob := flag.String("watch", "", "watcher SIPp message trace files (glob)")
	sides := flag.String("sides", "both", "watched sides: both or callee")
	latPath := flag.String("lat", "", "write every latency to this file")
	flag.Parse()

	ringing := map[string]time.Time{}
	uasFiles, _ := filepath.Glob(*uasGlob)
	for _, f := range uasFiles {
		if err := readUAS(f, ringing); err != nil {
			return err
		}
	}
	dlg := map[string]map[string]*seen{"recipient": {}, "initiator": {}}
	states := map[string]int{}
	notifies := 0
	watchFiles, _ := filepath.Glob(*watchGlob)
	for _, f := range watchFiles {
		n, err := readWatch(f, dlg, states)
		if err != nil {
			return err
		}
		notifies += n
	}

	fmt.Printf("uas_files=%d watch_files=%d\n", len(uasFiles), len(watchFiles))
	fmt.Printf("calls_ringing=%d\n", len(ringing))
	fmt.Printf("notifies_received=%d\n", notifies)
	var keys []string
	for k := range states {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("states_%s=%d\n", k, states[k])
	}

	var latFile *bufio.Writer
	if *latPath != "" {
		f, err := os.Create(*latPath)
		if err != nil {
			return err
		}
		defer f.Close()
		latFile = bufio.NewWriter(f)
		defer latFile.Flush()
	}
	check := []struct{ name, dir string }{{"callee", "recipient"}}
	if *sides == "both" {
		check = append(check, struct{ name, dir string }{"caller", "initiator"})
	}
	missing := 0
	for _, c := range check {
		var lat []float64
		noEarly, noTerm := 0, 0
		for id, t0 := range ringing {
			s := dlg[c.dir][id]
			if s == nil || s.early.IsZero() {
				noEarly++
			} else {
				ms := float64(s.early.Sub(t0).Microseconds()) / 1000
				lat = append(lat, ms)
				if latFile != nil {
					fmt.Fprintf(latFile, "%s;%s;%.3f\n", c.name, id, ms)
				}
			}
			if s == nil || !s.term {
				noTerm++
			}
		}
		// the callee's early state is what the latency is about; every
		// watched side must see the call end
		if c.name == "callee" {
			missing += noEarly
		}
		missing += noTerm
		fmt.Printf("%s_missing_early=%d\n", c.name, noEarly)
		fmt.Printf("%s_missing_terminated=%d\n", c.name, noTerm)
		sort.Float64s(lat)
		fmt.Printf("%s_lat_n=%d\n", c.name, len(lat))
		for _, p := range []int{50, 90, 99} {
			fmt.Printf("%s_lat_p%d_ms=%s\n", c.name, p, pct(lat, p))
		}
		if len(lat) > 0 {
			fmt.Printf("%s_lat_min_ms=%.3f\n", c.name, lat[0])
			fmt.Printf("%s_lat_max_ms=%.3f\n", c.name, lat[len(lat)-1])
		} else {
			fmt.Printf("%s_lat_min_ms=-\n%s_lat_max_ms=-\n", c.name, c.name)
		}
	}
	fmt.Printf("blf_missing=%d\n", missing)
	return nil
}

// nearest-rank percentile, "-" for none
func pct(v []float64, p int) string {
	if len(v) == 0 {
		return "-"
	}
	i := (len(v)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return fmt.Sprintf("%.3f", v[i-1])
}

func readUAS(path string, ringing map[string]time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(strings.TrimSpace(sc.Text()), ";")
		if len(parts) != 4 || parts[0] != "R" {
			continue
		}
		sec, err1 := strconv.ParseFloat(parts[2], 64)
		usec, err2 := strconv.ParseFloat(parts[3], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		t := time.Unix(int64(sec), int64(usec)*1000)
		if old, ok := ringing[parts[1]]; !ok || t.Before(old) {
			ringing[parts[1]] = t
		}
	}
	return sc.Err()
}

const stampPrefix = "----------------------------------------------- "

// readWatch reads one SIPp -trace_msg file and records, per direction and
// Call-ID, the states seen in received NOTIFYs; it returns how many
// NOTIFYs were received.
func readWatch(path string, dlg map[string]map[string]*seen, states map[string]int) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var (
		stamp    time.Time
		inNotify bool
		received bool
		body     strings.Builder
		n        int
	)
	flush := func() {
		if inNotify {
			n++
			note(body.String(), stamp, dlg, states)
		}
		inNotify = false
		body.Reset()
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, stampPrefix) {
			flush()
			t, err := time.ParseInLocation("2006-01-02 15:04:05.000000", strings.TrimSpace(line[len(stampPrefix):]), time.Local)
			if err == nil {
				stamp = t
			}
			received = false
			continue
		}
		if strings.HasPrefix(line, "UDP message received") {
			received = true
			continue
		}
		if received && strings.HasPrefix(line, "NOTIFY ") {
			inNotify = true
			received = false
			continue
		}
		if inNotify {
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	flush()
	return n, sc.Err()
}

func note(msg string, t time.Time, dlg map[string]map[string]*seen, states map[string]int) {
	for _, d := range reDialog.FindAllString(msg, -1) {
		open := d[:strings.IndexByte(d, '>')+1]
		id := reCallID.FindStringSubmatch(open)
		dir := reDir.FindStringSubmatch(open)
		st := reState.FindStringSubmatch(d)
		if id == nil || dir == nil || st == nil {
			states["unparsed"]++
			continue
		}
		state := strings.ToLower(st[1])
		states[dir[1]+"_"+state]++
		m := dlg[dir[1]]
		if m == nil {
			continue
		}
		s := m[id[1]]
		if s == nil {
			s = &seen{}
			m[id[1]] = s
		}
		switch state {
		case "early":
			if s.early.IsZero() || t.Before(s.early) {
				s.early = t
			}
		case "confirmed":
			s.confirmed = true
		case "terminated":
			s.term = true
		}
	}
}
