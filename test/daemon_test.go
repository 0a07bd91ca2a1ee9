// Package test holds the integration tests: each starts the real daemon
// from a config string on 127.0.0.1 ephemeral ports and talks real SIP
// to it, from an in-Go user agent (internal/siptest) and from SIPp.
package test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/config"
	"github.com/presenced/presenced/mi"
	"github.com/presenced/presenced/server"
)

// daemon is a presenced running in the test process.
type daemon struct {
	t   testing.TB
	srv *server.Server
	cfg *config.Config
	UDP netip.AddrPort
	TCP netip.AddrPort
	MI  string
}

// baseConfig is the config every test starts from; tests append sections
// or override keys with their own YAML (later keys win in startDaemon).
const baseConfig = `
sip:
  listen: ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]
  t1_ms: 100
mi:
  enabled: true
  listen: "127.0.0.1:0"
store:
  backend: memory
log:
  level: warn
`

// startDaemon starts a daemon from yaml (a complete config, usually
// baseConfig with more sections) and stops it at the end of the test.
func startDaemon(t testing.TB, yaml string) *daemon {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return startDaemonConfig(t, cfg)
}

func startDaemonConfig(t testing.TB, cfg *config.Config) *daemon {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("PRESENCED_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	d := &daemon{t: t, srv: srv, cfg: cfg, MI: srv.MIAddr()}
	d.UDP, _ = srv.SIPAddr("udp")
	d.TCP, _ = srv.SIPAddr("tcp")
	t.Cleanup(func() { d.stop() })
	return d
}

func (d *daemon) stop() {
	if d.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.srv.Stop(ctx); err != nil {
		d.t.Errorf("stop: %v", err)
	}
	d.srv = nil
}

// mi calls a management command and decodes its result into out.
func (d *daemon) mi(method string, params any, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := mi.Call(ctx, d.MI, method, params)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func pidfDoc(entity, basic, note string) []byte {
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="%s"><tuple id="t1"><status><basic>%s</basic></status><note>%s</note></tuple></presence>`, entity, basic, note))
}
