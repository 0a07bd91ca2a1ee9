// Command presenced is the SIP presence daemon. Subcommands only; the
// logic lives in the packages.
//
//	presenced run [-c presenced.yaml]   run the daemon (defaults without -c)
//	presenced check -c presenced.yaml   validate a config, print every error
//	presenced version                   print the version
//	presenced mi [-a host:port] COMMAND [ARGS...]
//	                                    call the management API of a running daemon
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/presenced/presenced/config"
	"github.com/presenced/presenced/mi"
	"github.com/presenced/presenced/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  presenced run [-c FILE]                  run the daemon (built-in defaults without -c)
  presenced check -c FILE                  validate a config file and print every error
  presenced version                        print the version
  presenced mi [-a ADDR] COMMAND [ARGS...] call the management API (default 127.0.0.1:8888)
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "version", "-v", "--version":
		fmt.Fprintln(stdout, "presenced", server.Version)
		return 0
	case "mi":
		return cmdMI(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "presenced: unknown command %q\n%s", args[0], usage)
	return 2
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "config file (YAML); built-in defaults when absent")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		printConfigErrors(stderr, *path, err)
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	applyMemoryLimit(cfg, log)
	srv, err := server.New(cfg, log)
	if err != nil {
		log.Error("cannot build the daemon", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	<-ctx.Done()
	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Stop(sctx); err != nil {
		log.Error("unclean stop", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// applyMemoryLimit sets the runtime's soft memory limit from the
// config's memory_limit, which replaces GOMEMLIMIT.
func applyMemoryLimit(cfg *config.Config, log *slog.Logger) {
	n, _ := cfg.MemoryLimitBytes() // validated when loaded
	if n == 0 {
		if env := os.Getenv("GOMEMLIMIT"); env != "" {
			log.Info("memory limit", "GOMEMLIMIT", env)
		}
		return
	}
	debug.SetMemoryLimit(n)
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		log.Warn("memory_limit replaces GOMEMLIMIT", "memory_limit", cfg.MemoryLimit, "GOMEMLIMIT", env)
		return
	}
	log.Info("memory limit", "memory_limit", cfg.MemoryLimit)
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "config file to check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "presenced check: -c FILE is required")
		return 2
	}
	if _, err := config.Load(*path); err != nil {
		printConfigErrors(stderr, *path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return 0
}

func printConfigErrors(w io.Writer, path string, err error) {
	var list interface{ Unwrap() []error }
	if errors.As(err, &list) {
		for _, e := range list.Unwrap() {
			fmt.Fprintf(w, "%s: %v\n", path, e)
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", path, err)
}

func cmdMI(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("PRESENCED_MI")
	if def == "" {
		def = mi.Default().Listen
	}
	addr := fs.String("a", def, "management API address (env PRESENCED_MI)")
	path := fs.String("c", "", "take the address from this config file's mi.listen")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path != "" {
		cfg, err := config.Load(*path)
		if err != nil {
			printConfigErrors(stderr, *path, err)
			return 1
		}
		*addr = cfg.MI.Listen
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return mi.RunCLI(ctx, *addr, fs.Args(), stdout, stderr)
}

func newLogger(c config.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.ToLower(c.Format) == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
