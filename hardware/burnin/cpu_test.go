package burnin

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCPUPasses(t *testing.T) {
	res, err := CPU(context.Background(), CPUOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Workers != len(usableCPUs()) || res.Rounds < int64(res.Workers) {
		t.Errorf("result = %+v: want a round per usable CPU at least", res)
	}
}

// TestCPUDetectsFault: a worker whose answer is off by one bit fails the
// burn-in, naming the worker and kernel, and the others stop.
func TestCPUDetectsFault(t *testing.T) {
	for _, kernel := range []string{"sha256", "matrix"} {
		t.Run(kernel, func(t *testing.T) {
			var faults atomic.Int32
			o := CPUOptions{Workers: 2, Timeout: time.Hour}
			o.fault = func(worker int, k string, sum []byte) {
				if worker == 1 && k == kernel && faults.Add(1) == 3 {
					sum[len(sum)-1] ^= 1
				}
			}
			begin := time.Now()
			_, err := CPU(context.Background(), o)
			if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "worker 1") || !strings.Contains(err.Error(), kernel) {
				t.Fatalf("err = %v, want a mismatch of worker 1's %s kernel", err, kernel)
			}
			if d := time.Since(begin); d > 10*time.Second {
				t.Errorf("the fault stopped the burn-in only after %v", d)
			}
		})
	}
}

// TestSHAAnswer: the integer kernel's constant is SHA-256's answer, so a
// change to the kernel cannot go unnoticed.
func TestSHAAnswer(t *testing.T) {
	if got := shaKernel(); string(got) != string(mustHex(shaAnswer)) {
		t.Fatalf("shaKernel = %x, want %s", got, shaAnswer)
	}
}

func TestCPUCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if _, err := CPU(ctx, CPUOptions{Workers: 1, Timeout: time.Hour}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("abort took %v", d)
	}
}
