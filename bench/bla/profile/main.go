// Command profile runs the presenced daemon exactly as `presenced run -c
// FILE` does (the same server.Server from the same config, as
// bench/profile does), with a CPU profile of a window chosen from outside:
// SIGUSR1 starts the profile, SIGUSR2 stops it and writes the file. The
// BLA benchmark (bench/bla/run.sh --profile) uses it to profile the load
// phase only, without the set-up (REGISTERs, subscriptions).
//
//	profile -c FILE -cpuprofile cpu.prof
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
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

func run() error {
	cfgPath := flag.String("c", "", "presenced config file (YAML)")
	cpuPath := flag.String("cpuprofile", "", "CPU profile file, written from SIGUSR1 to SIGUSR2")
	flag.Parse()
	if *cfgPath == "" || *cpuPath == "" {
		return fmt.Errorf("-c FILE and -cpuprofile FILE are required")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fmt.Errorf("load %s: %w", *cfgPath, err)
	}
	log := slog.New(cfg.Log.Handler(os.Stderr))

	srv, err := server.New(cfg, log)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	var f *os.File
	stopProfile := func() error {
		if f == nil {
			return nil
		}
		pprof.StopCPUProfile()
		err := f.Close()
		f = nil
		return err
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case s := <-sigs:
			switch {
			case s == syscall.SIGUSR1 && f == nil:
				if f, err = os.Create(*cpuPath); err != nil {
					return fmt.Errorf("cpu profile: %w", err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return fmt.Errorf("cpu profile: %w", err)
				}
			case s == syscall.SIGUSR2:
				if err := stopProfile(); err != nil {
					log.Error("cpu profile failed", "err", err)
				}
			}
		}
	}
	if err := stopProfile(); err != nil {
		log.Error("cpu profile failed", "err", err)
	}

	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Stop(sctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}
