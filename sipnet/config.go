package sipnet

import (
	"fmt"
	"net/netip"
	"strings"
)

// Config is the sip section: where the daemon listens and how its
// transactions behave.
type Config struct {
	// Listen lists the sockets, each "transport:host:port" with transport
	// udp or tcp. Default: udp:0.0.0.0:5060 and tcp:0.0.0.0:5060.
	Listen []string `yaml:"listen"`
	// Advertise is the host[:port] put in Via, Contact and Record-Route
	// when the listening address is a wildcard or behind NAT. Default: the
	// listening address, or 127.0.0.1 for a wildcard one.
	Advertise string `yaml:"advertise"`
	// UserAgent is the Server / User-Agent header value.
	UserAgent string `yaml:"user_agent"`
	// Workers is the number of goroutines that parse and handle messages.
	// Default 0: twice GOMAXPROCS.
	Workers int `yaml:"workers"`
	// UDPReceiveBuffer is SO_RCVBUF of UDP sockets, in bytes. Default 8 MiB.
	UDPReceiveBuffer int `yaml:"udp_receive_buffer"`
	// MaxMessageSize bounds a SIP message, in bytes. Default 65535.
	MaxMessageSize int `yaml:"max_message_size"`
	// T1 is the RTT estimate in milliseconds (RFC 3261 section 17). Default 500.
	T1 int `yaml:"t1_ms"`
	// TCPIdleTimeout closes an idle TCP connection after that many seconds. Default 600.
	TCPIdleTimeout int `yaml:"tcp_idle_timeout"`
}

// Default returns the defaults the daemon runs on with no config file.
func Default() Config {
	return Config{
		Listen:           []string{"udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"},
		UserAgent:        "presenced",
		UDPReceiveBuffer: 8 << 20,
		MaxMessageSize:   65535,
		T1:               500,
		TCPIdleTimeout:   600,
	}
}

// ListenAddr is one parsed listen entry.
type ListenAddr struct {
	Transport string // "udp" or "tcp"
	Addr      netip.AddrPort
}

// ParseListen parses "udp:127.0.0.1:5060" (IPv6: "udp:[::1]:5060").
func ParseListen(s string) (ListenAddr, error) {
	tr, hp, ok := strings.Cut(s, ":")
	if !ok {
		return ListenAddr{}, fmt.Errorf("%q: want transport:host:port", s)
	}
	tr = strings.ToLower(tr)
	if tr != "udp" && tr != "tcp" {
		return ListenAddr{}, fmt.Errorf("%q: transport %q: want udp or tcp", s, tr)
	}
	ap, err := netip.ParseAddrPort(hp)
	if err != nil {
		return ListenAddr{}, fmt.Errorf("%q: %v", s, err)
	}
	return ListenAddr{Transport: tr, Addr: ap}, nil
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	if len(c.Listen) == 0 {
		errs = append(errs, fmt.Errorf("listen: at least one socket is required"))
	}
	for i, l := range c.Listen {
		if _, err := ParseListen(l); err != nil {
			errs = append(errs, fmt.Errorf("listen[%d]: %v", i, err))
		}
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers: must not be negative"))
	}
	if c.UDPReceiveBuffer < 0 {
		errs = append(errs, fmt.Errorf("udp_receive_buffer: must not be negative"))
	}
	if c.MaxMessageSize < 1024 || c.MaxMessageSize > 65535 {
		errs = append(errs, fmt.Errorf("max_message_size: want 1024..65535, got %d", c.MaxMessageSize))
	}
	if c.T1 < 10 || c.T1 > 10000 {
		errs = append(errs, fmt.Errorf("t1_ms: want 10..10000, got %d", c.T1))
	}
	if c.TCPIdleTimeout < 1 {
		errs = append(errs, fmt.Errorf("tcp_idle_timeout: want at least 1 second, got %d", c.TCPIdleTimeout))
	}
	return errs
}
