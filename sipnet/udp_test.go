package sipnet

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestUDPDialogOrder: datagrams of one Call-ID reach the handlers in the
// order they arrived, whichever worker is free (a proxy must not see the
// 200 before the 180 that preceded it on the wire); other Call-IDs
// still spread over the workers.
func TestUDPDialogOrder(t *testing.T) {
	const n = 2000
	var mu sync.Mutex
	seen := map[string][]uint32{}
	total := 0
	s := newStack(t, func(c *Config) { c.Workers = 4 }, map[sip.RequestMethod]Handler{
		sip.MESSAGE: func(tx *ServerTx) {
			req := tx.Request()
			mu.Lock()
			seen[string(*req.CallID())] = append(seen[string(*req.CallID())], req.CSeq().SeqNo)
			total++
			mu.Unlock()
			_ = tx.Reply(200, "OK")
		},
	})
	p := newUDPPeer(t)
	dst := mustAddr(t, s, "udp")
	handled := func() int { mu.Lock(); defer mu.Unlock(); return total }
	for i := 1; i <= n; i++ {
		// at most 300 outstanding, so that a loaded machine drops none
		for i-handled() > 300 {
			time.Sleep(time.Millisecond)
		}
		cid := fmt.Sprintf("order-%d", i%2)
		p.send(dst, fmt.Sprintf("MESSAGE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-order-%d\r\n"+
			"From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: %d MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			p.addr(), i, cid, i))
	}
	deadline := time.Now().Add(wait)
	for {
		got := handled()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d handled; stack stats %+v", got, n, s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for cid, seqs := range seen {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] < seqs[i-1] {
				t.Fatalf("%s: CSeq %d handled after %d", cid, seqs[i], seqs[i-1])
			}
		}
	}
}
