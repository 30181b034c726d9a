package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidValue is wrapped by errors for values from the kernel command line
// and config files.
var ErrInvalidValue = errors.New("invalid value")

// The value types below are flag.Values bound to a Config field; every source
// (defaults, files, kernel, flags) goes through their Set. A nil pointer is
// the zero value flag.PrintDefaults builds to decide whether to show a default.

type stringValue struct {
	p     *string
	check func(string) error
}

func (v stringValue) Set(s string) error {
	if v.check != nil && s != "" {
		if err := v.check(s); err != nil {
			return err
		}
	}
	*v.p = s
	return nil
}

func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (stringValue) kind() string { return "string" }

type boolValue struct{ p *bool }

// Set accepts oslo.config's boolean spellings, case-insensitively.
func (v boolValue) Set(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "on":
		*v.p = true
	case "false", "0", "no", "off":
		*v.p = false
	default:
		return errors.New("want true/false, yes/no, on/off or 1/0")
	}
	return nil
}

func (v boolValue) String() string {
	if v.p == nil {
		return "false"
	}
	return strconv.FormatBool(*v.p)
}

func (boolValue) IsBoolFlag() bool { return true }
func (boolValue) kind() string     { return "" }

type intValue struct {
	p        *int
	min, max int // max 0: unbounded
}

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want an integer")
	}
	if err := inRange(n, v.min, v.max); err != nil {
		return err
	}
	*v.p = n
	return nil
}

func (v intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (intValue) kind() string { return "int" }

func inRange(n, lo, hi int) error {
	if hi > 0 && (n < lo || n > hi) {
		return fmt.Errorf("must be between %d and %d", lo, hi)
	}
	if n < lo {
		return fmt.Errorf("must be at least %d", lo)
	}
	return nil
}

// durationValue takes seconds, as IPA does ("30", "0.5"), or a Go duration
// ("1m30s").
type durationValue struct {
	p   *time.Duration
	min time.Duration
}

func (v durationValue) Set(s string) error {
	s = strings.TrimSpace(s)
	var d time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > math.MaxInt64/float64(time.Second) {
			return errors.New("want a number of seconds")
		}
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(s); err != nil {
		return errors.New("want a number of seconds")
	}
	if d < v.min {
		return fmt.Errorf("must be at least %s seconds", formatSeconds(v.min))
	}
	*v.p = d
	return nil
}

func (v durationValue) String() string {
	if v.p == nil {
		return "0"
	}
	return formatSeconds(*v.p)
}

func (durationValue) kind() string { return "seconds" }

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// listValue is a comma-separated list; blank items are dropped and a new
// value replaces the old one, as with oslo.config's ListOpt.
type listValue struct {
	p     *[]string
	check func(string) error
}

func (v listValue) Set(s string) error {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if v.check != nil {
			if err := v.check(item); err != nil {
				return err
			}
		}
		items = append(items, item)
	}
	*v.p = items
	return nil
}

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (listValue) kind() string { return "list" }

// Validators for stringValue.check and listValue.check.

func oneOf(choices ...string) func(string) error {
	return func(s string) error {
		for _, c := range choices {
			if s == c {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(choices, ", "))
	}
}

// endpoint accepts an http(s) URL with a host, or "mdns" (explicit opt-in to
// discovery).
func endpoint(s string) error {
	if s == "mdns" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New(`want http:// or https:// URLs or "mdns"`)
	}
	return nil
}

var apiVersionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)

func apiVersion(s string) error {
	if !apiVersionRE.MatchString(s) {
		return errors.New(`want a version like "1.68"`)
	}
	return nil
}
