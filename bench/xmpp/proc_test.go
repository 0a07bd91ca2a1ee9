package xmppbench

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// usage is what a process group (a server and the children it forked)
// used: CPU time, and resident (RSS) and proportional (PSS, shared pages
// divided among their users) memory, summed over its processes.
type usage struct {
	cpu      time.Duration
	rss, pss float64 // MiB
}

// groupUsage sums usage over the live processes of process group pgid.
func groupUsage(pgid int) usage {
	var u usage
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		raw, err := os.ReadFile(path)
		i := strings.LastIndexByte(string(raw), ')')
		if err != nil || i < 0 {
			continue
		}
		// after the command: state ppid pgrp ... utime (12th) stime
		f := strings.Fields(string(raw[i+1:]))
		if len(f) < 13 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		u.cpu += time.Duration(ut+st) * time.Second / 100 // USER_HZ
		dir := filepath.Dir(path)
		u.rss += kbField(filepath.Join(dir, "status"), "VmRSS:")
		u.pss += kbField(filepath.Join(dir, "smaps_rollup"), "Pss:")
	}
	return u
}

// kbField reads a "Name: N kB" line of a /proc file, in MiB.
func kbField(path, name string) float64 {
	fh, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == name {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// peakSampler samples a process group's memory every second and keeps
// the peaks.
type peakSampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak usage
}

// samplePeaks starts a sampler; its goroutine ends with Stop.
func samplePeaks(pgid int) *peakSampler {
	s := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			u := groupUsage(pgid)
			s.mu.Lock()
			s.peak.rss, s.peak.pss = max(s.peak.rss, u.rss), max(s.peak.pss, u.pss)
			s.mu.Unlock()
			select {
			case <-t.C:
			case <-s.stop:
				return
			}
		}
	}()
	return s
}

// Stop ends the sampler and returns the peaks (RSS and PSS peaks may come
// from different samples).
func (s *peakSampler) Stop() usage {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
