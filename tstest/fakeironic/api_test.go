package fakeironic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	testMAC  = "52:54:00:12:34:56"
	testUUID = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"
)

type reply struct {
	code   int
	body   []byte
	header http.Header
}

func (r reply) msg() string { return ErrorMessage(r.body) }

func do(t *testing.T, method, url, version string, body any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, ok := body.([]byte)
		if !ok {
			data, _ = json.Marshal(body)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return reply{}
	}
	if version != "" {
		req.Header.Set(versionHeader, version)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return reply{}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, data, resp.Header}
}

func newServer(t *testing.T, opts Options, state string) *Server {
	t.Helper()
	s := NewTest(t, opts)
	_, err := s.AddNode(Node{UUID: testUUID, Name: "node-0", MACs: []string{testMAC}, ProvisionState: state,
		Properties:   map[string]any{"root_device": map[string]any{"name": "/dev/vda"}},
		InstanceInfo: map[string]any{"image_url": "http://127.0.0.1:1/secret.img", "configdrive": "H4sI", "image_disk_format": "raw"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRootVersionDocument(t *testing.T) {
	for _, max := range []string{"", "1.68"} {
		s := NewTest(t, Options{MaxVersion: max})
		r := do(t, "GET", s.URL()+"/", "", nil)
		var doc struct {
			Default struct {
				Version    string
				MinVersion string `json:"min_version"`
			} `json:"default_version"`
			Versions []struct{ ID, Version string }
		}
		if err := json.Unmarshal(r.body, &doc); err != nil || r.code != 200 {
			t.Fatalf("GET / = %d %s", r.code, r.body)
		}
		want := max
		if want == "" {
			want = "1.82"
		}
		if doc.Default.Version != want || doc.Default.MinVersion != "1.1" || len(doc.Versions) != 1 || doc.Versions[0].ID != "v1" {
			t.Errorf("max %q: doc = %+v", max, doc)
		}
	}
	if _, err := New(Options{MaxVersion: "1.5"}); err == nil {
		t.Error("MaxVersion below 1.22: want error")
	}
}

func TestLookupValidation(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		state   string
		query   string
		version string
		code    int
		msg     string
	}{
		{"ok by MAC", Options{}, StateDeployWait, "addresses=" + testMAC, "1.62", 200, ""},
		{"ok upper case MAC among invalid", Options{}, StateCleanWait, "addresses=zz:zz,52:54:00:12:34:56,fa:16", "1.62", 200, ""},
		{"ok by uuid", Options{}, StateInspectWait, "node_uuid=" + testUUID, "1.62", 200, ""},
		{"ok latest", Options{}, StateDeploying, "addresses=" + testMAC, "latest", 200, ""},
		{"no version header", Options{}, StateDeployWait, "addresses=" + testMAC, "", 404, "The resource could not be found."},
		{"version below 1.22", Options{}, StateDeployWait, "addresses=" + testMAC, "1.21", 404, "The resource could not be found."},
		{"version above max", Options{}, StateDeployWait, "addresses=" + testMAC, "1.83", 406, "supported version range is: [1.1, 1.82]"},
		{"bad version", Options{}, StateDeployWait, "addresses=" + testMAC, "one.two", 400, "Invalid value for X-OpenStack-Ironic-API-Version"},
		{"no params", Options{}, StateDeployWait, "", "1.62", 400, "At least one of 'addresses' and 'node_uuid' parameters is required"},
		{"only invalid MACs", Options{}, StateDeployWait, "addresses=foo,11:22", "1.62", 400, "At least one of"},
		{"bad uuid", Options{}, StateDeployWait, "node_uuid=nope", "1.62", 400, "Expected a UUID"},
		{"unknown MAC", Options{}, StateDeployWait, "addresses=52:54:00:00:00:01", "1.62", 404, "The resource could not be found."},
		{"unknown uuid", Options{}, StateDeployWait, "node_uuid=00000000-0000-4000-8000-000000000000", "1.62", 404, "The resource could not be found."},
		{"restricted state", Options{}, StateAvailable, "addresses=" + testMAC, "1.62", 404, "The resource could not be found."},
		{"restricted active", Options{}, StateActive, "addresses=" + testMAC, "1.62", 404, "The resource could not be found."},
		{"fast track available", Options{FastTrack: true}, StateAvailable, "addresses=" + testMAC, "1.62", 200, ""},
		{"fast track active", Options{FastTrack: true}, StateActive, "addresses=" + testMAC, "1.62", 404, "The resource could not be found."},
		{"unrestricted", Options{UnrestrictedLookup: true}, StateActive, "addresses=" + testMAC, "1.62", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.opts, tt.state)
			r := do(t, "GET", s.URL()+"/v1/lookup?"+tt.query, tt.version, nil)
			if r.code != tt.code || !strings.Contains(r.msg(), tt.msg) {
				t.Fatalf("lookup = %d %q, want %d %q", r.code, r.msg(), tt.code, tt.msg)
			}
			if got := s.Lookups(); len(got) != 1 || got[0].Status != tt.code || got[0].APIVersion != tt.version || got[0].Error != r.msg() {
				t.Errorf("recorded lookups = %+v", got)
			}
			if r.code == 200 && r.header.Get(versionHeader) == "" {
				t.Error("no version header in reply")
			}
		})
	}
}

type lookupReply struct {
	Node   map[string]any `json:"node"`
	Config map[string]any `json:"config"`
}

func lookup(t *testing.T, s *Server, version string) lookupReply {
	t.Helper()
	r := do(t, "GET", s.URL()+"/v1/lookup?addresses="+testMAC, version, nil)
	if r.code != 200 {
		t.Fatalf("lookup = %d %s", r.code, r.body)
	}
	var lr lookupReply
	if err := json.Unmarshal(r.body, &lr); err != nil {
		t.Fatal(err)
	}
	return lr
}

func TestLookupReplyAndTokenOnce(t *testing.T) {
	s := newServer(t, Options{}, StateDeployWait)
	first := lookup(t, s, "1.62")
	tok, _ := first.Config["agent_token"].(string)
	if len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q: want 43 URL-safe characters", tok)
	}
	if first.Config["agent_token_required"] != true || first.Config["heartbeat_timeout"] != 300.0 {
		t.Errorf("config = %v", first.Config)
	}
	var keys []string
	for k := range first.Node {
		keys = append(keys, k)
	}
	if len(keys) != 5 || first.Node["uuid"] != testUUID || first.Node["links"] == nil {
		t.Errorf("node fields = %v", keys)
	}
	ii := first.Node["instance_info"].(map[string]any)
	if ii["image_url"] != Masked || ii["configdrive"] != Masked || ii["image_disk_format"] != "raw" {
		t.Errorf("instance_info not masked right: %v", ii)
	}
	if root := first.Node["properties"].(map[string]any)["root_device"]; root == nil {
		t.Error("properties lost root_device")
	}
	if dii := first.Node["driver_internal_info"].(map[string]any); dii[KeyAgentToken] != Masked {
		t.Errorf("token not masked in node: %v", dii)
	}

	second := lookup(t, s, "1.68")
	if second.Config["agent_token"] != Masked {
		t.Errorf("second lookup token = %v, want %q", second.Config["agent_token"], Masked)
	}
	if n, _ := s.Node(testUUID); n.DriverInternalInfo[KeyAgentToken] != tok {
		t.Errorf("stored token changed")
	}
	if err := s.WipeAgentInfo(testUUID); err != nil {
		t.Fatal(err)
	}
	third := lookup(t, s, "1.62")
	if t3, _ := third.Config["agent_token"].(string); len(t3) != 43 || t3 == tok {
		t.Errorf("token after wipe = %q", t3)
	}
	if got := s.Lookups(); len(got) != 3 || got[0].Token != tok || got[1].Token != Masked || got[2].NodeUUID != testUUID {
		t.Errorf("recorded lookups = %+v", got)
	}
}

func TestLookupOldVersionNoToken(t *testing.T) {
	s := newServer(t, Options{}, StateDeployWait)
	lr := lookup(t, s, "1.61")
	if v, ok := lr.Config["agent_token"]; !ok || v != nil {
		t.Errorf("agent_token = %v (present %v), want null", v, ok)
	}
	if n, _ := s.Node(testUUID); n.DriverInternalInfo[KeyAgentToken] != nil {
		t.Error("token generated for API 1.61")
	}
}

func TestSetConfig(t *testing.T) {
	s := newServer(t, Options{}, StateDeployWait)
	cfg := DefaultConfig()
	cfg.HeartbeatTimeout = 2
	cfg.EnableBIOSBootloaderInstall = true
	cfg.TLSMinVersion = "1.3"
	s.SetConfig(cfg)
	lr := lookup(t, s, "1.62")
	if lr.Config["heartbeat_timeout"] != 2.0 || lr.Config["enable_bios_bootloader_install"] != true || lr.Config["tls_min_version"] != "1.3" {
		t.Errorf("config = %v", lr.Config)
	}
}

func TestFaults(t *testing.T) {
	s := newServer(t, Options{}, StateDeployWait)
	s.FailNext(EndpointLookup, http.StatusConflict, 2)
	s.FailNext(EndpointLookup, http.StatusServiceUnavailable, 1)
	url := s.URL() + "/v1/lookup?addresses=" + testMAC
	for i, want := range []int{409, 409, 503, 200} {
		r := do(t, "GET", url, "1.62", nil)
		if r.code != want {
			t.Fatalf("lookup %d = %d, want %d", i, r.code, want)
		}
		if want == 409 && !strings.Contains(r.msg(), "is locked by host") {
			t.Errorf("409 message = %q", r.msg())
		}
	}
	s.FailNext(EndpointHeartbeat, Drop, 1)
	if _, err := http.Post(s.URL()+"/v1/heartbeat/"+testUUID, "application/json", strings.NewReader("{}")); err == nil {
		t.Error("dropped heartbeat: want a transport error")
	}
	// The record is written after the connection is closed: wait for it.
	var hb []Heartbeat
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if hb = s.Heartbeats(testUUID); len(hb) > 0 {
			break
		}
	}
	if len(hb) != 1 || hb[0].Accepted() {
		t.Errorf("dropped heartbeat record = %+v", hb)
	}

	if err := s.SetDown(true); err != nil {
		t.Fatal(err)
	}
	_, err := http.Get(url)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("down: err = %v, want connection refused", err)
	}
	if err := s.SetDown(false); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "GET", url, "1.62", nil); r.code != 200 {
		t.Errorf("up again: %d", r.code)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	s, _ := New(Options{})
	if err := s.Start(context.Background(), "0.0.0.0:0"); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("Start(0.0.0.0) = %v", err)
	}
}

// tokenFor looks the node up and returns its fresh token.
func tokenFor(t *testing.T, s *Server) string {
	t.Helper()
	return lookup(t, s, "1.62").Config["agent_token"].(string)
}

func TestHeartbeatValidation(t *testing.T) {
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	type body = map[string]any
	tests := []struct {
		name    string
		opts    Options
		prior   body // an accepted heartbeat first (token filled in)
		ident   string
		version string
		body    any // "TOKEN" is replaced by the node's token
		code    int
		msg     string
	}{
		{"ok", Options{}, nil, testUUID, "1.68", body{"callback_url": "http://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0"}, 202, ""},
		{"ok by name", Options{}, nil, "node-0", "1.68", body{"callback_url": "https://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0", "agent_verify_ca": ca}, 202, ""},
		{"no version header", Options{}, nil, testUUID, "", body{"callback_url": "http://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0"}, 404, "could not be found"},
		{"agent_version too early", Options{}, nil, testUUID, "1.35", body{"callback_url": "http://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0"}, 400, `Field "agent_version" not recognised`},
		{"verify_ca too early", Options{}, nil, testUUID, "1.67", body{"callback_url": "https://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0", "agent_verify_ca": ca}, 400, `Field "agent_verify_ca" not recognised in this version`},
		{"agent_status too early", Options{}, nil, testUUID, "1.68", body{"callback_url": "http://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0", "agent_status": "start"}, 400, `"agent_status" and "agent_status_message" not recognised`},
		{"bad agent_status", Options{}, nil, testUUID, "1.72", body{"callback_url": "http://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0", "agent_status": "done"}, 400, "Agent status is invalid"},
		{"callback not http", Options{}, nil, testUUID, "1.68", body{"callback_url": "ftp://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0"}, 400, `An issue with the supplied "callback_url" has been detected.`},
		{"callback missing", Options{}, nil, testUUID, "1.68", body{"agent_token": "TOKEN", "agent_version": "1.0"}, 400, "Missing mandatory parameter: callback_url"},
		{"token missing", Options{}, nil, testUUID, "1.68", body{"callback_url": "http://127.0.0.1:9999", "agent_version": "1.0"}, 400, "Agent token is required for heartbeat processing."},
		{"token wrong", Options{}, nil, testUUID, "1.68", body{"callback_url": "http://127.0.0.1:9999", "agent_token": "x", "agent_version": "1.0"}, 400, "Invalid or missing agent token received."},
		{"agent_version missing", Options{}, nil, testUUID, "1.68", body{"callback_url": "http://127.0.0.1:9999", "agent_token": "TOKEN"}, 400, "agent_version"},
		{"unknown field", Options{}, nil, testUUID, "1.68", body{"callback_url": "http://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0", "agent_colour": "red"}, 400, `Unknown argument: "agent_colour"`},
		{"not a string", Options{}, nil, testUUID, "1.68", body{"callback_url": 9999, "agent_token": "TOKEN", "agent_version": "1.0"}, 400, "Expected string for callback_url"},
		{"bad JSON", Options{}, nil, testUUID, "1.68", []byte("{"), 400, "Invalid JSON"},
		{"unknown node", Options{}, nil, "00000000-0000-4000-8000-000000000000", "1.68", body{"callback_url": "http://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0"}, 404, "could not be found"},
		{"require TLS http", Options{RequireTLS: true}, nil, testUUID, "1.68", body{"callback_url": "http://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0"}, 400, "TLS is required by configuration"},
		{"require TLS https", Options{RequireTLS: true}, nil, testUUID, "1.68", body{"callback_url": "https://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0"}, 202, ""},
		{"callback changed", Options{}, body{"callback_url": "http://127.0.0.1:9999", "agent_version": "1.0"}, testUUID, "1.68", body{"callback_url": "http://127.0.0.1:9998", "agent_token": "TOKEN", "agent_version": "1.0"}, 400, `Detected change in ramdisk provided "callback_url"`},
		{"verify_ca changed", Options{}, body{"callback_url": "https://127.0.0.1:9999", "agent_version": "1.0", "agent_verify_ca": ca}, testUUID, "1.68", body{"callback_url": "https://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0", "agent_verify_ca": strings.Replace(ca, "MIIB", "MIIC", 1)}, 400, `Detected change in ramdisk provided "agent_verify_ca"`},
		{"verify_ca same", Options{}, body{"callback_url": "https://127.0.0.1:9999", "agent_version": "1.0", "agent_verify_ca": ca}, testUUID, "1.68", body{"callback_url": "https://127.0.0.1:9999", "agent_token": "TOKEN", "agent_version": "1.0", "agent_verify_ca": strings.TrimSpace(ca)}, 202, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.opts, StateDeployWait)
			tok := tokenFor(t, s)
			url := s.URL() + "/v1/heartbeat/" + tt.ident
			if tt.prior != nil {
				tt.prior["agent_token"] = tok
				if r := do(t, "POST", url, "1.68", tt.prior); r.code != 202 {
					t.Fatalf("prior heartbeat = %d %s", r.code, r.msg())
				}
			}
			b := tt.body
			if m, ok := b.(body); ok && m["agent_token"] == "TOKEN" {
				m["agent_token"] = tok
			}
			r := do(t, "POST", url, tt.version, b)
			if r.code != tt.code || !strings.Contains(r.msg(), tt.msg) {
				t.Fatalf("heartbeat = %d %q, want %d %q", r.code, r.msg(), tt.code, tt.msg)
			}
			if tt.code == 202 && len(r.body) != 0 {
				t.Errorf("202 with body %q", r.body)
			}
			hbs := s.Heartbeats(tt.ident)
			last := hbs[len(hbs)-1]
			if last.Status != tt.code || last.APIVersion != tt.version || last.Error != r.msg() {
				t.Errorf("record = %+v", last)
			}
			n, _ := s.Node(testUUID)
			if tt.code == 202 {
				m := tt.body.(body)
				if n.DriverInternalInfo[KeyAgentURL] != m["callback_url"] || n.DriverInternalInfo[KeyAgentVersion] != "1.0" || n.DriverInternalInfo[KeyLastHeartbeat] == nil {
					t.Errorf("driver_internal_info = %v", n.DriverInternalInfo)
				}
				if m["agent_verify_ca"] != nil && n.DriverInternalInfo[KeyAgentVerifyCA] == nil {
					t.Error("agent_verify_ca not recorded")
				}
			} else if tt.prior == nil && n.DriverInternalInfo[KeyAgentURL] != nil {
				t.Errorf("rejected heartbeat recorded agent_url %v", n.DriverInternalInfo[KeyAgentURL])
			}
		})
	}
}

func TestHeartbeatRecordsAndWaits(t *testing.T) {
	s := newServer(t, Options{}, StateDeployWait)
	tok := tokenFor(t, s)
	seen := make(chan Heartbeat, 10)
	cancel := s.OnHeartbeat(func(h Heartbeat) { seen <- h })
	url := s.URL() + "/v1/heartbeat/" + testUUID
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	got := make(chan Heartbeat, 1)
	go func() {
		h, err := s.WaitHeartbeat(ctx, testUUID, 2)
		if err != nil {
			t.Error(err)
		}
		got <- h
	}()
	good := map[string]any{"callback_url": "http://127.0.0.1:9999", "agent_token": tok, "agent_version": "1.0"}
	do(t, "POST", url, "1.68", good)
	do(t, "POST", url, "1.68", map[string]any{"callback_url": "http://127.0.0.1:9999", "agent_version": "1.0"})
	good["agent_version"] = "1.1"
	do(t, "POST", url, "1.68", good)
	h := <-got
	if h.Body.AgentVersion != "1.1" || h.Body.AgentToken != tok || h.Header.Get(versionHeader) != "1.68" {
		t.Errorf("second accepted heartbeat = %+v", h)
	}
	if n := len(s.Heartbeats(testUUID)); n != 3 {
		t.Errorf("recorded %d heartbeats, want 3", n)
	}
	for i, want := range []int{202, 400, 202} {
		if h := <-seen; h.Status != want {
			t.Errorf("subscriber heartbeat %d status %d, want %d", i, h.Status, want)
		}
	}
	cancel()
	do(t, "POST", url, "1.68", good)
	select {
	case h := <-seen:
		t.Errorf("heartbeat after cancel: %+v", h)
	default:
	}
	short, stop2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer stop2()
	if _, err := s.WaitHeartbeat(short, testUUID, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitHeartbeat beyond count: %v", err)
	}
}

func TestUnknownRoutes(t *testing.T) {
	s := NewTest(t, Options{})
	if r := do(t, "GET", s.URL()+"/v1/nodes", "1.62", nil); r.code != 404 {
		t.Errorf("GET /v1/nodes = %d", r.code)
	}
	if r := do(t, "POST", s.URL()+"/v1/lookup", "1.62", nil); r.code != 405 {
		t.Errorf("POST /v1/lookup = %d", r.code)
	}
}

func TestAddNodeValidation(t *testing.T) {
	s := NewTest(t, Options{})
	if _, err := s.AddNode(Node{MACs: []string{"nope"}}); err == nil {
		t.Error("bad MAC accepted")
	}
	if _, err := s.AddNode(Node{UUID: "x"}); err == nil {
		t.Error("bad uuid accepted")
	}
	n, err := s.AddNode(Node{MACs: []string{"AA:BB:CC:DD:EE:FF"}})
	if err != nil || n.MACs[0] != "aa:bb:cc:dd:ee:ff" || n.ProvisionState != StateAvailable || !uuidRE.MatchString(n.UUID) {
		t.Fatalf("AddNode = %+v, %v", n, err)
	}
	if _, err := s.AddNode(Node{MACs: []string{"aa:bb:cc:dd:ee:ff"}}); err == nil {
		t.Error("duplicate MAC accepted")
	}
	if err := s.SetProvisionState("nope", StateActive); !errors.Is(err, ErrNodeNotFound) {
		t.Errorf("SetProvisionState(unknown) = %v", err)
	}
}
