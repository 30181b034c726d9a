package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const token = "0123456789abcdef0123456789abcdef0123456"

// fakeAgent answers like the agent API and records the last POST.
type fakeAgent struct {
	mu       sync.Mutex
	lastURL  string
	lastBody map[string]any
	status   string // command_status of run answers
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	if r.URL.Path == "/v1/status" {
		reply(200, map[string]any{"started_at": 1700000000.25, "version": "0.1.0"})
		return
	}
	if r.URL.Query().Get("agent_token") != token {
		reply(401, map[string]any{"faultcode": "Client", "faultstring": "401 Unauthorized: Token invalid."})
		return
	}
	result := map[string]any{"id": "c1", "command_name": "sync", "command_status": "SUCCEEDED", "command_error": nil, "command_result": nil}
	switch r.Method {
	case http.MethodGet:
		reply(200, map[string]any{"commands": []any{result}})
	case http.MethodPost:
		f.lastURL = r.URL.String()
		json.NewDecoder(r.Body).Decode(&f.lastBody)
		if f.status != "" {
			result["command_status"] = f.status
			result["command_error"] = map[string]any{"type": "CommandExecutionError", "code": 500, "message": "Command execution failed", "details": "boom"}
		}
		reply(200, result)
	}
}

func runCtl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVerbs(t *testing.T) {
	f := &fakeAgent{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	g := []string{"--agent", srv.URL, "--token", token}
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // substring
		stderr   string // substring
		wantPost string // URL of the POST, if any
		params   any
	}{
		{"status", []string{"status"}, 0, "{\n  \"started_at\": 1700000000.25,\n  \"version\": \"0.1.0\"\n}\n", "", "", nil},
		{"commands", []string{"commands"}, 0, "\"commands\": [\n    {\n      \"id\": \"c1\"", "", "", nil},
		{"run wait", []string{"run", "standby.sync", "--wait"}, 0, "\"command_status\": \"SUCCEEDED\"", "", "/v1/commands/?agent_token=" + token + "&wait=true", map[string]any{}},
		{"run params async", []string{"run", "clean.execute_clean_step", `{"step": {"step": "erase_devices_metadata"}}`}, 0, "\"id\": \"c1\"", "", "/v1/commands/?agent_token=" + token + "&wait=false", map[string]any{"step": map[string]any{"step": "erase_devices_metadata"}}},
		{"bad params JSON", []string{"run", "standby.sync", "{nope"}, 2, "", "PARAMS-JSON must be a JSON object: invalid character", "", nil},
		{"params not object", []string{"run", "standby.sync", "[1]"}, 2, "", "PARAMS-JSON must be a JSON object", "", nil},
		{"params null", []string{"run", "standby.sync", "null"}, 2, "", "PARAMS-JSON must be a JSON object: got null", "", nil},
		{"name without extension", []string{"run", "sync"}, 2, "", "must be EXTENSION.COMMAND", "", nil},
		{"run no name", []string{"run"}, 2, "", "run NAME [PARAMS-JSON] [--wait]", "", nil},
		{"status extra arg", []string{"status", "x"}, 2, "", "status takes no arguments", "", nil},
		{"unknown verb", []string{"reboot"}, 2, "", `unknown verb "reboot"`, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.lastURL, f.lastBody = "", nil
			code, out, errOut := runCtl(t, append(g, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errOut, tt.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tt.code, tt.stdout, tt.stderr)
			}
			if f.lastURL != tt.wantPost {
				t.Errorf("POST %q, want %q", f.lastURL, tt.wantPost)
			}
			if tt.params != nil {
				got, _ := json.Marshal(f.lastBody["params"])
				want, _ := json.Marshal(tt.params)
				if string(got) != string(want) || f.lastBody["name"] != tt.args[1] {
					t.Errorf("body = %v", f.lastBody)
				}
			}
		})
	}
}

func TestUnauthorized(t *testing.T) {
	srv := httptest.NewServer(&fakeAgent{})
	defer srv.Close()
	for _, verb := range [][]string{{"commands"}, {"run", "standby.sync", "--wait"}} {
		code, out, errOut := runCtl(t, append([]string{"--agent", srv.URL, "--token", "wrong"}, verb...)...)
		if code != 1 || out != "" || errOut != "goipactl: HTTP 401: 401 Unauthorized: Token invalid.\n" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", verb, code, out, errOut)
		}
	}
}

func TestRunFailedCommand(t *testing.T) {
	srv := httptest.NewServer(&fakeAgent{status: "FAILED"})
	defer srv.Close()
	code, out, errOut := runCtl(t, "--agent", srv.URL, "--token", token, "run", "standby.sync", "--wait")
	if code != 1 || !strings.Contains(out, `"details": "boom"`) || !strings.Contains(errOut, "command failed: sync FAILED") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(&fakeAgent{})
	url := srv.URL
	srv.Close()
	code, _, errOut := runCtl(t, "--agent", url, "status")
	if code != 1 || !strings.Contains(errOut, "connection refused") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestTLSFlags(t *testing.T) {
	srv := httptest.NewUnstartedServer(&fakeAgent{})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the "untrusted" case logs a handshake error
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "agent.crt")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	tests := []struct {
		name   string
		flags  []string
		code   int
		stderr string
	}{
		{"cacert", []string{"--cacert", ca}, 0, ""},
		{"insecure", []string{"--insecure"}, 0, ""},
		{"untrusted", nil, 1, "certificate"},
		{"both", []string{"--cacert", ca, "--insecure"}, 2, "exclude each other"},
		{"missing cacert", []string{"--cacert", ca + ".nope"}, 1, "no such file"},
		{"bad URL", []string{"--agent", "127.0.0.1:9999"}, 2, "agent URL"},
		{"bad scheme", []string{"--agent", "ftp://127.0.0.1:9999"}, 2, "want http(s)://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--agent", srv.URL}, tt.flags...)
			code, _, errOut := runCtl(t, append(args, "status")...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d %q", code, errOut, tt.code, tt.stderr)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	if code, _, errOut := runCtl(t); code != 2 || !strings.Contains(errOut, "usage: goipactl") {
		t.Errorf("no args: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := runCtl(t, "--bogus"); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
	if code, _, _ := runCtl(t, "--help"); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
}
