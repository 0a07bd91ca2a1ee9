package sipnet

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
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
	// Timers B, D, F, H, J, L and M are 64*T1.
	T1 int `yaml:"t1_ms"`
	// T2 caps the retransmission interval of non-INVITE requests and of
	// INVITE final responses, in milliseconds. Default 4000; 0 means the default.
	T2 int `yaml:"t2_ms"`
	// T4 is how long a message may stay in the network, in milliseconds:
	// Timers I and K. Default 5000; 0 means the default.
	T4 int `yaml:"t4_ms"`
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
		T2:               4000,
		T4:               5000,
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
	if c.T2 != 0 && (c.T2 < c.T1 || c.T2 > 60000) {
		errs = append(errs, fmt.Errorf("t2_ms: want t1_ms..60000, got %d", c.T2))
	}
	if c.T4 < 0 || c.T4 > 60000 {
		errs = append(errs, fmt.Errorf("t4_ms: want 0..60000, got %d", c.T4))
	}
	if c.Advertise != "" {
		if _, _, err := splitAdvertise(c.Advertise); err != nil {
			errs = append(errs, fmt.Errorf("advertise: %v", err))
		}
	}
	if c.TCPIdleTimeout < 1 {
		errs = append(errs, fmt.Errorf("tcp_idle_timeout: want at least 1 second, got %d", c.TCPIdleTimeout))
	}
	return errs
}

// splitAdvertise splits "host", "host:port", "[v6]:port" or a bare IPv6
// address. port is 0 when absent.
func splitAdvertise(s string) (host string, port int, err error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String(), 0, nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil {
			return "", 0, fmt.Errorf("%q: %v", s, err)
		}
		return a.String(), 0, nil
	}
	if !strings.Contains(s, ":") {
		return checkHost(s)
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q: want host[:port]", s)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("%q: bad port %q", s, p)
	}
	host, _, err = checkHost(h)
	return host, n, err
}

func checkHost(h string) (string, int, error) {
	if h == "" {
		return "", 0, fmt.Errorf("empty host")
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.String(), 0, nil
	}
	for _, c := range h {
		ok := c == '-' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return "", 0, fmt.Errorf("%q: bad host name", h)
		}
	}
	return h, 0, nil
}
