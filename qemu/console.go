package qemu

import (
	"bytes"
	"context"
	"errors"
	"sync"
)

var errExited = errors.New("qemu exited")

// console collects a stream (QEMU's serial port on stdout) and wakes those
// waiting for some text to appear.
type console struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newConsole() *console { return &console{changed: make(chan struct{})} }

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	close(c.changed)
	c.changed = make(chan struct{})
	return len(p), nil
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// wait returns nil once s has been written, or an error when ctx ends or
// done closes first.
func (c *console) wait(ctx context.Context, s string, done <-chan struct{}) error {
	for {
		c.mu.Lock()
		found := bytes.Contains(c.buf.Bytes(), []byte(s))
		ch := c.changed
		c.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			if bytes.Contains([]byte(c.String()), []byte(s)) {
				return nil
			}
			return errExited
		}
	}
}
