package ironic

import (
	"context"
	"log/slog"
	"time"
)

// errorInterval is the base wait after a failed heartbeat; the actual wait is
// 1–2 times it.
const errorInterval = 5 * time.Second

// defaultHeartbeatTimeout is Ironic's [api]ramdisk_heartbeat_timeout default,
// used if the caller passes none.
const defaultHeartbeatTimeout = 300 * time.Second

// Heartbeater sends heartbeats for one node until its context ends.
//
// The first heartbeat goes out at once. After a success the next is due in
// heartbeatTimeout × U(0.3, 0.6), after any failure (409 included) in
// 5 s × U(1, 2); failures never stop the loop, however long Ironic is away.
// Force asks for one as soon as possible. At most one heartbeat is in flight.
type Heartbeater struct {
	beat    func(context.Context) error
	timeout time.Duration
	force   chan struct{}
	ack     chan struct{}
	clk     clock
	rand    randFloat
	log     *slog.Logger
}

// NewHeartbeater returns a Heartbeater posting heartbeats through c for node
// nodeUUID. heartbeatTimeout is config.heartbeat_timeout from the lookup.
// payload is called for every heartbeat, so the callback URL and certificate
// may be settled after the loop is created.
func NewHeartbeater(c *Client, nodeUUID string, heartbeatTimeout time.Duration, payload func() HeartbeatRequest) *Heartbeater {
	beat := func(ctx context.Context) error { return c.Heartbeat(ctx, nodeUUID, payload()) }
	return newHeartbeater(beat, heartbeatTimeout, c.clk, c.rand, c.log)
}

func newHeartbeater(beat func(context.Context) error, timeout time.Duration, clk clock, r randFloat, log *slog.Logger) *Heartbeater {
	if timeout <= 0 {
		timeout = defaultHeartbeatTimeout
	}
	return &Heartbeater{
		beat:    beat,
		timeout: timeout,
		// One slot: Forces arriving while a heartbeat is in flight collapse
		// into a single follow-up heartbeat.
		force: make(chan struct{}, 1),
		ack:   make(chan struct{}, 1),
		clk:   clk,
		rand:  r,
		log:   log,
	}
}

// Force requests a heartbeat as soon as possible: at once if none is in
// flight, else right after the one in flight. It never blocks.
func (h *Heartbeater) Force() {
	select {
	case h.force <- struct{}{}:
	default:
	}
}

// Ack tells the heartbeater that the conductor acted on a heartbeat: it
// called the command API. It never blocks.
func (h *Heartbeater) Ack() {
	select {
	case h.ack <- struct{}{}:
	default:
	}
}

// followUps are the pauses before repeating a forced heartbeat that the
// conductor has not acted on. A conductor busy with the node (for instance
// still inside the heartbeat that started the command that just ended)
// drops heartbeats silently; IPA hides this behind a 5 s floor, goipa
// repeats the heartbeat until the conductor shows up.
var followUps = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}

// Run sends heartbeats until ctx is done.
func (h *Heartbeater) Run(ctx context.Context) {
	deadline := h.clk.Now()
	var last time.Time
	acked := true // no forced heartbeat waits for the conductor
	tries := 0    // follow-ups sent for the last forced heartbeat
	for {
		t := h.clk.NewTimer(max(0, deadline.Sub(h.clk.Now())))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		case <-h.force:
			t.Stop()
			acked, tries = false, 0
		case <-h.ack:
			t.Stop()
			if !acked {
				acked = true
				deadline = last.Add(h.successInterval())
			}
			continue
		}
		// The heartbeat about to start satisfies any Force made so far, and
		// only an Ack after it counts.
		select {
		case <-h.force:
		default:
		}
		select {
		case <-h.ack:
		default:
		}
		last = h.clk.Now()
		err := h.beat(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			acked = true
			wait := uniform(h.rand, errorInterval, 2*errorInterval)
			deadline = h.clk.Now().Add(wait)
			h.log.Warn("ironic: heartbeat failed", "error", err, "retry_in", wait)
		case !acked && tries < len(followUps):
			deadline = h.clk.Now().Add(followUps[tries])
			tries++
		default:
			acked = true
			wait := h.successInterval()
			deadline = h.clk.Now().Add(wait)
			h.log.Debug("ironic: heartbeat sent", "next_in", wait)
		}
	}
}

func (h *Heartbeater) successInterval() time.Duration {
	return uniform(h.rand, h.timeout*3/10, h.timeout*6/10)
}
