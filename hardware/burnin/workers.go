package burnin

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// runWorkers runs work on n goroutines and waits for them all. Each calls
// next after every round it completes and stops once next answers false:
// the timeout has passed or another worker failed; the first error cancels
// the others and is returned, with the rounds completed and the seconds
// the workers ran.
func runWorkers(ctx context.Context, n int, timeout time.Duration,
	work func(w int, next func() bool) error) (int64, float64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deadline := time.Now().Add(timeout)
	var rounds atomic.Int64
	next := func() bool {
		rounds.Add(1)
		return ctx.Err() == nil && time.Now().Before(deadline)
	}
	var wg sync.WaitGroup
	begin := time.Now()
	for w := range n {
		wg.Go(func() {
			if err := work(w, next); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	return rounds.Load(), time.Since(begin).Seconds(), context.Cause(ctx)
}
