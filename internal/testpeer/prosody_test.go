package testpeer

import (
	"bufio"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readUntil reads from c until the data read matches re or the deadline.
func readUntil(t *testing.T, c net.Conn, re *regexp.Regexp) []string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var got []byte
	buf := make([]byte, 4096)
	for {
		if m := re.FindSubmatch(got); m != nil {
			out := make([]string, len(m))
			for i := range m {
				out[i] = string(m[i])
			}
			return out
		}
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil && err != io.EOF || err == io.EOF && n == 0 {
			t.Fatalf("read: %v; got %q, want a match of %s", err, got, re)
		}
	}
}

func TestProsody(t *testing.T) {
	t.Parallel()
	s := Prosody(t, ProsodyOptions{
		Users:           map[string]string{"alice": "alice-pw", "bob": "bob-pw"},
		ComponentSecret: "s3cret",
	})

	// The users were registered with prosodyctl.
	for _, u := range []string{"alice", "bob"} {
		p := filepath.Join(s.Dir, "data", "example%2ecom", "accounts", u+".dat")
		if _, err := os.Stat(p); err != nil {
			t.Errorf("account of %s: %v", u, err)
		}
	}

	t.Run("component", func(t *testing.T) {
		c, err := net.Dial("tcp4", s.ComponentAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='%s'>", s.ComponentDomain)
		m := readUntil(t, c, regexp.MustCompile(`<stream:stream[^>]*\sid=['"]([^'"]+)['"][^>]*>`))
		// XEP-0114 handshake: the secret templated into the config works.
		sum := sha1.Sum([]byte(m[1] + s.ComponentSecret))
		fmt.Fprintf(c, "<handshake>%s</handshake>", hex.EncodeToString(sum[:]))
		readUntil(t, c, regexp.MustCompile(`<handshake\s*/>|<handshake></handshake>`))
	})

	t.Run("c2s", func(t *testing.T) {
		c, err := net.Dial("tcp4", s.C2SAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>", s.Domain)
		m := readUntil(t, c, regexp.MustCompile(`(?s)<stream:features.*</stream:features>`))
		if !strings.Contains(m[0], "starttls") {
			t.Errorf("features %q, want starttls", m[0])
		}
	})

	if _, err := s.CertPool(); err != nil {
		t.Errorf("CertPool: %v", err)
	}
}
