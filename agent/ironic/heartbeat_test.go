package ironic

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func TestHeartbeatBodyPerVersion(t *testing.T) {
	req := HeartbeatRequest{
		CallbackURL:   "https://127.0.0.1:9999",
		AgentToken:    testToken,
		AgentVersion:  "10.0.0",
		AgentVerifyCA: testCA,
	}
	for _, tc := range []struct {
		max        string
		req        HeartbeatRequest
		wantHeader string
		want       map[string]any
	}{
		{max: "1.31", req: req, wantHeader: "1.31",
			want: map[string]any{"callback_url": "https://127.0.0.1:9999"}},
		{max: "1.36", req: req, wantHeader: "1.36",
			want: map[string]any{"callback_url": "https://127.0.0.1:9999", "agent_version": "10.0.0"}},
		{max: "1.62", req: req, wantHeader: "1.62",
			want: map[string]any{"callback_url": "https://127.0.0.1:9999", "agent_version": "10.0.0", "agent_token": testToken}},
		{max: "1.68", req: req, wantHeader: "1.68",
			want: map[string]any{"callback_url": "https://127.0.0.1:9999", "agent_version": "10.0.0", "agent_token": testToken, "agent_verify_ca": testCA}},
		{max: "1.99", req: req, wantHeader: "1.68",
			want: map[string]any{"callback_url": "https://127.0.0.1:9999", "agent_version": "10.0.0", "agent_token": testToken, "agent_verify_ca": testCA}},
		// Plain HTTP: no certificate, so no agent_verify_ca at all.
		{max: "1.99", req: HeartbeatRequest{CallbackURL: "http://127.0.0.1:9999", AgentToken: testToken, AgentVersion: "10.0.0"}, wantHeader: "1.68",
			want: map[string]any{"callback_url": "http://127.0.0.1:9999", "agent_version": "10.0.0", "agent_token": testToken}},
		// Ironic demands agent_token from 1.62 on; an unknown one is still sent, empty.
		{max: "1.62", req: HeartbeatRequest{CallbackURL: "http://127.0.0.1:9999", AgentVersion: "10.0.0"}, wantHeader: "1.62",
			want: map[string]any{"callback_url": "http://127.0.0.1:9999", "agent_version": "10.0.0", "agent_token": ""}},
	} {
		api := &fakeAPI{Version: tc.max, Heartbeat: func(int) (int, string) { return 202, "" }}
		c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}}, nil)
		if err := c.Heartbeat(context.Background(), testUUID, tc.req); err != nil {
			t.Fatalf("max %s: %v", tc.max, err)
		}
		reqs := api.requests("/v1/heartbeat/" + testUUID)
		if len(reqs) != 1 || reqs[0].Method != "POST" {
			t.Fatalf("max %s: heartbeat requests %+v", tc.max, reqs)
		}
		if got := reqs[0].Header.Get(headerAPIVersion); got != tc.wantHeader {
			t.Errorf("max %s: version header %q, want %q", tc.max, got, tc.wantHeader)
		}
		var got map[string]any
		if err := json.Unmarshal(reqs[0].Body, &got); err != nil {
			t.Fatalf("max %s: body %s: %v", tc.max, reqs[0].Body, err)
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("max %s: body %v\nwant %v", tc.max, got, tc.want)
		}
	}
}

func TestHeartbeatReplies(t *testing.T) {
	for _, tc := range []struct {
		code    int
		body    string
		wantIs  error
		wantErr string
	}{
		{code: 202},
		{code: 200, body: `{}`},
		{code: 204},
		{code: 409, body: `{"error_message":"{\"faultstring\": \"Node 1be26c0b is locked by host c1\"}"}`,
			wantIs: ErrHeartbeatConflict, wantErr: "locked by host c1"},
		{code: 400, body: `{"error_message":"Invalid or missing agent token received."}`, wantErr: "400 Bad Request: {\"error_message\":\"Invalid or missing agent token"},
		{code: 500, body: `oops`, wantErr: "500 Internal Server Error: oops"},
		{code: 404, body: ``, wantErr: "404 Not Found"},
	} {
		api := &fakeAPI{Version: "1.68", Heartbeat: func(int) (int, string) { return tc.code, tc.body }}
		c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}}, nil)
		err := c.Heartbeat(context.Background(), testUUID, HeartbeatRequest{CallbackURL: "http://127.0.0.1:9999"})
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%d: %v", tc.code, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%d: no error", tc.code)
			continue
		}
		if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
			t.Errorf("%d: %v is not %v", tc.code, err, tc.wantIs)
		}
		if tc.wantIs == nil && errors.Is(err, ErrHeartbeatConflict) {
			t.Errorf("%d: %v wrongly a conflict", tc.code, err)
		}
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != tc.code {
			t.Errorf("%d: %v carries no StatusError with the code", tc.code, err)
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%d: %q lacks %q", tc.code, err, tc.wantErr)
		}
	}
}

func TestResolveToken(t *testing.T) {
	short := "tooshort"
	other := strings.Repeat("x", 32)
	for _, tc := range []struct {
		name, current, lookup, want string
		wantErr                     error
	}{
		{name: "first token", lookup: testToken, want: testToken},
		{name: "32 chars is enough", lookup: other, want: other},
		{name: "new token replaces preset", current: other, lookup: testToken, want: testToken},
		{name: "masked keeps current", current: testToken, lookup: "******", want: testToken},
		{name: "masked without token locks down", lookup: "******", wantErr: ErrTokenLocked},
		{name: "empty keeps current", current: testToken, lookup: "", want: testToken},
		{name: "empty with none", lookup: "", want: ""},
		{name: "short ignored", current: testToken, lookup: short, want: testToken},
		{name: "31 chars ignored", lookup: other[:31], want: ""},
	} {
		got, err := ResolveToken(tc.current, tc.lookup)
		if !errors.Is(err, tc.wantErr) || got != tc.want {
			t.Errorf("%s: ResolveToken(%q, %q) = %q, %v; want %q, %v", tc.name, tc.current, tc.lookup, got, err, tc.want, tc.wantErr)
		}
	}
}
