package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/goipa/goipa/hardware"
)

func TestWaitForDisks(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name     string
		appearAt int // the list call that first shows a disk; 0: never
		attempts int
		calls    int
	}{
		{"disk at once", 1, 10, 1},
		{"disk on the third look", 3, 10, 3},
		{"never: gives up after the attempts", 0, 4, 4},
		{"disabled", 0, 0, 0},
	} {
		calls := 0
		list := func() ([]hardware.BlockDevice, error) {
			calls++
			if tc.appearAt > 0 && calls >= tc.appearAt {
				return []hardware.BlockDevice{{Name: "/dev/vda"}}, nil
			}
			return nil, nil
		}
		wait := WaitForDisks(nil, list, tc.attempts, time.Millisecond, log)
		for range 2 { // only the first call waits
			if err := wait(context.Background()); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		if calls != tc.calls {
			t.Errorf("%s: %d looks, want %d", tc.name, calls, tc.calls)
		}
	}
	failed := errors.New("drivers")
	if err := WaitForDisks(func(context.Context) error { return failed }, nil, 3, time.Millisecond, log)(context.Background()); !errors.Is(err, failed) {
		t.Errorf("ready's error = %v, want it passed on", err)
	}
}
