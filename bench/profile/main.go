// Command profile runs the presenced daemon exactly as `presenced run -c
// FILE` does, with Go profiling around it, for `bench/run.sh --scenarios
// profile`. It adds nothing to the daemon: it builds the same
// server.Server from the same config.
//
//	profile -c FILE -cpuprofile cpu.prof [-heapprofile heap.prof]
//
// The CPU profile covers the whole run, from start to SIGTERM or SIGINT.
// Each SIGUSR1 writes a heap profile to the -heapprofile path with a
// sequence number appended (heap.prof.1, heap.prof.2, ...), after a GC.
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
	flag.Parse()
	if *cfgPath == "" {
		return fmt.Errorf("-c FILE is required")
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

	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	n := 0
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-usr1:
			n++
			if err := writeHeap(fmt.Sprintf("%s.%d", *heapPath, n), *heapPath != ""); err != nil {
				log.Error("heap profile failed", "err", err)
			}
		}
	}

	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Stop(sctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
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
