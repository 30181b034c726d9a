package ironic

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Lookup retry defaults (ipa-lookup-timeout, ipa-lookup-interval) and the
// ceiling of the random exponential wait.
const (
	DefaultLookupTimeout  = 600 * time.Second
	DefaultLookupInterval = 1 * time.Second
	lookupMaxInterval     = 60 * time.Second
)

// conflictDelays are the extra sleeps after successive 409 replies; the last
// one repeats.
var conflictDelays = []time.Duration{5 * time.Second, 10 * time.Second, 30 * time.Second}

// LookupNode retries Lookup until it succeeds, ctx is done, or timeout has
// passed (then the error wraps ErrLookupTimeout and the last failure). Waits
// between attempts are random exponential between interval and 60 s; a
// locked node (409) adds 5, 10, 30, 30, … s.
func (c *Client) LookupNode(ctx context.Context, macs []string, nodeUUID string, timeout, interval time.Duration) (*LookupResult, error) {
	if len(macs) == 0 && nodeUUID == "" {
		return nil, ErrNoLookupKeys
	}
	conflicts := 0
	var last error
	attempt := func() (*LookupResult, error) {
		res, err := c.Lookup(ctx, macs, nodeUUID)
		if err == nil {
			return res, nil
		}
		last = err
		switch {
		case errors.Is(err, ErrNotFound):
			c.log.Warn("ironic: lookup found no node. Check if inspection has completed?",
				"addresses", strings.Join(macs, ","), "node_uuid", nodeUUID, "error", err)
		case errors.Is(err, ErrConflict):
			d := conflictDelays[min(conflicts, len(conflictDelays)-1)]
			conflicts++
			c.log.Warn("ironic: node is locked, waiting before the next lookup", "delay", d, "error", err)
			if err := sleep(ctx, c.clk, d); err != nil {
				return nil, backoff.Permanent(err)
			}
		default:
			c.log.Warn("ironic: lookup failed, retrying", "error", err)
		}
		return nil, err
	}
	sched := &lookupBackOff{clk: c.clk, rand: c.rand, min: interval, max: lookupMaxInterval, timeout: timeout}
	res, err := backoff.RetryNotifyWithTimerAndData(attempt, backoff.WithContext(sched, ctx), nil, &backoffTimer{clk: c.clk})
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		return nil, fmt.Errorf("%w within %s: %w", ErrLookupTimeout, timeout, last)
	}
}

// lookupBackOff is tenacity's wait_random_exponential(min, max) with
// stop_after_delay(timeout): the n-th wait is uniform in
// [min, clamp(2^(n-1) s, min, max)], and no retry starts once timeout has
// passed since the first attempt.
type lookupBackOff struct {
	clk      clock
	rand     randFloat
	min, max time.Duration
	timeout  time.Duration

	start time.Time
	n     int
}

func (b *lookupBackOff) Reset() {
	b.start = b.clk.Now()
	b.n = 0
}

func (b *lookupBackOff) NextBackOff() time.Duration {
	if b.clk.Now().Sub(b.start) >= b.timeout {
		return backoff.Stop
	}
	b.n++
	high := b.max
	if b.n <= 30 {
		high = min(time.Second<<(b.n-1), b.max)
	}
	high = max(high, b.min)
	return uniform(b.rand, b.min, high)
}
