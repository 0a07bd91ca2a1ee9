package pua

import (
	"time"

	"github.com/presenced/presenced/internal/shard"
)

// timerRef is a record's one timer: a refresh or end (set) or a retry
// after a failure (retry), told apart when it fires.
type timerRef struct {
	t        shard.Timer
	sh       *pshard
	retrying bool
}

func (tr *timerRef) init(sh *pshard, fire func(sh *pshard, now time.Time, retry bool)) {
	tr.sh = sh
	tr.t.Fire = func(now time.Time) {
		r := tr.retrying
		tr.retrying = false
		fire(sh, now, r)
	}
}

func (tr *timerRef) set(at time.Time) {
	tr.retrying = false
	tr.sh.Schedule(&tr.t, at)
}

func (tr *timerRef) retry(at time.Time) {
	tr.retrying = true
	tr.sh.Schedule(&tr.t, at)
}

func (tr *timerRef) stop() {
	tr.sh.Cancel(&tr.t)
	tr.retrying = false
}
