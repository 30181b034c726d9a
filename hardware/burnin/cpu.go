package burnin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"runtime"

	"golang.org/x/sys/unix"
)

// CPUResult is burnin_cpu's report.
type CPUResult struct {
	Workers int     `json:"workers"`
	Rounds  int64   `json:"rounds"`
	Seconds float64 `json:"seconds"`
}

// The integer kernel hashes shaInput (deterministic) shaRounds times; its
// answer is a constant, so even the first core is checked against a value
// computed elsewhere. The floating-point kernel's answer depends on how the
// compiler contracts multiply-adds on the architecture, so the agent
// computes it once and every core must agree with it.
const (
	shaInputSize = 64 << 10
	shaRounds    = 16
	shaAnswer    = "408b660ebe48a82cf0b5a6c90edd78da2b7362ea85ca3684a1a39fdd4d532fae"
	matrixN      = 96
)

// shaInput is the integer kernel's input: a counter stream.
var shaInput = func() []byte {
	b := make([]byte, shaInputSize)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64(i)*0x9e3779b97f4a7c15)
	}
	return b
}()

// shaKernel chains SHA-256 over the input: integer ALU, shifts, rotations.
func shaKernel() []byte {
	sum := sha256.Sum256(shaInput)
	buf := make([]byte, 0, len(shaInput)+sha256.Size)
	for range shaRounds - 1 {
		buf = append(append(buf[:0], sum[:]...), shaInput...)
		sum = sha256.Sum256(buf)
	}
	return sum[:]
}

// matrixKernel multiplies two deterministic matrices and folds the result
// with square roots and divisions: the FPU's multiply, add, divide and
// square root units.
func matrixKernel() []byte {
	const n = matrixN
	a, b, c := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
	for i := range a {
		a[i] = math.Sin(float64(i)) * 1.5
		b[i] = math.Cos(float64(i)*0.5) + 0.25
	}
	for i := range n {
		for k := range n {
			aik := a[i*n+k]
			for j := range n {
				c[i*n+j] += aik * b[k*n+j]
			}
		}
	}
	var acc float64
	for i, v := range c {
		acc += math.Sqrt(math.Abs(v)+1) / float64(i+1)
	}
	return binary.LittleEndian.AppendUint64(nil, math.Float64bits(acc))
}

var kernels = []struct {
	name string
	run  func() []byte
}{{"sha256", shaKernel}, {"matrix", matrixKernel}}

// CPU is burnin_cpu: one worker per CPU (or o.Workers), each pinned to a
// CPU, computes the kernels again and again until o.Timeout and compares
// every answer with the known one. A wrong answer stops the burn-in with
// ErrMismatch naming the CPU; every worker completes at least one round.
func CPU(ctx context.Context, o CPUOptions) (CPUResult, error) {
	cpus := usableCPUs()
	workers := o.Workers
	if workers == 0 {
		workers = len(cpus)
	}
	want := map[string][]byte{"sha256": mustHex(shaAnswer), "matrix": matrixKernel()}
	res := CPUResult{Workers: workers}
	var err error
	res.Rounds, res.Seconds, err = runWorkers(ctx, workers, o.Timeout, func(w int, next func() bool) error {
		cpu := cpus[w%len(cpus)]
		// The thread stays locked: it ends with the goroutine rather than
		// going back to the scheduler pinned to one CPU.
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		_ = unix.SchedSetaffinity(0, &set) // best effort: the check still runs unpinned
		for round := 1; ; round++ {
			for _, k := range kernels {
				got := k.run()
				if o.fault != nil {
					o.fault(w, k.name, got)
				}
				if !bytes.Equal(got, want[k.name]) {
					return fmt.Errorf("%w: worker %d on CPU %d: %s kernel answered %x, want %x (round %d)",
						ErrMismatch, w, cpu, k.name, got, want[k.name], round)
				}
			}
			if !next() {
				return nil
			}
		}
	})
	return res, err
}

// usableCPUs lists the CPUs this process may run on.
func usableCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		var out []int
		for i := range len(set) * 64 {
			if set.IsSet(i) {
				out = append(out, i)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	out := make([]int, runtime.NumCPU())
	for i := range out {
		out[i] = i
	}
	return out
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
