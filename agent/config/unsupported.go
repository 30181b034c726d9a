package config

import (
	"errors"
	"fmt"
)

// ErrUnsupported is an IPA option goipa reads but does not implement: it is
// refused at start with a message, never silently ignored.
var ErrUnsupported = errors.New("not supported by goipa")

// unsupported refuses the options set that goipa does not implement.
func (c *Config) unsupported() error {
	var errs []error
	if c.UseMDNS {
		errs = append(errs, fmt.Errorf("ipa-use-mdns: %w: Ironic is not discovered by mDNS, set ipa-api-url", ErrUnsupported))
	}
	if len(c.InspectionBenchmarks) > 0 {
		errs = append(errs, fmt.Errorf("ipa-inspection-benchmarks=%v: %w: the ramdisk runs no benchmarks during inspection",
			c.InspectionBenchmarks, ErrUnsupported))
	}
	return errors.Join(errs...)
}
