package ironic

import (
	"context"
	"math/rand/v2"
	"time"
)

// clock is the time source of the retry and heartbeat loops; tests swap in a
// fake one so schedules measured in minutes run in milliseconds.
type clock interface {
	Now() time.Time
	NewTimer(d time.Duration) timer
}

type timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// randFloat returns a number in [0, 1); injectable for the same reason as clock.
type randFloat func() float64

var defaultRand randFloat = rand.Float64

// sleep waits for d on clk, or until ctx is done.
func sleep(ctx context.Context, clk clock, d time.Duration) error {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// uniform returns a duration drawn from [lo, hi).
func uniform(r randFloat, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r()*float64(hi-lo))
}

// backoffTimer adapts clock to backoff.Timer.
type backoffTimer struct {
	clk clock
	t   timer
}

func (b *backoffTimer) Start(d time.Duration) {
	if b.t != nil {
		b.t.Stop()
	}
	b.t = b.clk.NewTimer(d)
}

func (b *backoffTimer) Stop() {
	if b.t != nil {
		b.t.Stop()
	}
}

func (b *backoffTimer) C() <-chan time.Time { return b.t.C() }
