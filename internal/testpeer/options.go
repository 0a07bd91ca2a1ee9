package testpeer

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

// PingOptions sends one OPTIONS request over UDP to addr (host:port) and
// returns the status code of the first final response, waiting at most
// timeout. Provisional responses are skipped.
func PingOptions(addr string, timeout time.Duration) (int, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return 0, fmt.Errorf("options %s: %w", addr, err)
	}
	defer c.Close()
	local := c.LocalAddr().(*net.UDPAddr)
	id := strconv.FormatUint(rand.Uint64(), 36)
	req := strings.Join([]string{
		"OPTIONS sip:" + addr + " SIP/2.0",
		fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-tp%s;rport", local, id),
		"Max-Forwards: 70",
		fmt.Sprintf("From: <sip:testpeer@%s>;tag=%s", local, id),
		"To: <sip:" + addr + ">",
		"Call-ID: " + id + "@testpeer",
		"CSeq: 1 OPTIONS",
		"Content-Length: 0",
		"", "",
	}, "\r\n")
	deadline := time.Now().Add(timeout)
	if err := c.SetDeadline(deadline); err != nil {
		return 0, fmt.Errorf("options %s: %w", addr, err)
	}
	if _, err := c.Write([]byte(req)); err != nil {
		return 0, fmt.Errorf("options %s: %w", addr, err)
	}
	buf := make([]byte, 65535)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return 0, fmt.Errorf("options %s: %w", addr, err)
		}
		var m SIPMessage
		if !parseSIP(&m, string(buf[:n])) || m.StatusCode == 0 || m.Get("Call-ID") != id+"@testpeer" {
			continue
		}
		if m.StatusCode >= 200 {
			return m.StatusCode, nil
		}
	}
}
