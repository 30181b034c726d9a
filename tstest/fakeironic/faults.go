package fakeironic

import (
	"net/http"
)

// Endpoint names an API endpoint for fault injection.
type Endpoint string

// Endpoints faults can be injected into.
const (
	EndpointRoot      Endpoint = "root"
	EndpointLookup    Endpoint = "lookup"
	EndpointHeartbeat Endpoint = "heartbeat"
)

// Drop, as a status for FailNext, closes the connection without an answer.
const Drop = 0

// FailNext makes the next n requests to ep fail with status (409 gives
// Ironic's NodeLocked message, Drop a closed connection). Faults queue up in
// the order they are added.
func (s *Server) FailNext(ep Endpoint, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[ep] = append(s.faults[ep], status)
	}
}

// fault applies a pending fault for ep, reporting whether it answered.
func (s *Server) fault(w http.ResponseWriter, r *http.Request, ep Endpoint) bool {
	status, ok := s.takeFault(ep)
	if !ok {
		return false
	}
	s.log.Info("ironic fault injected", "endpoint", ep, "status", status)
	writeFault(w, status)
	return true
}

func (s *Server) takeFault(ep Endpoint) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[ep]
	if len(q) == 0 {
		return 0, false
	}
	s.faults[ep] = q[1:]
	return q[0], true
}

func writeFault(w http.ResponseWriter, status int) {
	switch status {
	case Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case http.StatusConflict:
		writeError(w, status, "Node is locked by host fake-conductor, please retry after the current operation is completed.")
	default:
		writeError(w, status, http.StatusText(status))
	}
}
