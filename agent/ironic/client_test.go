package ironic

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{in: "1.68", want: Version{1, 68}},
		{in: " 1.9 ", want: Version{1, 9}},
		{in: "2.0", want: Version{2, 0}},
		{in: "1", wantErr: true},
		{in: "1.x", wantErr: true},
		{in: "v1.2", wantErr: true},
		{in: "1.-2", wantErr: true},
		{in: "", wantErr: true},
	} {
		got, err := ParseVersion(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	ordered := []Version{{1, 9}, {1, 31}, {1, 62}, {1, 100}, {2, 0}}
	for i, a := range ordered {
		for j, b := range ordered {
			if got, want := a.Compare(b), cmp.Compare(i, j); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", a, b, got, want)
			}
		}
	}
	if s := (Version{1, 62}).String(); s != "1.62" {
		t.Errorf("String = %q", s)
	}
	if !(Version{1, 68}).AtLeast(VersionAgentToken) || (Version{1, 61}).AtLeast(VersionAgentToken) {
		t.Error("AtLeast wrong around 1.62")
	}
}

func TestNewOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		want    []string
		wantErr string
	}{
		{name: "one", opts: Options{URLs: []string{"http://127.0.0.1:6385/"}}, want: []string{"http://127.0.0.1:6385"}},
		{name: "comma list as given on the command line",
			opts: Options{URLs: []string{"http://a:6385, https://b/baremetal/,"}},
			want: []string{"http://a:6385", "https://b/baremetal"}},
		{name: "several elements", opts: Options{URLs: []string{"http://a", "http://b"}}, want: []string{"http://a", "http://b"}},
		{name: "none", opts: Options{}, wantErr: "no API URL"},
		{name: "only commas", opts: Options{URLs: []string{" , "}}, wantErr: "no API URL"},
		{name: "mdns", opts: Options{URLs: []string{"mdns"}}, wantErr: "mdns"},
		{name: "no scheme", opts: Options{URLs: []string{"127.0.0.1:6385"}}, wantErr: "API URL"},
		{name: "ftp", opts: Options{URLs: []string{"ftp://a"}}, wantErr: "want http(s)"},
		{name: "bad version", opts: Options{URLs: []string{"http://a"}, APIVersion: "latest"}, wantErr: "ipa-ironic-api-version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New = %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.URLs(); !slices.Equal(got, tc.want) {
				t.Errorf("URLs = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMaxVersionDiscovery(t *testing.T) {
	api := &fakeAPI{Version: "1.80"}
	c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}}, nil)
	ctx := context.Background()
	for range 3 {
		if v := c.MaxVersion(ctx); v != (Version{1, 80}) {
			t.Fatalf("MaxVersion = %v, want 1.80", v)
		}
	}
	reqs := api.requests("/")
	if len(reqs) != 1 {
		t.Fatalf("GET / sent %d times, want once (the answer is remembered)", len(reqs))
	}
	if h := reqs[0].Header.Get(headerAPIVersion); h != "" {
		t.Errorf("discovery sent %s: %q; it must not", headerAPIVersion, h)
	}
	if reqs[0].Method != http.MethodGet {
		t.Errorf("discovery used %s", reqs[0].Method)
	}
}

func TestMaxVersionFallback(t *testing.T) {
	bad := func(code int, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			w.Write([]byte(body))
		})
	}
	for _, tc := range []struct {
		name string
		url  string
	}{
		{"500", serve(t, bad(500, `{"default_version":{"version":"1.80"}}`))},
		{"not json", serve(t, bad(200, `<html>`))},
		{"no version", serve(t, bad(200, `{"versions":[]}`))},
		{"bad version", serve(t, bad(200, `{"default_version":{"version":"one"}}`))},
		{"connection refused", closedURL(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, logs := newTestClient(t, Options{URLs: []string{tc.url}}, nil)
			if v := c.MaxVersion(context.Background()); v != VersionMin {
				t.Errorf("MaxVersion = %v, want fallback %v", v, VersionMin)
			}
			if !strings.Contains(logs.String(), "discovery failed") {
				t.Errorf("fallback not logged: %s", logs)
			}
		})
	}
}

// A failed discovery is not remembered: once Ironic answers, its version is used.
func TestMaxVersionRetriedAfterFailure(t *testing.T) {
	var up atomic.Bool
	api := &fakeAPI{Version: "1.75"}
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		api.ServeHTTP(w, r)
	}))
	c, _ := newTestClient(t, Options{URLs: []string{url}}, nil)
	if v := c.MaxVersion(context.Background()); v != VersionMin {
		t.Fatalf("while down: %v", v)
	}
	up.Store(true)
	if v := c.MaxVersion(context.Background()); v != (Version{1, 75}) {
		t.Fatalf("once up: %v, want 1.75", v)
	}
}

func TestAPIVersionOverride(t *testing.T) {
	api := &fakeAPI{Version: "1.99", Lookup: func(int) (int, string) { return 200, lookupOK }}
	for _, tc := range []struct{ override, want string }{
		{"1.50", "1.50"},
		{"1.80", "1.62"}, // capped for lookup
	} {
		c, _ := newTestClient(t, Options{URLs: []string{serve(t, api)}, APIVersion: tc.override}, nil)
		if _, err := c.Lookup(context.Background(), []string{"52:54:00:12:34:56"}, ""); err != nil {
			t.Fatal(err)
		}
		reqs := api.requests("/v1/lookup")
		if got := reqs[len(reqs)-1].Header.Get(headerAPIVersion); got != tc.want {
			t.Errorf("override %s: lookup version %q, want %q", tc.override, got, tc.want)
		}
	}
	if n := len(api.requests("/")); n != 0 {
		t.Errorf("GET / sent %d times despite the override", n)
	}
}

func TestHeaders(t *testing.T) {
	api := &fakeAPI{
		Version:   "1.68",
		Lookup:    func(int) (int, string) { return 200, lookupOK },
		Heartbeat: func(int) (int, string) { return 202, "" },
	}
	url := serve(t, api)
	ctx := context.Background()
	for _, reqID := range []string{"req-6f4d1b2c-0a3e-4c55-9d52-1f8d3c2b7e10", ""} {
		c, _ := newTestClient(t, Options{URLs: []string{url}, RequestID: reqID}, nil)
		if _, err := c.Lookup(ctx, []string{"52:54:00:12:34:56"}, ""); err != nil {
			t.Fatal(err)
		}
		if err := c.Heartbeat(ctx, testUUID, HeartbeatRequest{CallbackURL: "http://127.0.0.1:9999", AgentVersion: "1.0"}); err != nil {
			t.Fatal(err)
		}
	}
	reqs := api.requests("")
	if len(reqs) != 6 {
		t.Fatalf("got %d requests, want 6", len(reqs))
	}
	for i, r := range reqs {
		wantID := "req-6f4d1b2c-0a3e-4c55-9d52-1f8d3c2b7e10"
		if i >= 3 {
			wantID = ""
		}
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("%s %s: Content-Type %q", r.Method, r.Path, got)
		}
		if got := r.Header.Get("Accept"); got != "application/json" {
			t.Errorf("%s %s: Accept %q", r.Method, r.Path, got)
		}
		if got := r.Header.Get(headerRequestID); got != wantID {
			t.Errorf("%s %s: request id %q, want %q", r.Method, r.Path, got, wantID)
		}
		if _, ok := r.Header[http.CanonicalHeaderKey(headerRequestID)]; !ok && wantID != "" || ok && wantID == "" {
			t.Errorf("%s %s: request id header presence wrong", r.Method, r.Path)
		}
	}
}

// closedURL returns an http URL on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// hangupURL accepts connections and closes them at once, counting them:
// an endpoint that never answers.
func hangupURL(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int32
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			conn.Close()
		}
	}()
	return "http://" + l.Addr().String(), &n
}

func TestURLFailoverAndRotation(t *testing.T) {
	dead, deadHits := hangupURL(t)
	refused := closedURL(t)
	api := &fakeAPI{Version: "1.68", Lookup: func(int) (int, string) { return 200, lookupOK }}
	good := serve(t, api)
	c, logs := newTestClient(t, Options{URLs: []string{dead + "," + refused + "," + good}}, nil)
	ctx := context.Background()

	if _, err := c.Lookup(ctx, []string{"52:54:00:12:34:56"}, ""); err != nil {
		t.Fatalf("lookup through the third URL: %v", err)
	}
	if got, want := c.URLs(), []string{good, dead, refused}; !slices.Equal(got, want) {
		t.Errorf("after failover URLs = %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "switched API endpoint") {
		t.Errorf("switch not logged: %s", logs)
	}
	before := deadHits.Load()
	if before == 0 {
		t.Fatal("the first URL was never tried")
	}
	if _, err := c.Lookup(ctx, []string{"52:54:00:12:34:56"}, ""); err != nil {
		t.Fatal(err)
	}
	if after := deadHits.Load(); after != before {
		t.Errorf("dead URL tried again (%d → %d) though a working one is first", before, after)
	}
	// Discovery went to the good URL too, once.
	if n := len(api.requests("/")); n != 1 {
		t.Errorf("GET / reached the good URL %d times, want 1", n)
	}
}

// An HTTP error status is an answer: the next URL is not tried.
func TestURLErrorStatusIsAnAnswer(t *testing.T) {
	first := &fakeAPI{Version: "1.68", Lookup: func(int) (int, string) { return 500, `{"error_message":"db down"}` }}
	second := &fakeAPI{Version: "1.68", Lookup: func(int) (int, string) { return 200, lookupOK }}
	u1, u2 := serve(t, first), serve(t, second)
	c, _ := newTestClient(t, Options{URLs: []string{u1, u2}}, nil)
	_, err := c.Lookup(context.Background(), []string{"52:54:00:12:34:56"}, "")
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 {
		t.Fatalf("Lookup = %v, want the first URL's 500", err)
	}
	if n := len(second.requests("")); n != 0 {
		t.Errorf("second URL got %d requests", n)
	}
	if got := c.URLs(); got[0] != u1 {
		t.Errorf("URLs reordered: %q", got)
	}
}

func TestAllURLsDown(t *testing.T) {
	r1, r2 := closedURL(t), closedURL(t)
	c, _ := newTestClient(t, Options{URLs: []string{r1, r2}, APIVersion: "1.68"}, nil)
	err := c.Heartbeat(context.Background(), testUUID, HeartbeatRequest{CallbackURL: "http://127.0.0.1:9999"})
	if err == nil {
		t.Fatal("heartbeat with every URL down succeeded")
	}
	for _, u := range []string{r1, r2} {
		if !strings.Contains(err.Error(), strings.TrimPrefix(u, "http://")) {
			t.Errorf("error %q does not name %s", err, u)
		}
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not say why", err)
	}
	if got := c.URLs(); !slices.Equal(got, []string{r1, r2}) {
		t.Errorf("URLs reordered with nothing answering: %q", got)
	}
}
