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
	_, err := c.find(ctx, done, func(b []byte) (string, bool) { return s, bytes.Contains(b, []byte(s)) })
	return err
}

// waitLine returns the first complete line holding s once it has been
// written.
func (c *console) waitLine(ctx context.Context, s string, done <-chan struct{}) (string, error) {
	return c.find(ctx, done, func(b []byte) (string, bool) {
		i := bytes.Index(b, []byte(s))
		if i < 0 {
			return "", false
		}
		end := bytes.IndexByte(b[i:], '\n')
		if end < 0 {
			return "", false
		}
		return string(bytes.TrimSpace(b[bytes.LastIndexByte(b[:i], '\n')+1 : i+end])), true
	})
}

// find waits until match accepts what has been written.
func (c *console) find(ctx context.Context, done <-chan struct{}, match func([]byte) (string, bool)) (string, error) {
	for {
		c.mu.Lock()
		got, found := match(c.buf.Bytes())
		ch := c.changed
		c.mu.Unlock()
		if found {
			return got, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		case <-done:
			if got, found := match([]byte(c.String())); found {
				return got, nil
			}
			return "", errExited
		}
	}
}
