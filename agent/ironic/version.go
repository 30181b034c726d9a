package ironic

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Version is a bare metal API microversion such as 1.68.
type Version struct {
	Major, Minor int
}

// API versions the agent protocol cares about.
var (
	// VersionMin is assumed when the API does not say what it supports.
	VersionMin = Version{1, 31}
	// VersionAgentVersion is the first version accepting agent_version in a heartbeat.
	VersionAgentVersion = Version{1, 36}
	// VersionAgentToken is the first version handing out and accepting agent tokens.
	VersionAgentToken = Version{1, 62}
	// VersionAgentVerifyCA is the first version accepting agent_verify_ca in a heartbeat.
	VersionAgentVerifyCA = Version{1, 68}
)

// ParseVersion parses "MAJOR.MINOR".
func ParseVersion(s string) (Version, error) {
	maj, min, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return Version{}, fmt.Errorf("invalid API version %q: want MAJOR.MINOR", s)
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil || a < 0 || b < 0 {
		return Version{}, fmt.Errorf("invalid API version %q: want MAJOR.MINOR", s)
	}
	return Version{a, b}, nil
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than o.
func (v Version) Compare(o Version) int {
	if c := cmp.Compare(v.Major, o.Major); c != 0 {
		return c
	}
	return cmp.Compare(v.Minor, o.Minor)
}

// AtLeast reports whether v >= o.
func (v Version) AtLeast(o Version) bool { return v.Compare(o) >= 0 }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// capVersion returns the older of v and limit.
func capVersion(v, limit Version) Version {
	if v.Compare(limit) > 0 {
		return limit
	}
	return v
}
