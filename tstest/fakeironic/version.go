package fakeironic

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// API microversions that change what the ramdisk endpoints accept.
var (
	minVersion          = apiVersion{1, 1}
	ramdiskVersion      = apiVersion{1, 22} // /v1/lookup and /v1/heartbeat exist
	agentVersionVersion = apiVersion{1, 36} // heartbeat may carry agent_version
	tokenVersion        = apiVersion{1, 62} // lookup hands out agent_token
	verifyCAVersion     = apiVersion{1, 68} // heartbeat may carry agent_verify_ca
	statusVersion       = apiVersion{1, 72} // heartbeat may carry agent_status
)

const versionHeader = "X-OpenStack-Ironic-API-Version"

type apiVersion struct{ major, minor int }

func (v apiVersion) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

func (v apiVersion) less(o apiVersion) bool {
	return v.major < o.major || v.major == o.major && v.minor < o.minor
}

func parseVersion(s string) (apiVersion, error) {
	maj, min, ok := strings.Cut(strings.TrimSpace(s), ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil || a < 0 || b < 0 {
		return apiVersion{}, fmt.Errorf("invalid API version %q", s)
	}
	return apiVersion{a, b}, nil
}

// negotiate reads the requested microversion the way Ironic does: missing
// means the minimum, "latest" the maximum, anything outside the range 406.
// It sets the version headers Ironic sends on every /v1 reply.
func (s *Server) negotiate(w http.ResponseWriter, r *http.Request) (apiVersion, bool) {
	h := w.Header()
	h.Set(versionHeader+"-Minimum-Version", minVersion.String())
	h.Set(versionHeader+"-Maximum-Version", s.max.String())
	req := r.Header.Get(versionHeader)
	v := minVersion
	switch {
	case req == "":
	case strings.EqualFold(req, "latest"):
		v = s.max
	default:
		var err error
		if v, err = parseVersion(req); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value for %s header: %s", versionHeader, req))
			return v, false
		}
		if v.less(minVersion) || s.max.less(v) {
			writeError(w, http.StatusNotAcceptable, fmt.Sprintf(
				"Version %s was requested but the minor version is not supported by this service. The supported version range is: [%s, %s].",
				v, minVersion, s.max))
			return v, false
		}
	}
	h.Set(versionHeader, v.String())
	return v, true
}
