package erase

import (
	"sync"
	"time"
)

// progressEvery limits how often a device's progress is reported; the
// first and last reports of each method always go out.
const progressEvery = time.Second

type reporter struct {
	fn   func(Progress)
	mu   sync.Mutex
	p    Progress
	last time.Time
}

func newReporter(fn func(Progress), device string) *reporter {
	return &reporter{fn: fn, p: Progress{Device: device}}
}

// start begins a method whose work is total bytes in passes passes.
func (r *reporter) start(m Method, passes int, total int64) {
	if r.fn == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p = Progress{Device: r.p.Device, Method: m, Passes: passes, Total: total}
	r.last = time.Now()
	r.fn(r.p)
}

// update reports done bytes within pass (1-based).
func (r *reporter) update(pass int, done int64) {
	if r.fn == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p.Pass, r.p.Done = pass, done
	if done < r.p.Total && time.Since(r.last) < progressEvery {
		return
	}
	r.last = time.Now()
	r.fn(r.p)
}
