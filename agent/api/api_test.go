package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/ipa"
)

const token = "0123456789abcdef0123456789abcdef0123456789a"

type echoParams struct {
	Value string `json:"value"`
}

func (p *echoParams) Validate() error {
	if p.Value == "bad" {
		return errors.New("value must not be bad")
	}
	return nil
}

// newTestServer registers a few commands: test.echo (sync), test.slow (async,
// finishes when release is closed), test.fail (sync, fails), test.panic.
func newTestServer(t *testing.T) (*httptest.Server, chan struct{}) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := ipa.NewRunner(context.Background(), log)
	release := make(chan struct{})
	r.Register("test", "echo", ipa.Sync(func(_ context.Context, p echoParams) (any, error) {
		return map[string]string{"echo": p.Value}, nil
	}))
	r.Register("test", "slow", ipa.Async(func(ctx context.Context, _ struct{}) (any, error) {
		<-release
		return "done", nil
	}))
	r.Register("test", "fail", ipa.Sync(func(context.Context, struct{}) (any, error) {
		return nil, ipa.Typed("ImageChecksumError", "Error verifying image checksum", errors.New("mismatch"))
	}))
	r.Register("test", "panic", ipa.Sync(func(context.Context, struct{}) (any, error) {
		panic("boom")
	}))
	s := &Server{Runner: r, Version: "1.2.3", StartedAt: time.Unix(1700000000, 500000000),
		Token: func() string { return token }, Log: log}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return srv, release
}

func do(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, url, raw, err)
	}
	return resp.StatusCode, m
}

func TestRootAndV1(t *testing.T) {
	srv, _ := newTestServer(t)
	code, m := do(t, "GET", srv.URL+"/", "")
	if code != 200 || m["name"] != "OpenStack Ironic Python Agent API" {
		t.Fatalf("GET / = %d %v", code, m)
	}
	dv := m["default_version"].(map[string]any)
	links := dv["links"].([]any)
	if dv["id"] != "v1" || links[0].(map[string]any)["href"] != srv.URL+"/v1/" {
		t.Errorf("default_version = %v", dv)
	}
	for _, p := range []string{"/v1", "/v1/"} {
		code, m = do(t, "GET", srv.URL+p, "")
		if code != 200 || m["id"] != "v1" || m["media_types"] == nil || m["commands"] == nil {
			t.Errorf("GET %s = %d %v", p, code, m)
		}
	}
}

func TestStatus(t *testing.T) {
	srv, _ := newTestServer(t)
	for _, p := range []string{"/v1/status", "/status", "/v1/status/"} {
		code, m := do(t, "GET", srv.URL+p, "")
		if code != 200 || m["version"] != "1.2.3" || m["started_at"] != 1700000000.5 {
			t.Errorf("GET %s = %d %v", p, code, m)
		}
	}
}

func TestRunSyncCommand(t *testing.T) {
	srv, _ := newTestServer(t)
	for _, p := range []string{"/v1/commands/", "/v1/commands", "/commands/", "/commands"} {
		code, m := do(t, "POST", srv.URL+p+"?wait=true&agent_token="+token, `{"name":"test.echo","params":{"value":"hi"}}`)
		if code != 200 {
			t.Fatalf("POST %s = %d %v", p, code, m)
		}
		if m["command_name"] != "echo" || m["command_status"] != "SUCCEEDED" || m["command_error"] != nil {
			t.Errorf("POST %s result = %v", p, m)
		}
		if r := m["command_result"].(map[string]any); r["echo"] != "hi" {
			t.Errorf("command_result = %v", r)
		}
		if id, _ := m["id"].(string); len(id) != 36 {
			t.Errorf("id %q is not a uuid", id)
		}
	}
}

// TestTokenOnGet: Ironic 21.4 polls the GET command routes without a token
// and must be served; Ironic 35 sends it there too, and once it has, a GET
// without it is refused as IPA 13 does. A wrong token is never served.
func TestTokenOnGet(t *testing.T) {
	srv, _ := newTestServer(t)
	get := func(q string) int {
		code, _ := do(t, "GET", srv.URL+"/v1/commands/"+q, "")
		return code
	}
	for i := range 3 {
		if code := get(""); code != 200 {
			t.Fatalf("tokenless poll %d (Ironic 21.4) = %d, want 200", i, code)
		}
	}
	if code := get("?agent_token=wrong"); code != 401 {
		t.Errorf("wrong token = %d, want 401", code)
	}
	if code := get(""); code != 200 {
		t.Errorf("a wrong token must not lock out the tokenless conductor: %d", code)
	}
	if code := get("?agent_token=" + token); code != 200 {
		t.Fatalf("GET with the token (Ironic 35) = %d, want 200", code)
	}
	if code := get(""); code != 401 {
		t.Errorf("tokenless GET after the conductor sent the token there = %d, want 401", code)
	}
	if code := get("?agent_token=" + token); code != 200 {
		t.Errorf("GET with the token = %d, want 200", code)
	}
}

func TestErrors(t *testing.T) {
	srv, _ := newTestServer(t)
	tok := "?agent_token=" + token
	tests := []struct {
		name, method, path, body string
		code                     int
		fault                    string
	}{
		{"no token", "POST", "/v1/commands/", `{"name":"test.echo","params":{}}`, 401, "401 Unauthorized: Token invalid."},
		{"wrong token", "POST", "/v1/commands/?agent_token=nope", `{"name":"test.echo","params":{}}`, 401, "Token invalid."},
		{"empty token", "POST", "/v1/commands/?agent_token=", `{"name":"test.echo","params":{}}`, 401, "Token invalid."},
		{"wrong token on GET list", "GET", "/v1/commands/?agent_token=nope", "", 401, "Token invalid."},
		{"wrong token on GET id", "GET", "/v1/commands/abc?agent_token=nope", "", 401, "Token invalid."},
		{"unknown extension", "POST", "/v1/commands/" + tok, `{"name":"nope.x","params":{}}`, 404, "Not found: Extension with id nope not found."},
		{"unknown command", "POST", "/v1/commands/" + tok, `{"name":"test.nope","params":{}}`, 400, "Invalid command: Unknown command: nope"},
		{"no dot", "POST", "/v1/commands/" + tok, `{"name":"echo","params":{}}`, 400, "Invalid command: Command name must be of the form <extension>.<name>"},
		{"invalid params", "POST", "/v1/commands/" + tok, `{"name":"test.echo","params":{"value":"bad"}}`, 400, "Invalid command parameters: value must not be bad"},
		{"params wrong type", "POST", "/v1/commands/" + tok, `{"name":"test.echo","params":{"value":3}}`, 400, "Invalid command parameters"},
		{"params not object", "POST", "/v1/commands/" + tok, `{"name":"test.echo","params":[1]}`, 400, "Missing or invalid name or params"},
		{"params missing", "POST", "/v1/commands/" + tok, `{"name":"test.echo"}`, 400, "Missing or invalid name or params"},
		{"name missing", "POST", "/v1/commands/" + tok, `{"params":{}}`, 400, "Missing or invalid name or params"},
		{"malformed json", "POST", "/v1/commands/" + tok, `{"name":`, 400, "Missing or invalid name or params"},
		{"unknown result", "GET", "/v1/commands/nope", "", 404, "Not found: Command Result with id nope not found."},
		{"unknown route", "GET", "/v2/", "", 404, "404 Not Found"},
		{"wrong method", "DELETE", "/v1/commands/", "", 405, "405 Method Not Allowed"},
		{"panic", "POST", "/v1/commands/" + tok, `{"name":"test.panic","params":{}}`, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, m := do(t, tc.method, srv.URL+tc.path, tc.body)
			if code != tc.code {
				t.Fatalf("status = %d, want %d (%v)", code, tc.code, m)
			}
			if tc.fault == "" {
				return
			}
			fs, _ := m["faultstring"].(string)
			if !strings.Contains(fs, tc.fault) {
				t.Errorf("faultstring = %q, want it to contain %q", fs, tc.fault)
			}
			want := "Client"
			if code >= 500 {
				want = "Server"
			}
			if m["faultcode"] != want {
				t.Errorf("faultcode = %v, want %s", m["faultcode"], want)
			}
		})
	}
}

func TestFailedAndPanickingCommandsAreResults(t *testing.T) {
	srv, _ := newTestServer(t)
	_, m := do(t, "POST", srv.URL+"/v1/commands/?wait=true&agent_token="+token, `{"name":"test.fail","params":{}}`)
	e, _ := m["command_error"].(map[string]any)
	if m["command_status"] != "FAILED" || e["type"] != "ImageChecksumError" || e["code"] != 500.0 ||
		e["message"] != "Error verifying image checksum" || e["details"] != "mismatch" {
		t.Errorf("failed command = %v", m)
	}
	_, m = do(t, "POST", srv.URL+"/v1/commands/?wait=true&agent_token="+token, `{"name":"test.panic","params":{}}`)
	e, _ = m["command_error"].(map[string]any)
	if m["command_status"] != "FAILED" || e["type"] != "CommandExecutionError" || !strings.Contains(e["details"].(string), "boom") {
		t.Errorf("panicking command = %v", m)
	}
}

func TestAsyncBusyAndWait(t *testing.T) {
	srv, release := newTestServer(t)
	tok := "agent_token=" + token
	code, m := do(t, "POST", srv.URL+"/v1/commands/?wait=false&"+tok, `{"name":"test.slow","params":{}}`)
	if code != 200 || m["command_status"] != "RUNNING" || m["command_name"] != "slow" {
		t.Fatalf("async start = %d %v", code, m)
	}
	id := m["id"].(string)

	code, m = do(t, "POST", srv.URL+"/v1/commands/?"+tok, `{"name":"test.echo","params":{}}`)
	if code != 409 || m["faultstring"] != "Agent is busy: executing command slow" || m["faultcode"] != "Client" {
		t.Fatalf("second command = %d %v", code, m)
	}

	// Ironic 21.4 polls without a token.
	code, m = do(t, "GET", srv.URL+"/v1/commands/", "")
	if cmds := m["commands"].([]any); code != 200 || len(cmds) != 1 {
		t.Fatalf("list while busy = %d %v", code, m)
	}

	done := make(chan map[string]any)
	go func() {
		_, m := do(t, "GET", srv.URL+"/v1/commands/"+id+"?wait=true&"+tok, "")
		done <- m
	}()
	select {
	case m := <-done:
		t.Fatalf("wait=true returned before the command finished: %v", m)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	m = <-done
	r := m["command_result"].(map[string]any)
	if m["command_status"] != "SUCCEEDED" || r["result"] != "slow: done" {
		t.Fatalf("waited result = %v", m)
	}

	// Results stay in order and the agent takes commands again.
	do(t, "POST", srv.URL+"/v1/commands/?wait=true&"+tok, `{"name":"test.echo","params":{"value":"x"}}`)
	_, m = do(t, "GET", srv.URL+"/v1/commands/?"+tok, "")
	cmds := m["commands"].([]any)
	if len(cmds) != 2 || cmds[0].(map[string]any)["command_name"] != "slow" || cmds[1].(map[string]any)["command_name"] != "echo" {
		t.Fatalf("commands = %v", cmds)
	}
}

func TestBodyLimit(t *testing.T) {
	srv, _ := newTestServer(t)
	req, _ := http.NewRequest("POST", srv.URL+"/v1/commands/?agent_token="+token, strings.NewReader("{}"))
	req.ContentLength = MaxBodyBytes + 1
	req.Header.Set("Content-Type", "application/json")
	// The server must refuse from the header without reading a body that never comes.
	req.Body = io.NopCloser(io.LimitReader(strings.NewReader(strings.Repeat(" ", 1<<20)), 1<<20))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status = %d, want 413", resp.StatusCode)
		}
		var m map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&m)
		if m["faultcode"] != "Client" {
			t.Errorf("body = %v", m)
		}
	}
}

func TestEmptyCommandListIsArray(t *testing.T) {
	srv, _ := newTestServer(t)
	resp, err := http.Get(srv.URL + "/v1/commands/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.TrimSpace(string(b)) != `{"commands":[]}` {
		t.Errorf("body = %s", b)
	}
}

func TestSeenOnCommandRoutesOnly(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := ipa.NewRunner(context.Background(), log)
	seen := 0
	s := &Server{Runner: r, Token: func() string { return token }, Seen: func() { seen++ }, Log: log}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	do(t, "GET", srv.URL+"/v1/status", "")
	do(t, "POST", srv.URL+"/v1/commands/?agent_token=wrong", `{"name":"x.y","params":{}}`)
	if seen != 0 {
		t.Fatalf("Seen called %d times for status and a refused POST", seen)
	}
	do(t, "GET", srv.URL+"/v1/commands/", "")
	do(t, "POST", srv.URL+"/v1/commands/?agent_token="+token, `{"name":"x.y","params":{}}`)
	if seen != 2 {
		t.Errorf("Seen called %d times, want 2", seen)
	}
}
