package ironic

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// request is what the fake API saw.
type request struct {
	Method, Path string
	Query        map[string][]string
	Header       http.Header
	Body         []byte
}

// fakeAPI is a minimal Ironic API: GET / reports Version (404 if empty),
// lookup and heartbeat replies come from the funcs (n counts from 1).
type fakeAPI struct {
	Version   string
	Lookup    func(n int) (int, string)
	Heartbeat func(n int) (int, string)

	mu         sync.Mutex
	reqs       []request
	lookups    int
	heartbeats int
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, request{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), body})
	f.mu.Unlock()
	reply := func(code int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodGet:
		if f.Version == "" {
			reply(http.StatusNotFound, `{}`)
			return
		}
		reply(http.StatusOK, `{"name":"OpenStack Ironic API","default_version":{"id":"v1","version":"`+f.Version+`","min_version":"1.1"}}`)
	case r.URL.Path == "/v1/lookup" && r.Method == http.MethodGet && f.Lookup != nil:
		f.mu.Lock()
		f.lookups++
		n := f.lookups
		f.mu.Unlock()
		reply(f.Lookup(n))
	case strings.HasPrefix(r.URL.Path, "/v1/heartbeat/") && r.Method == http.MethodPost && f.Heartbeat != nil:
		f.mu.Lock()
		f.heartbeats++
		n := f.heartbeats
		f.mu.Unlock()
		reply(f.Heartbeat(n))
	default:
		reply(http.StatusNotFound, `{"error_message":"not here"}`)
	}
}

// requests returns what was received, optionally only for one path.
func (f *fakeAPI) requests(path string) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, r := range f.reqs {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// newTestClient builds a client on a fake clock whose logs go to the
// returned buffer.
func newTestClient(t *testing.T, opts Options, clk *fakeClock) (*Client, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if clk != nil {
		c.clk = clk
	}
	c.rand = fixedRand(0.5)
	return c, logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	testUUID  = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"
	testToken = "R1HLqWmq3kT0Zw8bRm0zVfTyn4Ne6_A2iX9T6gtNzEc" // 43 chars like Ironic's
)

// lookupOK is a lookup reply as Ironic 21.4 sends it.
const lookupOK = `{"node":{"uuid":"` + testUUID + `","properties":{"cpus":2,"root_device":{"name":"/dev/vda"}},
"instance_info":{"image_source":"http://127.0.0.1:8080/img.qcow2","image_url":"******"},
"driver_internal_info":{"agent_url":"https://127.0.0.1:9999"},"links":[]},
"config":{"metrics":{"backend":"noop"},"heartbeat_timeout":300,"agent_token":"` + testToken + `",
"agent_token_required":true,"agent_md5_checksum_enable":false,"disable_deep_image_inspection":true,
"permitted_image_formats":["raw","qcow2"],"agent_skip_bmc_detect":true,"enable_bios_bootloader_install":true,
"tls_min_version":"1.2","tls_cipher_suites":"ECDHE-RSA-AES256-GCM-SHA384"}}`
