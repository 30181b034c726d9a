package fakeironic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HeartbeatBody is the decoded body of POST /v1/heartbeat/<node>.
type HeartbeatBody struct {
	CallbackURL        string `json:"callback_url"`
	AgentToken         string `json:"agent_token,omitempty"`
	AgentVersion       string `json:"agent_version,omitempty"`
	AgentVerifyCA      string `json:"agent_verify_ca,omitempty"`
	AgentStatus        string `json:"agent_status,omitempty"`
	AgentStatusMessage string `json:"agent_status_message,omitempty"`
}

// Heartbeat is one recorded heartbeat request, accepted or not.
type Heartbeat struct {
	Time       time.Time
	NodeIdent  string // as in the URL
	NodeUUID   string // "" if no such node
	APIVersion string // as requested ("" if the header was missing)
	Header     http.Header
	Body       HeartbeatBody
	Status     int    // HTTP status answered
	Error      string // faultstring, if rejected
}

// Accepted reports whether Ironic answered 202.
func (h Heartbeat) Accepted() bool { return h.Status == http.StatusAccepted }

// Heartbeats returns every heartbeat for a node (uuid or name), oldest first.
func (s *Server) Heartbeats(ident string) []Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Heartbeat
	for _, h := range s.heartbeats {
		if h.NodeIdent == ident || h.NodeUUID != "" && h.NodeUUID == strings.ToLower(ident) {
			out = append(out, h)
		}
	}
	return out
}

// WaitHeartbeat waits until a node has n accepted heartbeats and returns the
// n-th.
func (s *Server) WaitHeartbeat(ctx context.Context, uuid string, n int) (Heartbeat, error) {
	var hb Heartbeat
	err := s.waitFor(ctx, func() bool {
		i := 0
		for _, h := range s.heartbeats {
			if h.NodeUUID == uuid && h.Accepted() {
				if i++; i == n {
					hb = h
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		return hb, fmt.Errorf("waiting for heartbeat %d of node %s: %w", n, uuid, err)
	}
	return hb, nil
}

// WaitAgent waits for the first accepted heartbeat of a node since it
// entered its current provision state: the agent of this operation is up.
func (s *Server) WaitAgent(ctx context.Context, uuid string) (Heartbeat, error) {
	var hb Heartbeat
	err := s.waitFor(ctx, func() bool {
		n := s.find(uuid)
		if n == nil {
			return false
		}
		for _, h := range s.heartbeats {
			if h.NodeUUID == n.UUID && h.Accepted() && !h.Time.Before(n.StateSince) {
				hb = h
				return true
			}
		}
		return false
	})
	if err != nil {
		return hb, fmt.Errorf("waiting for the agent of node %s: %w", uuid, err)
	}
	return hb, nil
}

// OnHeartbeat calls fn after every heartbeat is answered (in the request's
// goroutine, so fn must not block). It returns a function that unsubscribes.
func (s *Server) OnHeartbeat(fn func(Heartbeat)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs, id)
	}
}

// heartbeatError is a rejection with its HTTP status.
type heartbeatError struct {
	code int
	msg  string
}

func badRequest(format string, a ...any) *heartbeatError {
	return &heartbeatError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, ident string) {
	hb := Heartbeat{Time: time.Now(), NodeIdent: ident, APIVersion: r.Header.Get(versionHeader), Header: r.Header.Clone()}
	rw := &statusRecorder{ResponseWriter: w}
	defer func() {
		hb.Status, hb.Error = rw.status, rw.errorMessage()
		s.mu.Lock()
		s.heartbeats = append(s.heartbeats, hb)
		subs := make([]func(Heartbeat), 0, len(s.subs))
		for _, fn := range s.subs {
			subs = append(subs, fn)
		}
		s.notify()
		s.mu.Unlock()
		for _, fn := range subs {
			fn(hb)
		}
	}()
	w = rw
	if s.fault(w, r, EndpointHeartbeat) {
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
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var e *heartbeatError
	if err != nil {
		e = badRequest("cannot read request body: %v", err)
	} else {
		e = s.acceptHeartbeat(v, &hb, data)
	}
	if e != nil {
		s.log.Info("ironic heartbeat rejected", "node", ident, "status", e.code, "error", e.msg)
		writeError(w, e.code, e.msg)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// heartbeatFields are the arguments HeartbeatController.post takes.
var heartbeatFields = map[string]bool{
	"callback_url": true, "agent_token": true, "agent_version": true,
	"agent_verify_ca": true, "agent_status": true, "agent_status_message": true,
}

// acceptHeartbeat applies the API's then the conductor's checks and records
// the agent on success.
func (s *Server) acceptHeartbeat(v apiVersion, hb *Heartbeat, data []byte) *heartbeatError {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return badRequest("Invalid JSON in request body: %v", err)
	}
	got := map[string]*string{}
	for k, val := range raw {
		if !heartbeatFields[k] {
			return badRequest("Unknown argument: %q", k)
		}
		if string(val) == "null" {
			continue
		}
		var str string
		if err := json.Unmarshal(val, &str); err != nil {
			return badRequest("Expected string for %s: %s", k, val)
		}
		got[k] = &str
	}
	str := func(k string) string {
		if p := got[k]; p != nil {
			return *p
		}
		return ""
	}
	b := &hb.Body
	*b = HeartbeatBody{str("callback_url"), str("agent_token"), str("agent_version"), str("agent_verify_ca"), str("agent_status"), str("agent_status_message")}

	// API controller (ironic/api/controllers/v1/ramdisk.py).
	if got["callback_url"] == nil {
		return badRequest("Missing mandatory parameter: callback_url")
	}
	if b.AgentVersion != "" && v.less(agentVersionVersion) {
		return badRequest(`Field "agent_version" not recognised`)
	}
	if (b.AgentStatus != "" || b.AgentStatusMessage != "") && v.less(statusVersion) {
		return badRequest(`Fields "agent_status" and "agent_status_message" not recognised.`)
	}
	if got["agent_verify_ca"] != nil && v.less(verifyCAVersion) {
		return badRequest(`Field "agent_verify_ca" not recognised in this version`)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.find(hb.NodeIdent)
	if n == nil {
		return &heartbeatError{http.StatusNotFound, fmt.Sprintf("Node %s could not be found.", hb.NodeIdent)}
	}
	hb.NodeUUID = n.UUID
	dii := n.DriverInternalInfo
	if u, err := url.Parse(b.CallbackURL); b.CallbackURL != "" && (err != nil || !strings.Contains(u.Scheme, "http")) {
		return badRequest(`An issue with the supplied "callback_url" has been detected.`)
	}
	if known, ok := dii[KeyAgentURL].(string); ok && known != b.CallbackURL {
		return badRequest(`Detected change in ramdisk provided "callback_url"`)
	}
	if got["agent_token"] == nil {
		return badRequest("Agent token is required for heartbeat processing.")
	}
	if b.AgentStatus != "" && !stateIn(b.AgentStatus, []string{"start", "end", "error"}) {
		return badRequest("Agent status is invalid. Valid states are start,end,error.")
	}

	// Conductor (ironic/conductor/manager.py heartbeat).
	if b.AgentVersion == "" && b.AgentStatus == "" {
		return badRequest("Heartbeat carries no agent_version.")
	}
	if known, _ := dii[KeyAgentToken].(string); known == "" || known != b.AgentToken {
		return badRequest("Invalid or missing agent token received.")
	}
	if s.requireTLS && b.CallbackURL != "" && !strings.HasPrefix(b.CallbackURL, "https://") {
		return badRequest("TLS is required by configuration")
	}
	if b.AgentVerifyCA != "" {
		if known, _ := dii[KeyAgentVerifyCA].(string); known != "" && strings.TrimSpace(known) != strings.TrimSpace(b.AgentVerifyCA) {
			return badRequest(`Detected change in ramdisk provided "agent_verify_ca"`)
		}
		dii[KeyAgentVerifyCA] = b.AgentVerifyCA
	}
	dii[KeyAgentURL] = b.CallbackURL
	dii[KeyAgentVersion] = b.AgentVersion
	dii[KeyLastHeartbeat] = hb.Time.UTC().Format("2006-01-02T15:04:05.000000")
	return nil
}
