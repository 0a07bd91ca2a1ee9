package testpeer

import (
	"strings"
	"testing"
	"time"
)

func TestKamailio(t *testing.T) {
	for _, config := range []string{"presence", "full"} {
		t.Run(config, func(t *testing.T) {
			t.Parallel()
			RequireSIPp(t)
			k := Kamailio(t, KamailioOptions{Config: config})
			if !strings.HasPrefix(k.Addr, "127.0.0.1:") {
				t.Fatalf("Addr %q, want 127.0.0.1:port", k.Addr)
			}
			code, err := PingOptions(k.Addr, 2*time.Second)
			if err != nil || code != 200 {
				t.Fatalf("OPTIONS: got %d, %v; want 200", code, err)
			}

			// It is a presence server: a watcher gets the published PIDF.
			pub := SIPp(t, SIPpOptions{
				Scenario: "testdata/sipp/publish.xml",
				Target:   k.Addr,
				Vars:     map[string]string{"user": "alice", "note": "at-lunch-" + config},
				Timeout:  20 * time.Second,
			})
			if res, err := pub.Run(); err != nil {
				t.Fatalf("publish: %v\n%s", err, res.MessageLog)
			}
			sub := SIPp(t, SIPpOptions{
				Scenario:      "testdata/sipp/subscribe.xml",
				Target:        k.Addr,
				Vars:          map[string]string{"user": "alice"},
				InjectionFile: writeInjection(t, "bob"),
				Timeout:       20 * time.Second,
			})
			res, err := sub.Run()
			if err != nil {
				t.Fatalf("subscribe: %v\n%s", err, res.MessageLog)
			}
			n := res.Received("NOTIFY")
			if len(n) != 1 {
				t.Fatalf("got %d NOTIFYs, want 1\n%s", len(n), res.MessageLog)
			}
			if !strings.Contains(n[0].Body, "at-lunch-"+config) || n[0].Get("Event") != "presence" {
				t.Fatalf("NOTIFY Event %q body %q, want presence with the published note", n[0].Get("Event"), n[0].Body)
			}

			if config == "full" {
				// full.cfg also listens on TCP.
				tcp := SIPp(t, SIPpOptions{
					Scenario:  "testdata/sipp/options.xml",
					Target:    k.Addr,
					Transport: "t1",
					Timeout:   20 * time.Second,
				})
				if res, err := tcp.Run(); err != nil {
					t.Fatalf("OPTIONS over TCP: %v\n%s", err, res.MessageLog)
				}
			}
		})
	}
}
