// Command profiled runs the presenced daemon as `presenced run -c FILE`
// does (the same server.Server from the same config) with CPU profiling,
// for bench/pua:
//
//	profiled -c FILE [-cpuprofile FILE] [-windowprofile PREFIX]
//
// -cpuprofile covers the whole run, until SIGTERM or SIGINT.
// -windowprofile profiles chosen windows: SIGUSR1 starts a profile written
// to PREFIX.N (N = 1, 2, ...), SIGUSR2 ends it. `go tool pprof` merges
// several files given together.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/presenced/presenced/config"
	"github.com/presenced/presenced/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "profiled:", err)
		os.Exit(1)
	}
}

func run() error {
	cfgPath := flag.String("c", "", "presenced config file (YAML)")
	cpuPath := flag.String("cpuprofile", "", "CPU profile of the whole run")
	window := flag.String("windowprofile", "", "CPU profiles between SIGUSR1 and SIGUSR2, to this prefix plus a number")
	flag.Parse()
	if *cfgPath == "" {
		return fmt.Errorf("-c FILE is required")
	}
	if *cpuPath != "" && *window != "" {
		return fmt.Errorf("-cpuprofile and -windowprofile exclude each other")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fmt.Errorf("load %s: %w", *cfgPath, err)
	}
	log := slog.New(cfg.Log.Handler(os.Stderr))
	if *cpuPath != "" {
		f, err := os.Create(*cpuPath)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
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
	var cur *os.File
	end := func() {
		if cur != nil {
			pprof.StopCPUProfile()
			cur.Close()
			cur = nil
		}
	}
	n := 0
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case s := <-sig:
			if *window == "" {
				continue
			}
			end()
			if s == syscall.SIGUSR1 {
				n++
				f, err := os.Create(fmt.Sprintf("%s.%d", *window, n))
				if err != nil {
					log.Error("window profile", "err", err)
					continue
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					log.Error("window profile", "err", err)
					continue
				}
				cur = f
			}
		}
	}
	end()
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Stop(sctx)
}
