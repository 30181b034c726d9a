package client

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "tok-0123456789abcdef0123456789abcdef"

// fakeAgent is a minimal agent API: it checks the token like IPA master and
// records what it was sent.
type fakeAgent struct {
	mu       sync.Mutex
	commands []map[string]any
	bodies   []map[string]any
	queries  []string
	// polls counts GET /v1/commands/ so a test can finish a command later.
	polls    int
	onList   func(polls int, cmds []map[string]any)
	dropPost bool
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	if r.URL.Path == "/v1/status" {
		writeJSON(w, 200, map[string]any{"started_at": 1700000000.5, "version": "1.2.3"})
		return
	}
	if r.URL.Query().Get("agent_token") != testToken {
		writeJSON(w, 401, map[string]any{"faultcode": "Client", "faultstring": "401 Unauthorized: Token invalid."})
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/commands/":
		f.polls++
		if f.onList != nil {
			f.onList(f.polls, f.commands)
		}
		writeJSON(w, 200, map[string]any{"commands": f.commands})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/commands/"):
		id := strings.TrimPrefix(r.URL.Path, "/v1/commands/")
		for _, c := range f.commands {
			if c["id"] == id {
				writeJSON(w, 200, c)
				return
			}
		}
		writeJSON(w, 404, map[string]any{"faultcode": "Client", "faultstring": "Not found: Command Result with id " + id + " not found."})
	case r.Method == http.MethodPost && r.URL.Path == "/v1/commands/":
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, 400, map[string]any{"faultcode": "Client", "faultstring": "bad json"})
			return
		}
		f.bodies = append(f.bodies, body)
		if len(f.commands) > 0 && f.commands[len(f.commands)-1]["command_status"] == StatusRunning {
			writeJSON(w, 409, map[string]any{"faultcode": "Client", "faultstring": "Agent is busy: executing command x"})
			return
		}
		name := body["name"].(string)
		status := StatusSucceeded
		if r.URL.Query().Get("wait") == "false" {
			status = StatusRunning
		}
		res := map[string]any{"id": "id-" + name, "command_name": ShortName(name), "command_status": status,
			"command_error": nil, "command_result": map[string]any{"echo": body["params"]}}
		f.commands = append(f.commands, res)
		if f.dropPost {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		writeJSON(w, 200, res)
	default:
		writeJSON(w, 404, map[string]any{"faultcode": "Client", "faultstring": "404 Not Found"})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func newTestClient(t *testing.T, f http.Handler, opts ...Option) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/", append([]Option{WithToken(testToken)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStatus(t *testing.T) {
	c := newTestClient(t, &fakeAgent{})
	s, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.StartedAt != 1700000000.5 || s.Version != "1.2.3" {
		t.Errorf("Status = %+v", s)
	}
}

func TestRunSendsNameParamsTokenAndWait(t *testing.T) {
	f := &fakeAgent{}
	c := newTestClient(t, f)
	ctx := context.Background()
	r, err := c.Run(ctx, "deploy.get_deploy_steps", map[string]any{"node": map[string]any{"uuid": "u"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.CommandName != "get_deploy_steps" || r.CommandStatus != StatusSucceeded || r.CommandError != nil {
		t.Errorf("result = %+v", r)
	}
	var res struct {
		Echo map[string]any `json:"echo"`
	}
	if err := r.Decode(&res); err != nil || res.Echo["node"] == nil {
		t.Errorf("Decode = %v, %+v", err, res)
	}
	if _, err := c.Run(ctx, "standby.power_off", nil, false); err != nil {
		t.Fatal(err)
	}
	if got := f.bodies[1]["params"]; got == nil {
		t.Errorf("nil params sent as %v, want {}", got)
	}
	want := []string{
		"POST /v1/commands/?agent_token=" + testToken + "&wait=true",
		"POST /v1/commands/?agent_token=" + testToken + "&wait=false",
	}
	for i, w := range want {
		if f.queries[i] != w {
			t.Errorf("request %d = %q, want %q", i, f.queries[i], w)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	f := &fakeAgent{}
	c := newTestClient(t, f)
	ctx := context.Background()
	if _, err := c.Run(ctx, "deploy.execute_deploy_step", map[string]any{}, false); err != nil {
		t.Fatal(err)
	}
	_, err := c.Run(ctx, "standby.sync", nil, true)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 409 || !ae.IsBusy() || !IsBusy(err) || ae.FaultCode != "Client" {
		t.Fatalf("busy: err = %#v", err)
	}
	bad, _ := New(c.base.String(), WithToken("wrong"))
	_, err = bad.Commands(ctx)
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.IsBusy() || ae.FaultString != "401 Unauthorized: Token invalid." {
		t.Fatalf("401: err = %#v", err)
	}
	_, err = c.Command(ctx, "nope", false)
	if !errors.As(err, &ae) || ae.StatusCode != 404 {
		t.Fatalf("404: err = %v", err)
	}
}

func TestAPIErrorNotJSON(t *testing.T) {
	tests := []struct {
		name, body string
		code       int
		want       string
		busy       bool
	}{
		{"text", "upstream broke\n", 502, "upstream broke", false},
		{"empty", "", 503, "Service Unavailable", false},
		{"busy text", `{"faultcode":"Server","faultstring":"Agent is busy: executing command x"}`, 500, "Agent is busy: executing command x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.code)
				io.WriteString(w, tt.body)
			}))
			_, err := c.Commands(context.Background())
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != tt.code || ae.FaultString != tt.want || ae.IsBusy() != tt.busy {
				t.Fatalf("err = %#v", err)
			}
		})
	}
}

func TestCommandAndList(t *testing.T) {
	f := &fakeAgent{}
	c := newTestClient(t, f)
	ctx := context.Background()
	if _, err := c.Run(ctx, "clean.get_clean_steps", nil, true); err != nil {
		t.Fatal(err)
	}
	r, err := c.Command(ctx, "id-clean.get_clean_steps", true)
	if err != nil || r.CommandName != "get_clean_steps" {
		t.Fatalf("Command = %+v, %v", r, err)
	}
	if q := f.queries[len(f.queries)-1]; q != "GET /v1/commands/id-clean.get_clean_steps?agent_token="+testToken+"&wait=true" {
		t.Errorf("query = %q", q)
	}
	cmds, err := c.Commands(ctx)
	if err != nil || len(cmds) != 1 || cmds[0].ID != "id-clean.get_clean_steps" {
		t.Fatalf("Commands = %+v, %v", cmds, err)
	}
}

func TestWaitCommand(t *testing.T) {
	f := &fakeAgent{}
	f.onList = func(polls int, cmds []map[string]any) {
		if polls == 3 {
			cmds[len(cmds)-1]["command_status"] = StatusFailed
			cmds[len(cmds)-1]["command_error"] = map[string]any{"type": "ImageWriteError", "code": 500, "message": "Error writing image", "details": "disk full"}
		}
	}
	c := newTestClient(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Run(ctx, "image.install_bootloader", nil, false); err != nil {
		t.Fatal(err)
	}
	r, err := c.WaitCommand(ctx, "image.install_bootloader", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.CommandStatus != StatusFailed || r.CommandError == nil || r.CommandError.Error() != "ImageWriteError: Error writing image: disk full" {
		t.Errorf("result = %+v", r)
	}
	if f.polls != 3 {
		t.Errorf("polled %d times, want 3", f.polls)
	}
	if _, err := c.WaitCommand(ctx, "standby.power_off", time.Millisecond); !errors.Is(err, ErrNoSuchCommand) {
		t.Errorf("unknown command: err = %v", err)
	}
}

func TestWaitCommandContext(t *testing.T) {
	f := &fakeAgent{}
	c := newTestClient(t, f)
	if _, err := c.Run(context.Background(), "standby.power_off", nil, false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.WaitCommand(ctx, "power_off", 5*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
}

func TestRunConnectionDroppedButCommandStarted(t *testing.T) {
	f := &fakeAgent{dropPost: true}
	c := newTestClient(t, f)
	r, err := c.Run(context.Background(), "deploy.execute_deploy_step", nil, false)
	if err != nil {
		t.Fatalf("Run = %v, want the RUNNING command from the list", err)
	}
	if r.CommandName != "execute_deploy_step" || !r.Running() {
		t.Errorf("result = %+v", r)
	}
	// A dropped sync command is done, not RUNNING: the error stands.
	f.commands = nil
	if _, err := c.Run(context.Background(), "standby.sync", nil, true); err == nil {
		t.Error("dropped sync command: want error")
	}
}

func TestWithCA(t *testing.T) {
	srv := httptest.NewTLSServer(&fakeAgent{})
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := New(srv.URL, WithCA(caPEM))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatalf("trusted CA: %v", err)
	}
	untrusted, _ := New(srv.URL)
	if _, err := untrusted.Status(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("default roots: err = %v, want certificate error", err)
	}
	insecure, _ := New(srv.URL, WithInsecureTLS())
	if _, err := insecure.Status(context.Background()); err != nil {
		t.Errorf("insecure: %v", err)
	}
	if _, err := New(srv.URL, WithCA([]byte("not pem"))); !errors.Is(err, ErrBadCA) {
		t.Errorf("bad CA: err = %v", err)
	}
}

func TestNewBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:9999", "ftp://x", "http://"} {
		if _, err := New(u); err == nil {
			t.Errorf("New(%q): want error", u)
		}
	}
}
