package ironic

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

var testMACs = []string{"52:54:00:12:34:56", "52:54:00:ab:cd:ef"}

func TestLookup(t *testing.T) {
	api := &fakeAPI{Version: "1.99", Lookup: func(int) (int, string) { return 200, lookupOK }}
	c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}}, nil)
	res, err := c.Lookup(context.Background(), testMACs, testUUID)
	if err != nil {
		t.Fatal(err)
	}
	reqs := api.requests("/v1/lookup")
	if len(reqs) != 1 {
		t.Fatalf("%d lookups sent", len(reqs))
	}
	r := reqs[0]
	if got := r.Query["addresses"]; !slices.Equal(got, []string{"52:54:00:12:34:56,52:54:00:ab:cd:ef"}) {
		t.Errorf("addresses = %q", got)
	}
	if got := r.Query["node_uuid"]; !slices.Equal(got, []string{testUUID}) {
		t.Errorf("node_uuid = %q", got)
	}
	if got := r.Header.Get(headerAPIVersion); got != "1.62" {
		t.Errorf("lookup API version %q, want 1.62 (min of 1.99 and 1.62)", got)
	}

	if res.Node.UUID != testUUID {
		t.Errorf("UUID = %q", res.Node.UUID)
	}
	if rd, _ := res.Node.Properties["root_device"].(map[string]any); rd["name"] != "/dev/vda" {
		t.Errorf("properties.root_device = %v", res.Node.Properties["root_device"])
	}
	if res.Node.InstanceInfo["image_source"] != "http://127.0.0.1:8080/img.qcow2" {
		t.Errorf("instance_info = %v", res.Node.InstanceInfo)
	}
	if res.Node.DriverInternalInfo["agent_url"] != "https://127.0.0.1:9999" {
		t.Errorf("driver_internal_info = %v", res.Node.DriverInternalInfo)
	}
	var raw map[string]any
	if err := json.Unmarshal(res.Node.Raw, &raw); err != nil || raw["links"] == nil {
		t.Errorf("Node.Raw = %s (%v), want the whole node incl. links", res.Node.Raw, err)
	}
	want := Config{
		HeartbeatTimeout:            300 * time.Second,
		AgentToken:                  testToken,
		DisableDeepImageInspection:  true,
		PermittedImageFormats:       []string{"raw", "qcow2"},
		AgentSkipBMCDetect:          true,
		EnableBIOSBootloaderInstall: true,
		TLSMinVersion:               "1.2",
		TLSCipherSuites:             "ECDHE-RSA-AES256-GCM-SHA384",
	}
	got := res.Config
	got.Raw = nil
	if !configEqual(got, want) {
		t.Errorf("Config = %+v\nwant     %+v", got, want)
	}
	if !strings.Contains(string(res.Config.Raw), `"metrics":{"backend":"noop"}`) {
		t.Errorf("Config.Raw lacks metrics: %s", res.Config.Raw)
	}
}

func configEqual(a, b Config) bool {
	return a.HeartbeatTimeout == b.HeartbeatTimeout && a.AgentToken == b.AgentToken &&
		a.AgentMD5ChecksumEnable == b.AgentMD5ChecksumEnable && a.DisableDeepImageInspection == b.DisableDeepImageInspection &&
		slices.Equal(a.PermittedImageFormats, b.PermittedImageFormats) && a.AgentSkipBMCDetect == b.AgentSkipBMCDetect &&
		a.EnableBIOSBootloaderInstall == b.EnableBIOSBootloaderInstall && a.TLSMinVersion == b.TLSMinVersion &&
		a.TLSCipherSuites == b.TLSCipherSuites
}

func TestLookupQueryAndVersion(t *testing.T) {
	for _, tc := range []struct {
		max, want string
	}{
		{"1.31", "1.31"},
		{"1.50", "1.50"},
		{"1.62", "1.62"},
		{"1.68", "1.62"},
	} {
		api := &fakeAPI{Version: tc.max, Lookup: func(int) (int, string) { return 200, lookupOK }}
		c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}}, nil)
		if _, err := c.Lookup(context.Background(), testMACs[:1], ""); err != nil {
			t.Fatal(err)
		}
		r := api.requests("/v1/lookup")[0]
		if got := r.Header.Get(headerAPIVersion); got != tc.want {
			t.Errorf("max %s: lookup version %q, want %q", tc.max, got, tc.want)
		}
		if _, ok := r.Query["node_uuid"]; ok {
			t.Errorf("node_uuid sent though unknown: %v", r.Query)
		}
		if got := r.Query["addresses"]; !slices.Equal(got, testMACs[:1]) {
			t.Errorf("addresses = %q", got)
		}
	}
}

func TestLookupKeys(t *testing.T) {
	api := &fakeAPI{Version: "1.68", Lookup: func(int) (int, string) { return 200, lookupOK }}
	c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}}, newFakeClock(true))
	ctx := context.Background()
	if _, err := c.Lookup(ctx, nil, ""); !errors.Is(err, ErrNoLookupKeys) {
		t.Errorf("Lookup with no keys: %v", err)
	}
	if _, err := c.LookupNode(ctx, nil, "", time.Hour, time.Second); !errors.Is(err, ErrNoLookupKeys) {
		t.Errorf("LookupNode with no keys: %v", err)
	}
	if n := len(api.requests("/v1/lookup")); n != 0 {
		t.Errorf("%d lookups sent with nothing to look up by", n)
	}
	// By UUID alone (after inspection): no empty addresses parameter.
	if _, err := c.Lookup(ctx, nil, testUUID); err != nil {
		t.Fatal(err)
	}
	q := api.requests("/v1/lookup")[0].Query
	if _, ok := q["addresses"]; ok || !slices.Equal(q["node_uuid"], []string{testUUID}) {
		t.Errorf("query %v, want node_uuid only", q)
	}
}

func TestLookupReplies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		code    int
		body    string
		wantIs  error
		wantErr string // in the message
		check   func(*testing.T, *LookupResult)
	}{
		{name: "old format", code: 200, body: `{"node":{"uuid":"` + testUUID + `"},"heartbeat_timeout":120}`,
			check: func(t *testing.T, r *LookupResult) {
				if r.Config.HeartbeatTimeout != 120*time.Second || r.Config.AgentToken != "" {
					t.Errorf("config = %+v", r.Config)
				}
			}},
		{name: "odd optional types ignored", code: 200,
			body: `{"node":{"uuid":"` + testUUID + `"},"config":{"heartbeat_timeout":30,"tls_cipher_suites":["A","B"],` +
				`"permitted_image_formats":["raw",7],"agent_token":"` + testToken + `"}}`,
			check: func(t *testing.T, r *LookupResult) {
				c := r.Config
				if c.HeartbeatTimeout != 30*time.Second || c.TLSCipherSuites != "" || c.PermittedImageFormats != nil || c.AgentToken != testToken {
					t.Errorf("config = %+v", c)
				}
			}},
		{name: "404", code: 404, body: `{"error_message":"{\"faultstring\": \"Not Found\"}"}`, wantIs: ErrNotFound, wantErr: "Not Found"},
		{name: "409", code: 409, body: `{"error_message":"{\"faultstring\": \"Node is locked by host conductor-1\"}"}`,
			wantIs: ErrConflict, wantErr: "locked by host conductor-1"},
		{name: "500", code: 500, body: `boom`, wantErr: "500 Internal Server Error: boom"},
		{name: "400", code: 400, body: `{"error_message":"IncompleteLookup"}`, wantErr: "IncompleteLookup"},
		{name: "not json", code: 200, body: `<html>`, wantErr: "decoding reply"},
		{name: "no node", code: 200, body: `{"config":{"heartbeat_timeout":300}}`, wantErr: "no node"},
		{name: "no uuid", code: 200, body: `{"node":{"properties":{}},"config":{"heartbeat_timeout":300}}`, wantErr: "no node.uuid"},
		{name: "no config", code: 200, body: `{"node":{"uuid":"` + testUUID + `"}}`, wantErr: "no config"},
		{name: "no heartbeat_timeout", code: 200, body: `{"node":{"uuid":"` + testUUID + `"},"config":{}}`, wantErr: "heartbeat_timeout"},
		{name: "zero heartbeat_timeout", code: 200, body: `{"node":{"uuid":"` + testUUID + `"},"config":{"heartbeat_timeout":0}}`, wantErr: "heartbeat_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeAPI{Version: "1.68", Lookup: func(int) (int, string) { return tc.code, tc.body }}
			c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}}, nil)
			res, err := c.Lookup(context.Background(), testMACs, "")
			if tc.check != nil {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, res)
				return
			}
			if err == nil {
				t.Fatalf("Lookup succeeded: %+v", res)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			for _, other := range []error{ErrNotFound, ErrConflict} {
				if other != tc.wantIs && errors.Is(err, other) {
					t.Errorf("error %v wrongly is %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			var se *StatusError
			if tc.code != 200 && (!errors.As(err, &se) || se.StatusCode != tc.code) {
				t.Errorf("error %v does not carry status %d", err, tc.code)
			}
		})
	}
}

// lookupSequence replies with codes[n-1] for the n-th lookup and lookupOK after.
func lookupSequence(replies ...[2]any) func(int) (int, string) {
	return func(n int) (int, string) {
		if n <= len(replies) {
			return replies[n-1][0].(int), replies[n-1][1].(string)
		}
		return 200, lookupOK
	}
}

var (
	reply404 = [2]any{404, `{"error_message":"Not Found"}`}
	reply409 = [2]any{409, `{"error_message":"Node locked"}`}
)

func TestLookupNodeRetriesThenSucceeds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replies [][2]any
		// waits are the fake sleeps with rand fixed at 0.5: the n-th backoff
		// is 1 + (clamp(2^(n-1), 1, 60) - 1)/2 s, 409 adds 5, 10, 30, 30 s first.
		waits   []time.Duration
		wantLog string
	}{
		{name: "404 until inspection completes", replies: [][2]any{reply404, reply404, reply404},
			waits: secs(1, 1.5, 2.5), wantLog: "Check if inspection has completed?"},
		{name: "409 extra sleeps", replies: [][2]any{reply409, reply409, reply409, reply409, reply409},
			waits: secs(5, 1, 10, 1.5, 30, 2.5, 30, 4.5, 30, 8.5), wantLog: "node is locked"},
		{name: "server errors and garbage", replies: [][2]any{{500, "boom"}, {503, ""}, {200, "{}"}, {200, "not json"}},
			waits: secs(1, 1.5, 2.5, 4.5), wantLog: "lookup failed, retrying"},
		{name: "first try", waits: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeAPI{Version: "1.68", Lookup: lookupSequence(tc.replies...)}
			clk := newFakeClock(true)
			c, logs := newTestClient(t, Options{URLs: []string{serve(t, api)}}, clk)
			res, err := c.LookupNode(context.Background(), testMACs, "", DefaultLookupTimeout, DefaultLookupInterval)
			if err != nil {
				t.Fatalf("LookupNode: %v\nlogs:\n%s", err, logs)
			}
			if res.Node.UUID != testUUID {
				t.Errorf("UUID %q", res.Node.UUID)
			}
			if got := clk.sleepLog(); !slices.Equal(got, tc.waits) {
				t.Errorf("waits = %v, want %v", got, tc.waits)
			}
			if n := len(api.requests("/v1/lookup")); n != len(tc.replies)+1 {
				t.Errorf("%d lookups, want %d", n, len(tc.replies)+1)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, logs)
			}
		})
	}
}

func secs(ss ...float64) []time.Duration {
	var out []time.Duration
	for _, s := range ss {
		out = append(out, time.Duration(s*float64(time.Second)))
	}
	return out
}

func TestLookupNodeTimeout(t *testing.T) {
	for _, r := range []float64{0, 0.5, 0.999999} {
		api := &fakeAPI{Version: "1.68", Lookup: func(int) (int, string) { return 404, `{}` }}
		clk := newFakeClock(true)
		c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}}, clk)
		c.rand = fixedRand(r)
		_, err := c.LookupNode(context.Background(), testMACs, "", 600*time.Second, time.Second)
		if !errors.Is(err, ErrLookupTimeout) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("rand %v: err = %v, want ErrLookupTimeout wrapping the last ErrNotFound", r, err)
		}
		waits := clk.sleepLog()
		var total time.Duration
		for _, w := range waits {
			if w < time.Second || w > 60*time.Second {
				t.Errorf("rand %v: wait %v outside [1s, 60s]", r, w)
			}
			total += w
		}
		// Retries stop once 600 s have passed, so the last wait started before then.
		if total < 600*time.Second || total-waits[len(waits)-1] >= 600*time.Second {
			t.Errorf("rand %v: waited %v in %d waits; want to cross 600 s with the last one", r, total, len(waits))
		}
		if n := len(api.requests("/v1/lookup")); n != len(waits)+1 {
			t.Errorf("rand %v: %d lookups for %d waits", r, n, len(waits))
		}
	}
}

// High random draws reach the 60 s ceiling and stay there.
func TestLookupNodeWaitCeiling(t *testing.T) {
	api := &fakeAPI{Version: "1.68", Lookup: func(int) (int, string) { return 404, `{}` }}
	clk := newFakeClock(true)
	c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}}, clk)
	c.rand = fixedRand(1)
	_, err := c.LookupNode(context.Background(), testMACs, "", 600*time.Second, time.Second)
	if !errors.Is(err, ErrLookupTimeout) {
		t.Fatal(err)
	}
	want := append(secs(1, 2, 4, 8, 16, 32), secs(60, 60, 60, 60, 60, 60, 60, 60, 60)...)
	if got := clk.sleepLog(); !slices.Equal(got, want) {
		t.Errorf("waits = %v\nwant    %v", got, want)
	}
}

func TestLookupNodeConnectionRefusedThenUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	api := &fakeAPI{Version: "1.68", Lookup: lookupSequence()}
	clk := newFakeClock(true)
	clk.onSleep = func(n int, _ time.Duration) {
		if n != 3 { // Ironic comes up during the third wait
			return
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("re-listening on %s: %v", addr, err)
			return
		}
		srv := httptest.NewUnstartedServer(api)
		srv.Listener = l
		srv.Start()
		t.Cleanup(srv.Close)
	}
	c, logs := newTestClient(t, Options{URLs: []string{"http://" + addr}}, clk)
	res, err := c.LookupNode(context.Background(), testMACs, "", time.Hour, time.Second)
	if err != nil {
		t.Fatalf("LookupNode: %v", err)
	}
	if res.Node.UUID != testUUID || len(clk.sleepLog()) != 3 {
		t.Errorf("UUID %q after waits %v", res.Node.UUID, clk.sleepLog())
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("refusals not logged:\n%s", logs)
	}
	// Discovery failed while down; once up the real version is used.
	if got := api.requests("/v1/lookup")[0].Header.Get(headerAPIVersion); got != "1.62" {
		t.Errorf("lookup version after recovery %q, want 1.62", got)
	}
}

func TestLookupNodeCancel(t *testing.T) {
	api := &fakeAPI{Version: "1.68", Lookup: func(int) (int, string) { return 404, `{}` }}
	clk := newFakeClock(false)
	c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}}, clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.LookupNode(ctx, testMACs, "", DefaultLookupTimeout, DefaultLookupInterval)
		done <- err
	}()
	clk.waitPending(t, 1) // waiting after the first 404
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrLookupTimeout) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LookupNode ignored cancellation")
	}
}

func TestLookupNodeCancelDuringConflictSleep(t *testing.T) {
	api := &fakeAPI{Version: "1.68", Lookup: func(int) (int, string) { return 409, `{}` }}
	clk := newFakeClock(false)
	c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}}, clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.LookupNode(ctx, testMACs, "", DefaultLookupTimeout, DefaultLookupInterval)
		done <- err
	}()
	if got := clk.waitPending(t, 1); got[0] != 5*time.Second {
		t.Fatalf("first wait %v, want the 5 s conflict sleep", got)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LookupNode ignored cancellation")
	}
}
