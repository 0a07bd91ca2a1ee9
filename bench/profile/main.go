// Command profile runs the presenced daemon exactly as `presenced run -c
// FILE` does, with Go profiling around it, for `bench/run.sh --scenarios
// profile`. It adds nothing to the daemon: it builds the same
// server.Server from the same config.
//
//	profile -c FILE -cpuprofile cpu.prof [-heapprofile heap.prof]
//	profile -c FILE -windowprofile cpu.prof
//
// -cpuprofile covers the whole run, from start to SIGTERM or SIGINT, and
// each SIGUSR1 writes a heap profile to the -heapprofile path with a
// sequence number appended (heap.prof.1, heap.prof.2, ...), after a GC.
// -windowprofile profiles chosen windows instead (the load, not the
// set-up): SIGUSR1 starts a CPU profile written to the path with a
// sequence number appended (cpu.prof.1, ...), SIGUSR2 ends it. bench/run.sh,
// bench/pua and bench/bla use it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/presenced/presenced/config"
	"github.com/presenced/presenced/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

func run() error {
	cfgPath := flag.String("c", "", "presenced config file (YAML)")
	cpuPath := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	heapPath := flag.String("heapprofile", "", "on SIGUSR1, write a heap profile to this file plus a sequence number")
	window := flag.String("windowprofile", "", "CPU profiles from SIGUSR1 to SIGUSR2, to this file plus a sequence number")
	flag.Parse()
	if *cfgPath == "" {
		return fmt.Errorf("-c FILE is required")
	}
	if *window != "" && (*cpuPath != "" || *heapPath != "") {
		return fmt.Errorf("-windowprofile excludes -cpuprofile and -heapprofile")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fmt.Errorf("load %s: %w", *cfgPath, err)
	}
	log := slog.New(cfg.Log.Handler(os.Stderr))

	if *cpuPath != "" {
		f, err := os.Create(*cpuPath)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	srv, err := server.New(cfg, log)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sig)
	var win *os.File // the CPU window being written
	endWindow := func() {
		if win != nil {
			pprof.StopCPUProfile()
			win.Close()
			win = nil
		}
	}
	n := 0
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case s := <-sig:
			switch {
			case *window != "":
				endWindow()
				if s == syscall.SIGUSR1 {
					n++
					if win, err = startWindow(fmt.Sprintf("%s.%d", *window, n)); err != nil {
						log.Error("window profile failed", "err", err)
					}
				}
			case s == syscall.SIGUSR1:
				n++
				if err := writeHeap(fmt.Sprintf("%s.%d", *heapPath, n), *heapPath != ""); err != nil {
					log.Error("heap profile failed", "err", err)
				}
			}
		}
	}
	endWindow()

	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Stop(sctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}

func startWindow(path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func writeHeap(path string, enabled bool) error {
	if !enabled {
		return nil
	}
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
