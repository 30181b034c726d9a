package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/agent/steps"
	"github.com/goipa/goipa/ipa"
)

// FuzzRunCommand feeds arbitrary bodies to POST /v1/commands/ with the real
// step extensions registered: every answer must be IPA-shaped JSON with a
// client or success status, never a server error.
func FuzzRunCommand(f *testing.F) {
	for _, seed := range []string{
		`{"name":"deploy.get_deploy_steps","params":{"node":{},"ports":[]}}`,
		`{"name":"clean.execute_clean_step","params":{"step":{"step":"x","interface":"deploy"},"clean_version":{"a":"1"}}}`,
		`{"name":"clean.execute_clean_step","params":{"step":{"step":7}}}`,
		`{"name":"deploy.execute_deploy_step","params":{"step":null}}`,
		`{"name":"x","params":{}}`,
		`{"name":".","params":{}}`,
		`{"name":"a.b.c","params":{}}`,
		`{"name":null,"params":null}`,
		`{"name":"deploy.get_deploy_steps","params":"{}"}`,
		`[]`, `null`, `"`, `{"name":"deploy.get_deploy_steps","params":{}}garbage`,
	} {
		f.Add(seed)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, body string) {
		r := ipa.NewRunner(context.Background(), log)
		steps.Register(r, ipa.Select(ipa.NewGeneric()), nil)
		h := (&Server{Runner: r, Version: "x", StartedAt: time.Now(), Token: func() string { return token }, Log: log}).Handler()
		req := httptest.NewRequest("POST", "/v1/commands/?wait=true&agent_token="+token, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict:
		default:
			t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("body %q: answer %q is not a JSON object", body, rec.Body)
		}
		if rec.Code == http.StatusOK {
			if _, ok := m["command_status"]; !ok {
				t.Fatalf("body %q: 200 without a command result: %s", body, rec.Body)
			}
		} else if _, ok := m["faultstring"]; !ok {
			t.Fatalf("body %q: error without faultstring: %s", body, rec.Body)
		}
	})
}
