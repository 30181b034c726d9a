package hardware

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Root says where the kernel's interfaces are; the zero value is the
// running system. Tests point it at fake trees.
type Root struct {
	Sys  string // default /sys
	Proc string // default /proc
	Dev  string // default /dev; by-path links are read from Dev/disk/by-path
	// Log hears what the inventory could not read; nil discards it.
	Log *slog.Logger
}

func (r Root) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

func (r Root) sys(p ...string) string {
	return filepath.Join(append([]string{or(r.Sys, "/sys")}, p...)...)
}
func (r Root) proc(p ...string) string {
	return filepath.Join(append([]string{or(r.Proc, "/proc")}, p...)...)
}
func (r Root) dev(p ...string) string {
	return filepath.Join(append([]string{or(r.Dev, "/dev")}, p...)...)
}

// live reports whether r is the running system, where facts that have no
// file (addresses, permanent MACs) may be asked of the kernel directly.
func (r Root) live() bool { return r.Sys == "" || r.Sys == "/sys" }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// readString returns a sysfs attribute without surrounding blanks, false
// when it is missing or empty.
func readString(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	s := strings.TrimSpace(strings.Trim(string(b), "\x00"))
	return s, s != ""
}

func readOptional(path string) *string {
	if s, ok := readString(path); ok {
		return &s
	}
	return nil
}

func readInt(path string) (int64, bool) {
	s, ok := readString(path)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 0, 64)
	return n, err == nil
}

func readBool(path string) bool {
	s, _ := readString(path)
	return s == "1"
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func ptr[T any](v T) *T { return &v }
