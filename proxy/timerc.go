package proxy

import (
	"time"

	"github.com/presenced/presenced/dialog"
)

// watchCancel waits for a CANCEL from upstream (16.10) until the INVITE
// has its final response.
func (rc *rctx) watchCancel() {
	select {
	case <-rc.tx.Canceled():
		rc.mu.Lock()
		rc.canceled = true
		list := rc.cancelLocked(nil, dialog.ReasonCancelled)
		rc.mu.Unlock()
		for _, ct := range list {
			ct.Cancel()
		}
	case <-rc.done:
	case <-rc.p.quit:
	}
}

// armTimerC (re)starts Timer C of a pending INVITE branch (16.8).
func (rc *rctx) armTimerC(b *branch) {
	sh := rc.sh
	at := time.Now().Add(rc.p.timerC)
	sh.Do(func() {
		rc.mu.Lock()
		fin := b.finished
		rc.mu.Unlock()
		if fin {
			sh.Cancel(&b.timerC)
			return
		}
		if b.timerC.Fire == nil {
			b.timerC.Fire = func(time.Time) { rc.timerCFired(b) }
		}
		sh.Schedule(&b.timerC, at)
	})
}

func (rc *rctx) disarmTimerC(b *branch) {
	sh := rc.sh
	sh.Do(func() { sh.Cancel(&b.timerC) })
}

// timerCFired CANCELs a branch that rang too long; one that never
// answered at all ends as if it got a 408 (16.8).
func (rc *rctx) timerCFired(b *branch) {
	rc.mu.Lock()
	if b.finished {
		rc.mu.Unlock()
		return
	}
	if b.cancelWhy == "" {
		b.cancelWhy = dialog.ReasonTimeout
	}
	ended := false
	if !b.provisional {
		b.finished = true
		ended = true
		rc.consider(nil, 408)
	}
	ct := b.ct
	if ct == nil {
		b.cancelWanted = true
	}
	rc.mu.Unlock()
	if ct != nil {
		ct.Cancel()
	}
	if ended {
		if b.dlg != nil {
			b.dlg.End(dialog.ReasonTimeout, 408)
		}
		rc.maybeFinish()
	}
}
