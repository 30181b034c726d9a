package burnin

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goipa/goipa/hardware/knob"
)

// driver_info keys IPA's burnin.py reads, with its defaults.
const (
	keyCPUCount     = "agent_burnin_cpu_cpu"
	keyCPUTimeout   = "agent_burnin_cpu_timeout"
	keyCPUOutput    = "agent_burnin_cpu_outputfile"
	keyVMCount      = "agent_burnin_vm_vm"
	keyVMBytes      = "agent_burnin_vm_vm-bytes"
	keyVMTimeout    = "agent_burnin_vm_timeout"
	keyVMOutput     = "agent_burnin_vm_outputfile"
	keyDiskLoops    = "agent_burnin_fio_disk_loops"
	keyDiskRuntime  = "agent_burnin_fio_disk_runtime"
	keyDiskOutput   = "agent_burnin_fio_disk_outputfile"
	keyDiskSMART    = "agent_burnin_fio_disk_smart_test"
	keyNetRuntime   = "agent_burnin_fio_network_runtime"
	keyNetOutput    = "agent_burnin_fio_network_outputfile"
	keyNetConfig    = "agent_burnin_fio_network_config"
	keyNetPairWait  = "agent_burnin_fio_network_pairing_timeout"
	keyNetPairURL   = "agent_burnin_fio_network_pairing_backend_url"
	defaultTimeout  = 24 * time.Hour // stress-ng's 86400 s
	defaultVMBytes  = "98%"
	defaultLoops    = 4 // badblocks' default, as IPA
	defaultNetRun   = 6 * time.Hour
	defaultPairWait = 900 * time.Second
	// defaultNetPort is the port IPA's fio network job uses.
	defaultNetPort = 9000
	maxCount       = 4096
	maxLoops       = 1000
)

// CPUOptions are the driver_info knobs of burnin_cpu.
type CPUOptions struct {
	Workers    int           // agent_burnin_cpu_cpu; 0 = one per usable CPU
	Timeout    time.Duration // agent_burnin_cpu_timeout (stress-ng --timeout)
	OutputFile string        // agent_burnin_cpu_outputfile: the JSON report is written there

	// fault, set by tests, alters a worker's result before it is checked.
	fault func(worker int, kernel string, sum []byte)
}

// MemoryOptions are the driver_info knobs of burnin_memory.
type MemoryOptions struct {
	Workers    int           // agent_burnin_vm_vm; 0 = one per usable CPU
	Bytes      string        // agent_burnin_vm_vm-bytes: "98%", "512M", "1073741824"
	Timeout    time.Duration // agent_burnin_vm_timeout
	OutputFile string        // agent_burnin_vm_outputfile

	meminfo string                         // /proc/meminfo unless set by tests
	fault   func(round int, region []byte) // set by tests: runs between fill and verify
}

// DiskOptions are the driver_info knobs of burnin_disk.
type DiskOptions struct {
	// Loops is the number of write-and-verify passes over every disk
	// (agent_burnin_fio_disk_loops) when Runtime is 0.
	Loops int
	// Runtime, if set, makes the burn-in time-based as fio's --time_based:
	// passes repeat until it has elapsed (agent_burnin_fio_disk_runtime).
	Runtime    time.Duration
	OutputFile string // agent_burnin_fio_disk_outputfile

	window      int64                          // bytes written before they are read back; 0 = defaultWindow
	beforeCheck func(dev string, off, n int64) // set by tests: runs between write and read-back of a window
}

// NetworkOptions are the driver_info knobs of burnin_network.
type NetworkOptions struct {
	Role    string        // agent_burnin_fio_network_config.role: "writer" or "reader"
	Partner string        // agent_burnin_fio_network_config.partner: host or host:port
	Runtime time.Duration // agent_burnin_fio_network_runtime, per direction
	// PairingTimeout bounds waiting for the partner, to connect or to be
	// connected to (agent_burnin_fio_network_pairing_timeout).
	PairingTimeout time.Duration
	OutputFile     string // agent_burnin_fio_network_outputfile (".writer"/".reader" appended)

	// Listen is where the writer listens; ":9000" (all addresses, fio's
	// port) when empty.
	Listen string
	// RetryInterval paces the reader's connection attempts; 1 s when 0.
	RetryInterval time.Duration
	fault         func(seq uint64, payload []byte) // set by tests: alters what the writer sends
	idle          time.Duration                    // set by tests: netIdle
}

// ParseCPU reads burnin_cpu's knobs from driver_info.
func ParseCPU(info map[string]any) (CPUOptions, error) {
	var o CPUOptions
	var err error
	if o.Workers, err = intOpt(info, keyCPUCount, 0, 0, maxCount); err != nil {
		return o, err
	}
	if o.Timeout, err = durationOpt(info, keyCPUTimeout, defaultTimeout); err != nil {
		return o, err
	}
	o.OutputFile, err = stringOpt(info, keyCPUOutput)
	return o, err
}

// ParseMemory reads burnin_memory's knobs from driver_info.
func ParseMemory(info map[string]any) (MemoryOptions, error) {
	o := MemoryOptions{Bytes: defaultVMBytes}
	var err error
	if o.Workers, err = intOpt(info, keyVMCount, 0, 0, maxCount); err != nil {
		return o, err
	}
	if o.Timeout, err = durationOpt(info, keyVMTimeout, defaultTimeout); err != nil {
		return o, err
	}
	if v, ok := info[keyVMBytes]; ok && v != nil {
		switch v := v.(type) {
		case string:
			o.Bytes = v
		case float64:
			o.Bytes = strconv.FormatFloat(v, 'f', -1, 64)
		case int, int64, json.Number:
			o.Bytes = fmt.Sprint(v)
		default:
			return o, fmt.Errorf("%w: %s = %v (%T): want a size", ErrInvalidOption, keyVMBytes, v, v)
		}
	}
	// Reject a bad size now, not after other workers started.
	if _, _, err := parseSize(o.Bytes); err != nil {
		return o, fmt.Errorf("%w: %s: %w", ErrInvalidOption, keyVMBytes, err)
	}
	o.OutputFile, err = stringOpt(info, keyVMOutput)
	return o, err
}

// ParseDisk reads burnin_disk's knobs from driver_info.
func ParseDisk(info map[string]any) (DiskOptions, error) {
	var o DiskOptions
	var err error
	if o.Loops, err = intOpt(info, keyDiskLoops, defaultLoops, 1, maxLoops); err != nil {
		return o, err
	}
	if o.Runtime, err = durationOpt(info, keyDiskRuntime, 0); err != nil {
		return o, err
	}
	smart, err := boolOpt(info, keyDiskSMART)
	if err != nil {
		return o, err
	}
	if smart {
		return o, fmt.Errorf("%s: SMART self-tests are %w; the burn-in itself verifies every byte it writes", keyDiskSMART, ErrUnsupported)
	}
	o.OutputFile, err = stringOpt(info, keyDiskOutput)
	return o, err
}

// ParseNetwork reads burnin_network's knobs from driver_info. Only the
// static pairing (agent_burnin_fio_network_config) is supported: IPA's
// dynamic pairing needs a tooz coordination backend.
func ParseNetwork(info map[string]any) (NetworkOptions, error) {
	var o NetworkOptions
	var err error
	if o.Runtime, err = durationOpt(info, keyNetRuntime, defaultNetRun); err != nil {
		return o, err
	}
	if o.Runtime <= 0 {
		return o, fmt.Errorf("%w: %s must be positive", ErrInvalidOption, keyNetRuntime)
	}
	if o.PairingTimeout, err = durationOpt(info, keyNetPairWait, defaultPairWait); err != nil {
		return o, err
	}
	if o.OutputFile, err = stringOpt(info, keyNetOutput); err != nil {
		return o, err
	}
	cfg, ok := info[keyNetConfig]
	if !ok || cfg == nil {
		if u, _ := info[keyNetPairURL].(string); u != "" {
			return o, fmt.Errorf("dynamic pairing through a tooz backend (%s) is %w: set %s to {\"role\": \"writer\"|\"reader\", \"partner\": \"<address>\"}",
				keyNetPairURL, ErrUnsupported, keyNetConfig)
		}
		return o, fmt.Errorf("%w: %s is required ({\"role\": \"writer\"|\"reader\", \"partner\": \"<address>\"}); dynamic pairing through tooz is not supported",
			ErrInvalidOption, keyNetConfig)
	}
	if s, isStr := cfg.(string); isStr {
		// Set from the CLI, the dict arrives as JSON text.
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return o, fmt.Errorf("%w: %s: %v", ErrInvalidOption, keyNetConfig, err)
		}
		cfg = m
	}
	m, ok := cfg.(map[string]any)
	if !ok {
		return o, fmt.Errorf("%w: %s = %v (%T): want an object with role and partner", ErrInvalidOption, keyNetConfig, cfg, cfg)
	}
	o.Role, _ = m["role"].(string)
	o.Partner, _ = m["partner"].(string)
	if o.Role != roleWriter && o.Role != roleReader {
		return o, fmt.Errorf("%w: %s: unknown role %v: want writer or reader", ErrInvalidOption, keyNetConfig, m["role"])
	}
	if o.Partner == "" {
		return o, fmt.Errorf("%w: %s: partner (the other node's address) is required", ErrInvalidOption, keyNetConfig)
	}
	if _, err := partnerAddr(o.Partner); err != nil {
		return o, fmt.Errorf("%w: %s: %w", ErrInvalidOption, keyNetConfig, err)
	}
	return o, nil
}

func stringOpt(m map[string]any, key string) (string, error) {
	switch v := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", fmt.Errorf("%w: %s = %v (%T): want a string", ErrInvalidOption, key, m[key], m[key])
}

// durationOpt reads a time as stress-ng and fio take it: a number of
// seconds, or a number with a unit (ms, s, m, h, d).
func durationOpt(m map[string]any, key string, def time.Duration) (time.Duration, error) {
	var secs float64
	switch v := m[key].(type) {
	case nil:
		return def, nil
	case float64:
		secs = v
	case int:
		secs = float64(v)
	case int64:
		secs = float64(v)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return 0, fmt.Errorf("%w: %s = %v: %v", ErrInvalidOption, key, v, err)
		}
		secs = f
	case string:
		d, err := parseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("%w: %s = %q: %w", ErrInvalidOption, key, v, err)
		}
		return d, nil
	default:
		return 0, fmt.Errorf("%w: %s = %v (%T): want a time in seconds", ErrInvalidOption, key, v, v)
	}
	if secs < 0 || secs > 366*86400 || math.IsNaN(secs) {
		return 0, fmt.Errorf("%w: %s = %v: want 0 to a year in seconds", ErrInvalidOption, key, secs)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

var units = []struct {
	suffix string
	d      time.Duration
}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}

func parseDuration(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	unit := time.Second
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, unit = num, u.d
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f*float64(unit) > float64(366*24*time.Hour) {
		return 0, errors.New("want a non-negative number with an optional unit (ms, s, m, h, d), at most a year")
	}
	return time.Duration(f * float64(unit)), nil
}

// parseSize reads stress-ng's --vm-bytes: bytes with an optional unit
// (b, k, m, g, t; powers of 1024) or a percentage of available memory.
// It returns either bytes or the percentage.
func parseSize(s string) (bytes int64, percent float64, err error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return 0, 0, fmt.Errorf("%q: want a percentage above 0 and at most 100", s)
		}
		return 0, f, nil
	}
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'b':
			s = s[:n-1]
		case 'k':
			mult, s = 1<<10, s[:n-1]
		case 'm':
			mult, s = 1<<20, s[:n-1]
		case 'g':
			mult, s = 1<<30, s[:n-1]
		case 't':
			mult, s = 1<<40, s[:n-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, 0, fmt.Errorf("%q: want a positive size with an optional unit (k, m, g, t) or a percentage", s)
	}
	return n * mult, 0, nil
}

// boolOpt reads a boolean knob; unset is false.
func boolOpt(m map[string]any, key string) (bool, error) {
	b, err := knob.Bool(m, key, false)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	return b, nil
}

func intOpt(m map[string]any, key string, def, lo, hi int) (int, error) {
	n, err := knob.Int(m, key, def, lo, hi)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	return n, nil
}
