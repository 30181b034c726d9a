package burnin

import "errors"

var (
	// ErrInvalidOption: a burn-in knob in driver_info has the wrong type or
	// an impossible value.
	ErrInvalidOption = errors.New("invalid burn-in option")
	// ErrUnsupported: the node asks for a burn-in feature goipa does not have.
	ErrUnsupported = errors.New("not supported by goipa")
	// ErrMismatch: data read back (from memory, a disk or the network)
	// differs from what was written, or a computation gave a wrong answer.
	ErrMismatch = errors.New("burn-in found corrupted data")
	// ErrNoDevices: burnin_disk found no disk it may write to.
	ErrNoDevices = errors.New("no disk to burn in")
)
