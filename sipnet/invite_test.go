package sipnet

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func inviteText(p *udpPeer, branch string) reqText {
	return reqText{
		method: "INVITE", ruri: "sip:bob@example.com",
		via:  fmt.Sprintf("SIP/2.0/UDP %s;branch=%s", p.addr(), branch),
		from: "<sip:alice@example.com>;tag=a1", to: "<sip:bob@example.com>",
		callID: "inv-" + branch, cseq: "1 INVITE",
		extra: []string{"Contact: <sip:alice@" + p.addr().String() + ">", "Record-Route: <sip:proxy.example.com;lr>"},
	}
}

// recvUntil reads responses until one with code arrives.
func recvUntil(t *testing.T, p *udpPeer, code int, timeout time.Duration) *sip.Response {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m, _ := p.recv(time.Until(deadline))
		if m == "" {
			break
		}
		msg, err := sip.ParseMessage([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		if res, ok := msg.(*sip.Response); ok && res.StatusCode == code {
			return res
		}
	}
	t.Fatalf("no %d within %v", code, timeout)
	return nil
}

func TestInviteServerCancel(t *testing.T) {
	held := make(chan *ServerTx, 1)
	s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.INVITE: func(tx *ServerTx) { held <- tx }})
	p := newUDPPeer(t)
	dst := mustAddr(t, s, "udp")
	inv := inviteText(p, "z9hG4bK-ic1")
	start := time.Now()
	p.send(dst, inv.String())
	tx := <-held

	// 100 Trying from the stack after 200 ms, without To tag.
	trying := p.recvResponse(wait)
	if trying.StatusCode != 100 {
		t.Fatalf("got %d, want 100", trying.StatusCode)
	}
	if d := time.Since(start); d < tryingDelay {
		t.Errorf("100 Trying after %v, want at least %v", d, tryingDelay)
	}
	if _, ok := param(trying.To().Params, "tag"); ok {
		t.Errorf("100 Trying has a To tag")
	}
	// A retransmitted INVITE gets the 100 again.
	p.send(dst, inv.String())
	if res := p.recvResponse(wait); res.StatusCode != 100 {
		t.Errorf("retransmission answered %d, want 100", res.StatusCode)
	}

	cancel := inv
	cancel.method, cancel.cseq, cancel.extra = "CANCEL", "1 CANCEL", nil
	p.send(dst, cancel.String())
	res := p.recvResponse(wait)
	if res.StatusCode != 200 || res.CSeq().MethodName != sip.CANCEL {
		t.Fatalf("CANCEL answered %d %s, want 200 CANCEL", res.StatusCode, res.CSeq().MethodName)
	}
	select {
	case <-tx.Canceled():
	case <-time.After(wait):
		t.Fatal("Canceled not closed")
	}
	if err := tx.Reply(487, ""); err != nil {
		t.Fatal(err)
	}
	// 487 retransmitted on Timer G until the ACK.
	r1 := recvUntil(t, p, 487, wait)
	recvUntil(t, p, 487, wait)
	recvUntil(t, p, 487, wait)
	if tag, _ := param(r1.To().Params, "tag"); tag == "" {
		t.Fatalf("487 has no To tag")
	}
	if tag200, _ := param(res.To().Params, "tag"); tag200 == "" {
		t.Errorf("200 to CANCEL has no To tag")
	}
	ack := inv
	ack.method, ack.cseq, ack.extra = "ACK", "1 ACK", nil
	ack.to = r1.To().Value()
	p.send(dst, ack.String())
	// The ACK moves it to Confirmed and Timer I (T4) ends it; without the
	// ACK, Timer H would end it as a timeout.
	waitFor(t, wait, func() bool { return s.Stats().ServerTransactions == 0 })
	if st := s.Stats(); st.TxTimeouts != 0 || st.Retransmissions < 2 {
		t.Errorf("TxTimeouts/Retransmissions: got %d/%d, want 0/at least 2", st.TxTimeouts, st.Retransmissions)
	}
	for m, _ := p.recv(20 * time.Millisecond); m != ""; m, _ = p.recv(20 * time.Millisecond) {
	}
	if m, _ := p.recv(100 * time.Millisecond); m != "" {
		t.Errorf("got %q after the transaction ended", m)
	}
}

func TestInviteServerTimerH(t *testing.T) {
	s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.INVITE: func(tx *ServerTx) { tx.Reply(486, "") }})
	p := newUDPPeer(t)
	p.send(mustAddr(t, s, "udp"), inviteText(p, "z9hG4bK-ih").String())
	recvUntil(t, p, 486, wait)
	// No ACK: Timer H = 64*T1 ends it as a timeout.
	waitFor(t, wait, func() bool { return s.Stats().TxTimeouts == 1 })
	waitFor(t, wait, func() bool { return s.Stats().ServerTransactions == 0 })
}

func TestInviteServerAccepted(t *testing.T) {
	var invites, acks atomic.Int64
	s := newStack(t, nil, map[sip.RequestMethod]Handler{
		sip.INVITE: func(tx *ServerTx) {
			invites.Add(1)
			res := tx.NewResponse(200, "OK")
			if rr := res.GetHeaders("Record-Route"); len(rr) != 1 {
				t.Errorf("200 to INVITE: got %d Record-Route, want 1", len(rr))
			}
			tx.Respond(res)
		},
		sip.ACK: func(tx *ServerTx) {
			acks.Add(1)
			if err := tx.Reply(200, "OK"); err == nil {
				t.Errorf("Reply to an ACK: got nil error")
			}
		},
	})
	p := newUDPPeer(t)
	dst := mustAddr(t, s, "udp")
	inv := inviteText(p, "z9hG4bK-ia")
	p.send(dst, inv.String())
	ok := recvUntil(t, p, 200, wait)
	// Retransmitted INVITE in Accepted: absorbed, not passed up.
	p.send(dst, inv.String())
	waitFor(t, wait, func() bool { return s.Stats().RetransmissionsAbsorbed == 1 })
	// The ACK of a 2xx is its own transaction (new branch): to the ACK handler.
	ack := inv
	ack.method, ack.cseq, ack.extra = "ACK", "1 ACK", nil
	ack.via = fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-ack2", p.addr())
	ack.to = ok.To().Value()
	p.send(dst, ack.String())
	waitFor(t, wait, func() bool { return acks.Load() == 1 })
	if invites.Load() != 1 {
		t.Errorf("INVITE handler calls: got %d, want 1", invites.Load())
	}
	// Timer L ends the transaction.
	waitFor(t, wait, func() bool { return s.Stats().ServerTransactions == 0 })
}

func TestCancelWithoutInvite(t *testing.T) {
	s := newStack(t, nil, nil)
	p := newUDPPeer(t)
	c := inviteText(p, "z9hG4bK-lonely")
	c.method, c.cseq, c.extra = "CANCEL", "1 CANCEL", nil
	p.send(mustAddr(t, s, "udp"), c.String())
	if res := p.recvResponse(wait); res.StatusCode != 481 {
		t.Errorf("got %d, want 481", res.StatusCode)
	}
}

type inviteRecorder struct {
	mu    sync.Mutex
	codes []int
	done  chan error
}

func newInviteRecorder() *inviteRecorder { return &inviteRecorder{done: make(chan error, 1)} }

func (r *inviteRecorder) onResponse(res *sip.Response) {
	r.mu.Lock()
	r.codes = append(r.codes, res.StatusCode)
	r.mu.Unlock()
}

func (r *inviteRecorder) got() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.codes...)
}

func TestInviteClientCancel(t *testing.T) {
	for _, early := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancel before 1xx=%v", early), func(t *testing.T) {
			s := newStack(t, nil, nil)
			p := newUDPPeer(t)
			rec := newInviteRecorder()
			req := newRequest(t, sip.INVITE, "sip:bob@"+p.addr().String())
			ctx, err := s.SendInvite(req, SendOptions{}, rec.onResponse, func(err error) { rec.done <- err })
			if err != nil {
				t.Fatal(err)
			}
			m, src := p.recvMsg(wait)
			inv := m.(*sip.Request)
			if early {
				ctx.Cancel()
				// No CANCEL before a provisional response (RFC 3261 9.1).
				for x, _ := p.recv(30 * time.Millisecond); x != ""; x, _ = p.recv(30 * time.Millisecond) {
					if strings.HasPrefix(x, "CANCEL") {
						t.Fatal("CANCEL sent before any provisional response")
					}
				}
			}
			p.send(src, answer(inv, 180, "Ringing"))
			if !early {
				waitFor(t, wait, func() bool { return len(rec.got()) == 1 })
				ctx.Cancel()
			}
			var cancel *sip.Request
			for cancel == nil {
				m, _ := p.recvMsg(wait)
				if r, ok := m.(*sip.Request); ok && r.Method == sip.CANCEL {
					cancel = r
				}
			}
			b1, _ := param(inv.Via().Params, "branch")
			b2, _ := param(cancel.Via().Params, "branch")
			if b1 != b2 || cancel.CSeq().SeqNo != inv.CSeq().SeqNo || cancel.CSeq().MethodName != sip.CANCEL {
				t.Errorf("CANCEL: branch %s CSeq %s, want branch %s CSeq %d CANCEL", b2, cancel.CSeq().Value(), b1, inv.CSeq().SeqNo)
			}
			if cancel.Recipient.String() != inv.Recipient.String() {
				t.Errorf("CANCEL Request-URI: got %s, want %s", cancel.Recipient.String(), inv.Recipient.String())
			}
			p.send(src, answer(cancel, 200, "OK"))
			p.send(src, answer(inv, 487, ""))
			var ack *sip.Request
			for ack == nil {
				m, _ := p.recvMsg(wait)
				if r, ok := m.(*sip.Request); ok && r.Method == sip.ACK {
					ack = r
				}
			}
			if b, _ := param(ack.Via().Params, "branch"); b != b1 {
				t.Errorf("ACK branch: got %s, want %s", b, b1)
			}
			if tag, _ := param(ack.To().Params, "tag"); tag != "peer" {
				t.Errorf("ACK To tag: got %q, want the 487's", tag)
			}
			// A retransmitted 487 gets the ACK again, and is not passed up.
			p.send(src, answer(inv, 487, ""))
			if m, _ := p.recvMsg(wait); m.(*sip.Request).Method != sip.ACK {
				t.Errorf("retransmitted 487 answered with %s, want ACK", m.(*sip.Request).Method)
			}
			select {
			case err := <-rec.done:
				if err != nil {
					t.Errorf("done: got %v, want nil", err)
				}
			case <-time.After(wait):
				t.Fatal("done not called")
			}
			if got := rec.got(); fmt.Sprint(got) != "[180 487]" {
				t.Errorf("responses passed up: got %v, want [180 487]", got)
			}
			waitFor(t, wait, func() bool { return s.Stats().ClientTransactions == 0 })
		})
	}
}

func TestInviteClientAccepted(t *testing.T) {
	s := newStack(t, nil, nil)
	p := newUDPPeer(t)
	rec := newInviteRecorder()
	_, err := s.SendInvite(newRequest(t, sip.INVITE, "sip:bob@"+p.addr().String()), SendOptions{}, rec.onResponse, func(err error) { rec.done <- err })
	if err != nil {
		t.Fatal(err)
	}
	m, src := p.recvMsg(wait)
	inv := m.(*sip.Request)
	p.send(src, answer(inv, 200, "OK"))
	p.send(src, answer(inv, 200, "OK")) // retransmission: passed up too
	waitFor(t, wait, func() bool { return len(rec.got()) == 2 })
	select {
	case err := <-rec.done:
		if err != nil {
			t.Errorf("done: got %v, want nil", err)
		}
	case <-time.After(wait):
		t.Fatal("done not called after Timer M")
	}
	// No ACK from the transaction for a 2xx.
	if x, _ := p.recv(20 * time.Millisecond); strings.HasPrefix(x, "ACK") {
		t.Error("transaction sent an ACK for a 2xx")
	}
}

func TestInviteClientTimerB(t *testing.T) {
	s := newStack(t, nil, nil)
	p := newUDPPeer(t)
	rec := newInviteRecorder()
	if _, err := s.SendInvite(newRequest(t, sip.INVITE, "sip:bob@"+p.addr().String()), SendOptions{}, rec.onResponse, func(err error) { rec.done <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-rec.done:
		if err != ErrTimeout {
			t.Errorf("done: got %v, want ErrTimeout", err)
		}
	case <-time.After(wait):
		t.Fatal("no Timer B")
	}
	n := 0
	for x, _ := p.recv(10 * time.Millisecond); x != ""; x, _ = p.recv(10 * time.Millisecond) {
		n++
	}
	// Timer A doubles without a cap: 0, 10, 30, 70, 150, 310, (630) ms; a
	// loaded machine fires timers late, so fewer.
	if n < 3 || n > 7 {
		t.Errorf("INVITE copies: got %d, want 3 to 7", n)
	}
}

func TestInviteStackToStack(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			var acks atomic.Int64
			server := newStack(t, nil, map[sip.RequestMethod]Handler{
				sip.INVITE: func(tx *ServerTx) {
					go func() {
						tx.Reply(180, "")
						<-tx.Canceled()
						tx.Reply(487, "")
					}()
				},
				sip.ACK: func(tx *ServerTx) { acks.Add(1) },
			})
			client := newStack(t, nil, nil)
			ruri := "sip:bob@" + mustAddr(t, server, tr).String()
			if tr == "tcp" {
				ruri += ";transport=tcp"
			}
			rec := newInviteRecorder()
			ctx, err := client.SendInvite(newRequest(t, sip.INVITE, ruri), SendOptions{}, rec.onResponse, func(err error) { rec.done <- err })
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, wait, func() bool { return len(rec.got()) >= 1 })
			ctx.Cancel()
			select {
			case err := <-rec.done:
				if err != nil {
					t.Fatalf("done: %v", err)
				}
			case <-time.After(wait):
				t.Fatal("done not called")
			}
			got := rec.got()
			if got[len(got)-1] != 487 {
				t.Errorf("responses: got %v, want ending with 487", got)
			}
			// The server absorbed the ACK (non-2xx): the ACK handler saw nothing.
			waitFor(t, wait, func() bool {
				return server.Stats().ServerTransactions == 0 && client.Stats().ClientTransactions == 0
			})
			if acks.Load() != 0 {
				t.Errorf("ACK handler calls: got %d, want 0", acks.Load())
			}
		})
	}
}

func TestRFC2543Matching(t *testing.T) {
	var calls atomic.Int64
	s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.INVITE: func(tx *ServerTx) {
		calls.Add(1)
		tx.Reply(486, "")
	}})
	p := newUDPPeer(t)
	dst := mustAddr(t, s, "udp")
	inv := inviteText(p, "")
	inv.via = fmt.Sprintf("SIP/2.0/UDP %s", p.addr()) // no branch: RFC 2543 client
	p.send(dst, inv.String())
	busy := recvUntil(t, p, 486, wait)
	p.send(dst, inv.String()) // retransmission: matched without a branch
	recvUntil(t, p, 486, wait)
	ack := inv
	ack.method, ack.cseq, ack.extra = "ACK", "1 ACK", nil
	ack.to = busy.To().Value()
	p.send(dst, ack.String())
	// The ACK matched (To tag aside): Timer I ends it, not Timer H.
	waitFor(t, wait, func() bool { return s.Stats().ServerTransactions == 0 })
	if st := s.Stats(); st.TxTimeouts != 0 || calls.Load() != 1 {
		t.Errorf("TxTimeouts/handler calls: got %d/%d, want 0/1", st.TxTimeouts, calls.Load())
	}
}
