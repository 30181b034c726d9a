package ironic

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock driven by the test. In auto mode every timer fires at
// once and moves the clock forward by its duration, so a retry schedule runs
// to completion instantly; otherwise timers fire only on Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	auto    bool
	timers  []*fakeTimer
	sleeps  []time.Duration              // auto mode: every timer's duration
	onSleep func(n int, d time.Duration) // auto mode: called after the n-th timer (from 1)
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newFakeClock(auto bool) *fakeClock { return &fakeClock{now: epoch, auto: auto} }

type fakeTimer struct {
	clk    *fakeClock
	when   time.Time
	d      time.Duration
	ch     chan time.Time
	active bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) timer {
	c.mu.Lock()
	t := &fakeTimer{clk: c, d: d, ch: make(chan time.Time, 1)}
	if c.auto {
		c.now = c.now.Add(max(d, 0))
		c.sleeps = append(c.sleeps, d)
		n, hook := len(c.sleeps), c.onSleep
		t.ch <- c.now
		c.mu.Unlock()
		if hook != nil {
			hook(n, d)
		}
		return t
	}
	defer c.mu.Unlock()
	t.when = c.now.Add(d)
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	t.active = true
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	var keep []*fakeTimer
	for _, t := range c.timers {
		switch {
		case !t.active:
		case !t.when.After(c.now):
			t.active = false
			t.ch <- c.now
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
}

// pending returns the durations of the timers not yet fired or stopped.
func (c *fakeClock) pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []time.Duration
	for _, t := range c.timers {
		if t.active {
			ds = append(ds, t.d)
		}
	}
	return ds
}

// waitPending waits (in real time, briefly) until exactly n timers are
// pending and returns their durations.
func (c *fakeClock) waitPending(t *testing.T, n int) []time.Duration {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ds := c.pending()
		if len(ds) == n {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %d pending timers, have %v", n, ds)
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *fakeClock) sleepLog() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// fixedRand always returns v.
func fixedRand(v float64) randFloat { return func() float64 { return v } }

// waitTimer waits (in real time, briefly) until the only pending timer has
// duration want, e.g. after an event made the loop replace its timer.
func (c *fakeClock) waitTimer(t *testing.T, want time.Duration) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ds := c.pending()
		if len(ds) == 1 && ds[0] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for a single %v timer, have %v", want, ds)
		}
		time.Sleep(time.Millisecond)
	}
}
