package fakeironic

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Lookup is one recorded GET /v1/lookup.
type Lookup struct {
	Time       time.Time
	Query      url.Values
	Header     http.Header
	APIVersion string // as requested ("" if the header was missing)
	Status     int
	NodeUUID   string // node found, if any
	Token      string // agent_token answered: the token, Masked, or ""
	Error      string // faultstring, if refused
}

// Lookups returns every lookup so far, oldest first.
func (s *Server) Lookups() []Lookup {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Lookup(nil), s.lookups...)
}

// newToken is secrets.token_urlsafe(): 32 random bytes, 43 characters.
func newToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	rec := Lookup{Time: time.Now(), Query: r.URL.Query(), Header: r.Header.Clone(), APIVersion: r.Header.Get(versionHeader)}
	rw := &statusRecorder{ResponseWriter: w}
	defer func() {
		rec.Status, rec.Error = rw.status, rw.errorMessage()
		s.mu.Lock()
		s.lookups = append(s.lookups, rec)
		s.notify()
		s.mu.Unlock()
	}()
	w = rw
	if s.fault(w, r, EndpointLookup) {
		return
	}
	v, ok := s.negotiate(w, r)
	if !ok {
		return
	}
	if v.less(ramdiskVersion) {
		writeError(w, http.StatusNotFound, "The resource could not be found.")
		return
	}
	var macs []string
	for _, list := range rec.Query["addresses"] {
		for _, a := range strings.Split(list, ",") {
			if mac, ok := normalizeMAC(a); ok {
				macs = append(macs, mac)
			}
		}
	}
	nodeUUID := strings.ToLower(rec.Query.Get("node_uuid"))
	if nodeUUID != "" && !uuidRE.MatchString(nodeUUID) {
		writeError(w, http.StatusBadRequest, "Expected a UUID for node_uuid: "+nodeUUID)
		return
	}
	if len(macs) == 0 && nodeUUID == "" {
		writeError(w, http.StatusBadRequest, "At least one of 'addresses' and 'node_uuid' parameters is required")
		return
	}

	s.mu.Lock()
	var n *node
	if nodeUUID != "" {
		n = s.find(nodeUUID)
	} else {
		n = s.findByMACs(macs)
	}
	if n == nil || s.restricted && !s.lookupAllowed(n.ProvisionState) {
		s.mu.Unlock()
		// Same answer for "no such node" and "wrong state", as Ironic.
		writeError(w, http.StatusNotFound, "The resource could not be found.")
		return
	}
	rec.NodeUUID = n.UUID
	cfg := lookupConfig{Config: s.cfg, AgentTokenRequired: true}
	if !v.less(tokenVersion) {
		// get_node_with_token: generated once per operation, masked after.
		tok := Masked
		if _, ok := n.DriverInternalInfo[KeyAgentToken]; !ok {
			tok = newToken()
			n.DriverInternalInfo[KeyAgentToken] = tok
		}
		rec.Token = tok
		cfg.AgentToken = &tok
	}
	body := map[string]any{"node": s.nodeView(r, n), "config": cfg}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) lookupAllowed(state string) bool {
	return stateIn(state, lookupStates) || s.fastTrack && stateIn(state, fastTrackStates)
}

// nodeView is the node as the lookup shows it: four fields, secrets masked.
// Callers hold s.mu.
func (s *Server) nodeView(r *http.Request, n *node) map[string]any {
	ii := deepCopy(n.InstanceInfo)
	for k := range ii {
		if k == "image_url" || k == "configdrive" || strings.Contains(k, "password") {
			ii[k] = Masked
		}
	}
	dii := deepCopy(n.DriverInternalInfo)
	if _, ok := dii[KeyAgentToken]; ok {
		dii[KeyAgentToken] = Masked
	}
	base := "http://" + r.Host
	return map[string]any{
		"uuid":                 n.UUID,
		"properties":           deepCopy(n.Properties),
		"instance_info":        ii,
		"driver_internal_info": dii,
		"links": []map[string]string{
			{"href": base + "/v1/nodes/" + n.UUID, "rel": "self"},
			{"href": base + "/nodes/" + n.UUID, "rel": "bookmark"},
		},
	}
}
