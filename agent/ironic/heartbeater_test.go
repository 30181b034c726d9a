package ironic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var errBeat = errors.New("ironic unreachable")

// beats records heartbeats made through a fake beat func.
type beats struct {
	clk     *fakeClock
	result  func(n int, now time.Time) error // nil: success
	release chan error                       // non-nil: each beat waits for its result here
	started chan time.Time                   // every beat's start time

	mu          sync.Mutex
	times       []time.Time
	inflight    int
	maxInflight int
}

func newBeats(clk *fakeClock) *beats {
	return &beats{clk: clk, started: make(chan time.Time, 1000)}
}

func (b *beats) beat(ctx context.Context) error {
	now := b.clk.Now()
	b.mu.Lock()
	b.times = append(b.times, now)
	n := len(b.times)
	b.inflight++
	b.maxInflight = max(b.maxInflight, b.inflight)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inflight--
		b.mu.Unlock()
	}()
	b.started <- now
	if b.release != nil {
		select {
		case err := <-b.release:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if b.result != nil {
		return b.result(n, now)
	}
	return nil
}

// intervals returns the gaps between successive heartbeats.
func (b *beats) intervals() []time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(b.times); i++ {
		out = append(out, b.times[i].Sub(b.times[i-1]))
	}
	return out
}

func (b *beats) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.times)
}

// expectStart waits for the next heartbeat and checks when (fake time) it began.
func (b *beats) expectStart(t *testing.T, at time.Time) {
	t.Helper()
	select {
	case got := <-b.started:
		if !got.Equal(at) {
			t.Fatalf("heartbeat at +%v, want +%v", got.Sub(epoch), at.Sub(epoch))
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no heartbeat; want one at +%v", at.Sub(epoch))
	}
}

// expectNone checks that no heartbeat starts for a short real-time while.
func (b *beats) expectNone(t *testing.T) {
	t.Helper()
	select {
	case got := <-b.started:
		t.Fatalf("unexpected heartbeat at +%v", got.Sub(epoch))
	case <-time.After(50 * time.Millisecond):
	}
}

var quiet = slog.New(slog.DiscardHandler)

// runAuto runs a heartbeater on an auto-advancing clock until n heartbeats happened.
func runAuto(t *testing.T, b *beats, timeout time.Duration, r randFloat, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inner := b.result
	b.result = func(i int, now time.Time) error {
		if i == n {
			cancel()
		}
		if inner != nil {
			return inner(i, now)
		}
		return nil
	}
	done := make(chan struct{})
	go func() {
		newHeartbeater(b.beat, timeout, b.clk, r, quiet).Run(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("heartbeater did not stop after cancel")
	}
	if got := b.count(); got != n {
		t.Fatalf("%d heartbeats, want %d", got, n)
	}
}

func TestHeartbeaterIntervalsExact(t *testing.T) {
	const hbTimeout = 300 * time.Second
	for _, tc := range []struct {
		name string
		fail bool
		r    float64
		want time.Duration
	}{
		{"success low", false, 0, 90 * time.Second},
		{"success mid", false, 0.5, 135 * time.Second},
		{"success high", false, 0.999, 179910 * time.Millisecond},
		{"error low", true, 0, 5 * time.Second},
		{"error mid", true, 0.5, 7500 * time.Millisecond},
		{"error high", true, 0.999, 9995 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBeats(newFakeClock(true))
			if tc.fail {
				b.result = func(int, time.Time) error { return errBeat }
			}
			runAuto(t, b, hbTimeout, fixedRand(tc.r), 5)
			if b.times[0] != epoch {
				t.Errorf("first heartbeat at +%v, want at once", b.times[0].Sub(epoch))
			}
			for i, d := range b.intervals() {
				if d != tc.want {
					t.Errorf("interval %d = %v, want %v", i, d, tc.want)
				}
			}
		})
	}
}

func TestHeartbeaterIntervalsRandom(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fail   bool
		lo, hi time.Duration
	}{
		{"success", false, 9 * time.Second, 18 * time.Second}, // heartbeat_timeout 30 s, as in the lab
		{"error", true, 5 * time.Second, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBeats(newFakeClock(true))
			if tc.fail {
				b.result = func(int, time.Time) error { return errBeat }
			}
			rng := rand.New(rand.NewPCG(1, 2))
			runAuto(t, b, 30*time.Second, rng.Float64, 500)
			lo, hi := tc.hi, tc.lo
			for _, d := range b.intervals() {
				if d < tc.lo || d >= tc.hi {
					t.Fatalf("interval %v outside [%v, %v)", d, tc.lo, tc.hi)
				}
				lo, hi = min(lo, d), max(hi, d)
			}
			// Jitter really spreads over the range.
			if span := tc.hi - tc.lo; lo > tc.lo+span/10 || hi < tc.hi-span/10 {
				t.Errorf("intervals only span [%v, %v] of [%v, %v)", lo, hi, tc.lo, tc.hi)
			}
		})
	}
}

// Error then success switches the schedule both ways; a 409 counts as an error.
func TestHeartbeaterSwitchesSchedule(t *testing.T) {
	b := newBeats(newFakeClock(true))
	results := []error{nil, fmt.Errorf("%w: 409", ErrHeartbeatConflict), errBeat, nil, nil}
	b.result = func(n int, _ time.Time) error { return results[n-1] }
	runAuto(t, b, 100*time.Second, fixedRand(0.5), len(results))
	want := []time.Duration{45 * time.Second, 7500 * time.Millisecond, 7500 * time.Millisecond, 45 * time.Second}
	got := b.intervals()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("intervals = %v, want %v", got, want)
			break
		}
	}
}

func TestHeartbeaterDefaultTimeout(t *testing.T) {
	b := newBeats(newFakeClock(true))
	runAuto(t, b, 0, fixedRand(0.5), 2)
	if got := b.intervals()[0]; got != 135*time.Second {
		t.Errorf("interval with no heartbeat_timeout = %v, want 135s (300 s default)", got)
	}
}

// startManual runs a heartbeater on a manual clock; stop it with the returned func.
func startManual(t *testing.T, b *beats, timeout time.Duration) (*Heartbeater, func()) {
	t.Helper()
	h := newHeartbeater(b.beat, timeout, b.clk, fixedRand(0.5), quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.Run(ctx)
		close(done)
	}()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("heartbeater did not stop after cancel")
		}
	}
	t.Cleanup(stop)
	return h, stop
}

func TestHeartbeaterForceIdle(t *testing.T) {
	clk := newFakeClock(false)
	b := newBeats(clk)
	h, _ := startManual(t, b, 100*time.Second) // success interval 45 s
	b.expectStart(t, epoch)
	if got := clk.waitPending(t, 1); got[0] != 45*time.Second {
		t.Fatalf("next heartbeat in %v, want 45s", got)
	}
	clk.Advance(2 * time.Second)
	h.Force()
	// No 5 s floor: sent at once, 2 s after the previous one.
	b.expectStart(t, epoch.Add(2*time.Second))
	clk.waitPending(t, 1) // the old timer was dropped, a new one set
	h.Ack()               // the conductor fetched the commands
	clk.waitTimer(t, 45*time.Second)
	clk.Advance(45*time.Second - time.Nanosecond)
	b.expectNone(t)
	clk.Advance(time.Nanosecond)
	b.expectStart(t, epoch.Add(47*time.Second))
}

func TestHeartbeaterForceAfterError(t *testing.T) {
	clk := newFakeClock(false)
	b := newBeats(clk)
	b.result = func(n int, _ time.Time) error {
		if n == 1 {
			return errBeat
		}
		return nil
	}
	h, _ := startManual(t, b, 100*time.Second)
	b.expectStart(t, epoch)
	if got := clk.waitPending(t, 1); got[0] != 7500*time.Millisecond {
		t.Fatalf("retry in %v, want 7.5s", got)
	}
	h.Force()
	b.expectStart(t, epoch)
}

func TestHeartbeaterForceBeforeRun(t *testing.T) {
	clk := newFakeClock(false)
	b := newBeats(clk)
	h := newHeartbeater(b.beat, 100*time.Second, clk, fixedRand(0.5), quiet)
	h.Force()
	h.Force()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	b.expectStart(t, epoch)
	clk.waitPending(t, 1)
	b.expectNone(t) // the Forces were satisfied by the first heartbeat
}

func TestHeartbeaterForceInFlight(t *testing.T) {
	clk := newFakeClock(false)
	b := newBeats(clk)
	b.release = make(chan error)
	h, _ := startManual(t, b, 100*time.Second)
	b.expectStart(t, epoch)
	// Several Forces while the first heartbeat is in flight…
	h.Force()
	h.Force()
	h.Force()
	b.expectNone(t) // …never start a second one alongside it,
	clk.Advance(3 * time.Second)
	b.release <- nil
	b.expectStart(t, epoch.Add(3*time.Second)) // …but exactly one right after it.
	b.release <- nil
	clk.waitTimer(t, time.Second) // a follow-up until the conductor acts…
	h.Ack()
	clk.waitTimer(t, 45*time.Second) // …then the regular schedule
	b.expectNone(t)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.maxInflight != 1 {
		t.Errorf("%d heartbeats in flight at once", b.maxInflight)
	}
}

// TestHeartbeaterRepeatsUnackedForce: a forced heartbeat the conductor does
// not act on (it was busy with the node) is repeated after 1, 2 and 4 s,
// then the regular schedule resumes; an Ack stops the repeats.
func TestHeartbeaterRepeatsUnackedForce(t *testing.T) {
	clk := newFakeClock(false)
	b := newBeats(clk)
	h, _ := startManual(t, b, 100*time.Second)
	b.expectStart(t, epoch)
	clk.waitPending(t, 1)
	h.Force()
	b.expectStart(t, epoch)
	at := epoch
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if got := clk.waitPending(t, 1); got[0] != d {
			t.Fatalf("follow-up in %v, want %v", got[0], d)
		}
		clk.Advance(d)
		at = at.Add(d)
		b.expectStart(t, at)
	}
	if got := clk.waitPending(t, 1); got[0] != 45*time.Second {
		t.Fatalf("after the follow-ups: next in %v, want the regular 45s", got[0])
	}

	// Acked after the first follow-up: no more follow-ups.
	clk.Advance(45 * time.Second)
	at = at.Add(45 * time.Second)
	b.expectStart(t, at)
	clk.waitPending(t, 1)
	h.Force()
	b.expectStart(t, at)
	clk.waitPending(t, 1)
	clk.Advance(time.Second)
	b.expectStart(t, at.Add(time.Second))
	clk.waitPending(t, 1)
	h.Ack()
	// 45 s after the follow-up that was acked, which started just now.
	clk.waitTimer(t, 45*time.Second)
	b.expectNone(t)
}

func TestHeartbeaterNeverConcurrent(t *testing.T) {
	clk := newFakeClock(false)
	b := newBeats(clk)
	b.result = func(n int, _ time.Time) error {
		time.Sleep(200 * time.Microsecond)
		if n%3 == 0 {
			return errBeat
		}
		return nil
	}
	h, stop := startManual(t, b, 30*time.Second)
	var wg sync.WaitGroup
	var forces atomic.Int32
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				h.Force()
				forces.Add(1)
				clk.Advance(time.Second)
				time.Sleep(50 * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.maxInflight != 1 {
		t.Errorf("%d heartbeats in flight at once", b.maxInflight)
	}
	if len(b.times) < 10 {
		t.Errorf("only %d heartbeats for %d forces", len(b.times), forces.Load())
	}
}

func TestHeartbeaterCancelInFlight(t *testing.T) {
	clk := newFakeClock(false)
	b := newBeats(clk)
	b.release = make(chan error) // never released: only ctx ends the beat
	_, stop := startManual(t, b, 30*time.Second)
	b.expectStart(t, epoch)
	stop() // fails the test if Run does not return
}

// Through the real client: Ironic down for over ten minutes, then back. The
// loop keeps retrying every 5–10 s and resumes the normal cadence.
func TestHeartbeaterSurvivesOutage(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api := &fakeAPI{Version: "1.68"}
	api.Heartbeat = func(n int) (int, string) {
		if n == 3 {
			cancel()
		}
		return 202, ""
	}
	const outage = 11 * time.Minute
	clk := newFakeClock(true)
	var up bool
	clk.onSleep = func(int, time.Duration) {
		if up || clk.Now().Sub(epoch) < outage {
			return
		}
		up = true
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("re-listening on %s: %v", addr, err)
			return
		}
		srv := httptest.NewUnstartedServer(api)
		srv.Listener = l
		srv.Start()
		t.Cleanup(srv.Close)
	}
	c, _ := newTestClient(t, Options{URLs: []string{"http://" + addr}}, clk)
	var calls atomic.Int32
	payload := func() HeartbeatRequest {
		n := calls.Add(1)
		return HeartbeatRequest{CallbackURL: "http://127.0.0.1:9999", AgentToken: testToken, AgentVersion: fmt.Sprint("v", n)}
	}
	done := make(chan struct{})
	go func() {
		NewHeartbeater(c, testUUID, 60*time.Second, payload).Run(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("heartbeats did not resume after the outage")
	}

	sleeps := clk.sleepLog()
	if sleeps[0] != 0 {
		t.Errorf("first heartbeat after %v, want at once", sleeps[0])
	}
	sleeps = sleeps[1:]
	var failed int
	for _, d := range sleeps {
		if d != 7500*time.Millisecond { // error cadence with rand 0.5
			break
		}
		failed++
	}
	if min := int(outage / (10 * time.Second)); failed < min {
		t.Errorf("%d retries during the outage, want at least %d; sleeps %v", failed, min, sleeps)
	}
	rest := sleeps[failed:]
	if len(rest) != 2 || rest[0] != 27*time.Second || rest[1] != 27*time.Second {
		t.Errorf("after recovery sleeps %v, want two of 27s (0.45 × 60 s)", rest)
	}
	hbs := api.requests("/v1/heartbeat/" + testUUID)
	if len(hbs) != 3 {
		t.Fatalf("%d heartbeats reached Ironic, want 3", len(hbs))
	}
	// The payload is built afresh for every heartbeat, failed ones included.
	var body map[string]any
	json.Unmarshal(hbs[2].Body, &body)
	if want := fmt.Sprint("v", calls.Load()); body["agent_version"] != want || calls.Load() < int32(failed) {
		t.Errorf("last heartbeat agent_version %v, want %s (payload calls %d)", body["agent_version"], want, calls.Load())
	}
	if got := hbs[0].Header.Get(headerAPIVersion); got != "1.68" {
		t.Errorf("version after recovery %q, want 1.68", got)
	}
}
