package e2e

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goipa/goipa/e2e/ironiclab"
)

var errUnknownAgent = errors.New("callback proxy: no machine has that address")

// callbackProxy is the HTTP proxy the conductor calls agents through when
// Ironic boots them itself: an agent booted with Ironic's own kernel line
// heartbeats with the address it has in its VM's network (10.0.2.x:9999),
// which exists only inside QEMU. The proxy maps each machine's address to
// the loopback port QEMU forwards to the agent, for plain HTTP and for
// HTTPS tunnels (CONNECT), and refuses every other target, so nothing
// leaves this machine.
type callbackProxy struct {
	mu     sync.Mutex
	agents map[string]string // guest host:port → 127.0.0.1:port
}

func newCallbackProxy() *callbackProxy { return &callbackProxy{agents: map[string]string{}} }

// route sends calls for guest (host:port) to the loopback address host.
func (p *callbackProxy) route(guest, host string) {
	p.mu.Lock()
	p.agents[guest] = host
	p.mu.Unlock()
}

func (p *callbackProxy) target(hostport string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, ok := p.agents[hostport]; ok {
		return h, nil
	}
	return "", errUnknownAgent
}

func (p *callbackProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" {
		http.Error(w, errUnknownAgent.Error(), http.StatusForbidden)
		return
	}
	to, err := p.target(r.URL.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: "http", Host: to})
		pr.Out.URL.Path, pr.Out.URL.RawPath = r.URL.Path, r.URL.RawPath
		pr.Out.Host = r.URL.Host
	}}
	rp.ServeHTTP(w, r)
}

func (p *callbackProxy) tunnel(w http.ResponseWriter, r *http.Request) {
	to, err := p.target(r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	up, err := net.Dial("tcp", to)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer up.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijacking", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer down.Close()
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, buf) // what the client sent after CONNECT is buffered
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(down, up)
	down.Close() // the agent is done: so is the client's side
	<-done
}

func TestCallbackProxy(t *testing.T) {
	agent := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+r.Host)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go agent.Serve(ln)
	defer agent.Close()
	p := newCallbackProxy()
	p.route("10.0.2.16:9999", ln.Addr().String())
	addr := startProxy(t, p)
	proxyURL, _ := url.Parse("http://" + addr)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}

	tests := []struct {
		url  string
		code int
		body string
	}{
		{"http://10.0.2.16:9999/v1/commands/?wait=true", http.StatusOK, "GET /v1/commands/?wait=true 10.0.2.16:9999"},
		{"http://10.0.2.17:9999/v1/commands/", http.StatusForbidden, errUnknownAgent.Error()},
		{"http://10.0.2.16:22/", http.StatusForbidden, errUnknownAgent.Error()},
	}
	for _, tc := range tests {
		resp, err := c.Get(tc.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || string(b) != tc.body && string(b) != tc.body+"\n" {
			t.Errorf("GET %s: %d %q, want %d %q", tc.url, resp.StatusCode, b, tc.code, tc.body)
		}
	}

	// A tunnel reaches the mapped agent; an unmapped target is refused
	// before anything is dialled.
	for _, tc := range []struct {
		target string
		want   string
	}{{"10.0.2.16:9999", "200"}, {"10.0.2.2:9999", "403"}} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "CONNECT "+tc.target+" HTTP/1.1\r\nHost: "+tc.target+"\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Status[:3]; got != tc.want {
			t.Errorf("CONNECT %s: %s, want %s", tc.target, resp.Status, tc.want)
		}
		if tc.want == "200" {
			io.WriteString(conn, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
			b, _ := io.ReadAll(br)
			if !strings.Contains(string(b), "GET /x a") {
				t.Errorf("through the tunnel: %q", b)
			}
		}
		conn.Close()
	}
}

func TestHeartbeatSince(t *testing.T) {
	boot := time.Date(2026, 12, 6, 20, 47, 41, 0, time.UTC)
	for _, tc := range []struct {
		recorded any
		want     bool
	}{
		{"2026-12-06T20:47:41.868000", true}, // Ironic's utcnow().isoformat()
		{"2026-12-06T20:47:42", true},        // isoformat() drops zero microseconds
		{"2026-12-06T20:47:40.999999", false},
		{nil, false},
	} {
		n := &ironiclab.Node{DriverInternalInfo: map[string]any{"agent_last_heartbeat": tc.recorded}}
		if got := heartbeatSince(n, boot); got != tc.want {
			t.Errorf("heartbeat %v after %v: %v, want %v", tc.recorded, boot, got, tc.want)
		}
	}
}
