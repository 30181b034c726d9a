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

// Run sends heartbeats until ctx is done.
func (h *Heartbeater) Run(ctx context.Context) {
	var wait time.Duration
	for {
		t := h.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		case <-h.force:
			t.Stop()
		}
		// The heartbeat about to start satisfies any Force made so far.
		select {
		case <-h.force:
		default:
		}
		err := h.beat(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait = uniform(h.rand, errorInterval, 2*errorInterval)
			h.log.Warn("ironic: heartbeat failed", "error", err, "retry_in", wait)
		} else {
			wait = uniform(h.rand, h.timeout*3/10, h.timeout*6/10)
			h.log.Debug("ironic: heartbeat sent", "next_in", wait)
		}
	}
}
