package qemu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testNodeUUID  = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"
	testToken     = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG" // 43 characters, as Ironic's
	ironicGuestIP = GuestServiceIP + ":6385"
)

// ironic is the two ramdisk endpoints of Ironic's API, recording calls.
type ironic struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	lookups    []string    // raw query strings
	heartbeats []heartbeat // in arrival order
	beat       chan struct{}
}

type heartbeat struct {
	at   time.Time
	body map[string]any
}

func newIronic(t testing.TB) *ironic {
	ir := &ironic{t: t, beat: make(chan struct{}, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"name":"OpenStack Ironic API","default_version":{"id":"v1","version":"1.99","min_version":"1.1","status":"CURRENT"}}`)
	})
	mux.HandleFunc("GET /v1/lookup", func(w http.ResponseWriter, r *http.Request) {
		ir.mu.Lock()
		ir.lookups = append(ir.lookups, r.URL.RawQuery)
		ir.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"node":{"uuid":"`+testNodeUUID+`","properties":{},"instance_info":{},"driver_internal_info":{}},`+
			`"config":{"heartbeat_timeout":30,"agent_token":"`+testToken+`","agent_token_required":true}}`)
	})
	mux.HandleFunc("POST /v1/heartbeat/{uuid}", func(w http.ResponseWriter, r *http.Request) {
		hb := heartbeat{at: time.Now()}
		if r.PathValue("uuid") != testNodeUUID || json.NewDecoder(r.Body).Decode(&hb.body) != nil {
			http.Error(w, `{"error_message":"bad heartbeat"}`, http.StatusBadRequest)
			return
		}
		ir.mu.Lock()
		ir.heartbeats = append(ir.heartbeats, hb)
		ir.mu.Unlock()
		select {
		case ir.beat <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	})
	ir.srv = httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(ir.srv.Close)
	return ir
}

// fwd relays the guest's 10.0.2.100:6385 to this server.
func (ir *ironic) fwd() Fwd {
	return Fwd{GuestPort: 6385, HostAddr: strings.TrimPrefix(ir.srv.URL, "http://")}
}

// firstHeartbeat waits for the first heartbeat.
func (ir *ironic) firstHeartbeat(timeout time.Duration) (heartbeat, bool) {
	deadline := time.After(timeout)
	for {
		ir.mu.Lock()
		if len(ir.heartbeats) > 0 {
			hb := ir.heartbeats[0]
			ir.mu.Unlock()
			return hb, true
		}
		ir.mu.Unlock()
		select {
		case <-ir.beat:
		case <-deadline:
			return heartbeat{}, false
		}
	}
}

func (ir *ironic) lookupQueries() []string {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	return append([]string(nil), ir.lookups...)
}
