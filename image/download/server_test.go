package download

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const lastModified = "Mon, 02 Jan 2006 15:04:05 GMT"

// fault is what the image server does to one request.
type fault int

const (
	serve       fault = iota
	drop              // send part of the body, then close the connection (hijacked)
	truncate          // send part of the body with the full Content-Length
	stall             // send part of the body, then nothing
	stallHeader       // send nothing at all
	status500
	status503
	status404
	status403
)

// imageServer serves data at any path with faults injected per request.
type imageServer struct {
	*httptest.Server
	data []byte

	mu             sync.Mutex
	faults         []fault // consumed one per request; serve afterwards
	etag           string
	noRange        bool // ignore Range, always 200
	ignoreRange    bool // announce Accept-Ranges: bytes, yet answer Range with 200
	noLastModified bool
	noAcceptRange  bool // announce Accept-Ranges: none
	chunked        bool // no Content-Length on 200
	ignoreIfRange  bool
	auth           string // required Authorization header
	reqs           []*http.Request
}

func testData(n int) []byte {
	b := make([]byte, n)
	var x uint32 = 2463534242
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func newImageServer(t *testing.T, data []byte, faults ...fault) *imageServer {
	t.Helper()
	s := &imageServer{data: data, faults: faults, etag: `"v1"`}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// newTLSImageServer serves data over TLS with a certificate of ca.
func newTLSImageServer(t *testing.T, ca testCA, data []byte, faults ...fault) *imageServer {
	t.Helper()
	s := &imageServer{data: data, faults: faults, etag: `"v1"`}
	s.Server = httptest.NewUnstartedServer(s)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.server}}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *imageServer) url() string { return s.URL + "/images/disk.img" }

func (s *imageServer) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}

// ranges returns the Range headers received, sorted.
func (s *imageServer) ranges() []string {
	var r []string
	for _, q := range s.requests() {
		if h := q.Header.Get("Range"); h != "" {
			r = append(r, h)
		}
	}
	slices.Sort(r)
	return r
}

func (s *imageServer) setETag(e string) {
	s.mu.Lock()
	s.etag = e
	s.mu.Unlock()
}

func (s *imageServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	f := serve
	if len(s.faults) > 0 {
		f, s.faults = s.faults[0], s.faults[1:]
	}
	etag, noRange, noAccept, chunked, ignoreIfRange, auth :=
		s.etag, s.noRange || s.ignoreRange, s.noAcceptRange, s.chunked, s.ignoreIfRange, s.auth
	announce, noLM := s.ignoreRange, s.noLastModified
	s.mu.Unlock()

	if auth != "" && r.Header.Get("Authorization") != auth {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch f {
	case status500, status503, status404, status403:
		code := map[fault]int{status500: 500, status503: 503, status404: 404, status403: 403}[f]
		http.Error(w, http.StatusText(code), code)
		return
	case stallHeader:
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second): // only if the client never gives up
		}
		return
	}

	body, status := s.data, http.StatusOK
	h := w.Header()
	if etag != "" {
		h.Set("ETag", etag)
	}
	if !noLM {
		h.Set("Last-Modified", lastModified)
	}
	if noAccept {
		h.Set("Accept-Ranges", "none")
	} else if !noRange || announce {
		h.Set("Accept-Ranges", "bytes")
	}
	if rng := r.Header.Get("Range"); rng != "" && !noRange {
		ifr := r.Header.Get("If-Range")
		if ignoreIfRange || ifr == "" || ifr == etag || ifr == lastModified {
			first, last, ok := parseRange(rng, int64(len(s.data)))
			if !ok {
				h.Set("Content-Range", fmt.Sprintf("bytes */%d", len(s.data)))
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return
			}
			body, status = s.data[first:last+1], http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(s.data)))
		}
	}
	if !chunked || status == http.StatusPartialContent {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	part := body[:len(body)/3]
	switch f {
	case drop:
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
		h.Write(buf)
		if chunked && status == http.StatusOK {
			fmt.Fprintf(buf, "Transfer-Encoding: chunked\r\n\r\n%x\r\n", len(part))
		} else {
			buf.WriteString("\r\n")
		}
		buf.Write(part)
		buf.Flush()
		conn.Close()
	case truncate:
		w.WriteHeader(status)
		w.Write(part)
	case stall:
		w.WriteHeader(status)
		w.Write(part)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second): // only if the client never gives up
		}
	default:
		w.WriteHeader(status)
		w.Write(body)
	}
}

// parseRange parses "bytes=a-" and "bytes=a-b".
func parseRange(s string, size int64) (first, last int64, ok bool) {
	spec, ok := strings.CutPrefix(s, "bytes=")
	if !ok {
		return 0, 0, false
	}
	a, b, _ := strings.Cut(spec, "-")
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first >= size {
		return 0, 0, false
	}
	last = size - 1
	if b != "" {
		if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
			return 0, 0, false
		}
		last = min(last, size-1)
	}
	return first, last, true
}

// fakeClock records retry pauses and returns at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) pauses() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// testOptions are fast options for url: tiny timeouts, a fake clock.
func testOptions(t *testing.T, urls ...string) (Options, *fakeClock) {
	clk := newFakeClock()
	return Options{
		URLs:           urls,
		ConnectTimeout: 10 * time.Second, // generous: stall tests set their own
		Retries:        3,
		RetryInterval:  10 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Clock:          clk,
	}, clk
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testCA is a private CA and a server certificate it signed for 127.0.0.1.
type testCA struct {
	pool   *x509.CertPool
	server tls.Certificate
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "goipa test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return testCA{pool: pool, server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// proxy is a forward HTTP proxy on 127.0.0.1 that counts what it relays:
// absolute-URI requests for http and CONNECT tunnels for https.
type proxy struct {
	*httptest.Server
	mu      sync.Mutex
	relayed []string
}

func newProxy(t *testing.T) *proxy {
	p := &proxy{}
	p.Server = httptest.NewServer(p)
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.relayed)
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.relayed = append(p.relayed, r.Method+" "+r.RequestURI)
	p.mu.Unlock()
	if r.Method == http.MethodConnect {
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		go io.Copy(up, buf)
		io.Copy(conn, up)
		return
	}
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	out := r.Clone(context.Background())
	out.RequestURI = ""
	resp, err := (&http.Transport{}).RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}
