package e2e

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

var errNotLoopbackTarget = errors.New("proxy: only http://127.0.0.1 targets are forwarded")

// loopbackProxy is the HTTP forward proxy the guest downloads images
// through (driver_info.image_http_proxy): the image URL names the host's
// 127.0.0.1, which the conductor can HEAD but the guest cannot reach. It
// forwards plain-HTTP requests for 127.0.0.1 and refuses everything else,
// so nothing the guest asks for leaves this machine.
type loopbackProxy struct {
	forwarded atomic.Int64
	transport *http.Transport
}

func newLoopbackProxy() *loopbackProxy {
	return &loopbackProxy{transport: &http.Transport{Proxy: nil, DisableCompression: true}}
}

func checkProxyTarget(r *http.Request) error {
	if r.Method == http.MethodConnect || !r.URL.IsAbs() || r.URL.Scheme != "http" {
		return errNotLoopbackTarget
	}
	if ip := net.ParseIP(r.URL.Hostname()); ip == nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		return errNotLoopbackTarget
	}
	return nil
}

func (p *loopbackProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := checkProxyTarget(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive"} {
		out.Header.Del(h)
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	p.forwarded.Add(1)
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// startProxy serves p on 127.0.0.1 and returns host:port.
func startProxy(t *testing.T, p http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		if lp, ok := p.(*loopbackProxy); ok {
			lp.transport.CloseIdleConnections()
		}
	})
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestLoopbackProxy(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "image bytes")
	}))
	defer origin.Close()
	p := newLoopbackProxy()
	addr := startProxy(t, p)

	tests := []struct {
		name   string
		method string
		target string
		code   int
		body   string
	}{
		{"loopback GET", "GET", origin.URL + "/img", http.StatusOK, "image bytes"},
		{"loopback HEAD", "HEAD", origin.URL + "/img", http.StatusOK, ""},
		{"other address", "GET", "http://10.0.2.2:80/img", http.StatusForbidden, errNotLoopbackTarget.Error()},
		{"name, not address", "GET", "http://localhost:80/img", http.StatusForbidden, errNotLoopbackTarget.Error()},
		{"origin-form", "GET", "/img", http.StatusForbidden, errNotLoopbackTarget.Error()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.method+" "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: tc.method})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || strings.TrimSpace(string(b)) != tc.body {
				t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.target, resp.StatusCode, b, tc.code, tc.body)
			}
		})
	}
	if got := p.forwarded.Load(); got != 2 {
		t.Errorf("forwarded %d requests, want 2", got)
	}
}
