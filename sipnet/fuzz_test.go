package sipnet

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// FuzzHandleDatagram feeds arbitrary bytes into the worker path (parse,
// validate, match, handle, answer), as a datagram from a local peer. It
// must never panic; the seed corpus in testdata/fuzz holds torture
// messages in the spirit of RFC 4475.
func FuzzHandleDatagram(f *testing.F) {
	f.Add([]byte(publish("127.0.0.1:5070", "UDP", "z9hG4bK-seed").String()))
	s := newStack(f, nil, map[sip.RequestMethod]Handler{
		sip.PUBLISH: func(tx *ServerTx) { tx.Reply(200, "OK", sip.NewHeader("SIP-ETag", "x")) },
		sip.OPTIONS: func(tx *ServerTx) { tx.Reply(200, "OK") },
		sip.INVITE: func(tx *ServerTx) {
			tx.Reply(180, "")
			tx.Reply(486, "")
		},
		sip.ACK:      func(tx *ServerTx) {},
		sip.REGISTER: func(tx *ServerTx) { tx.Reply(200, "OK") },
	})
	sink := newUDPPeer(f)
	u := s.udp[0]
	in := inbound{transport: "udp", src: sink.addr(), local: u.addr, udp: u}
	f.Fuzz(func(t *testing.T, data []byte) {
		s.handleDatagram(data, in)
		if n := s.Stats().Panics; n != 0 {
			t.Fatalf("panics recovered: %d", n)
		}
	})
}
