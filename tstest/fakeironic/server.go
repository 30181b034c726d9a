// Package fakeironic is an in-process Ironic for tests and demos: the ramdisk
// endpoints (/, /v1/lookup, /v1/heartbeat) with Ironic's validation rules,
// nodes whose state a test sets, fault injection, a record of every lookup
// and heartbeat, and a Conductor that drives an agent the way Ironic's
// conductor does. It listens on loopback only.
package fakeironic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ErrNotLoopback is returned by Start for an address that is not loopback.
var ErrNotLoopback = errors.New("fake Ironic listens on loopback only")

// Options configure a Server.
type Options struct {
	// MaxVersion is the highest API microversion served ("1.82" if empty),
	// reported as default_version.version by GET /.
	MaxVersion string
	// UnrestrictedLookup turns off [api]restrict_lookup, so lookup finds
	// nodes in any provision state.
	UnrestrictedLookup bool
	// FastTrack adds the fast-track states to those lookup accepts.
	FastTrack bool
	// RequireTLS rejects heartbeats whose callback_url is not https
	// ([agent]require_tls, the default since Ironic 26.0).
	RequireTLS bool
	// Config is the lookup "config" (DefaultConfig() if zero).
	Config *Config
	// Logger receives one line per request (discarded if nil).
	Logger *slog.Logger
}

// Server is the fake Ironic. It is an http.Handler; Start also serves it.
type Server struct {
	max        apiVersion
	restricted bool
	fastTrack  bool
	requireTLS bool
	log        *slog.Logger

	mu         sync.Mutex
	cfg        Config
	nodes      []*node
	lookups    []Lookup
	heartbeats []Heartbeat
	faults     map[Endpoint][]int
	subs       map[int]func(Heartbeat)
	nextSub    int
	changed    chan struct{} // closed and replaced on every recorded event

	lnMu sync.Mutex
	addr string
	ln   net.Listener
	hs   *http.Server
}

// New returns a Server that is not listening yet.
func New(opts Options) (*Server, error) {
	s := &Server{
		max:        apiVersion{1, 82},
		restricted: !opts.UnrestrictedLookup,
		fastTrack:  opts.FastTrack,
		requireTLS: opts.RequireTLS,
		log:        opts.Logger,
		cfg:        DefaultConfig(),
		faults:     map[Endpoint][]int{},
		subs:       map[int]func(Heartbeat){},
		changed:    make(chan struct{}),
	}
	if opts.MaxVersion != "" {
		v, err := parseVersion(opts.MaxVersion)
		if err != nil || v.less(ramdiskVersion) {
			return nil, fmt.Errorf("MaxVersion %q: want 1.22 or later", opts.MaxVersion)
		}
		s.max = v
	}
	if opts.Config != nil {
		s.cfg = *opts.Config
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s, nil
}

// TB is the part of testing.TB that NewTest uses.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// NewTest starts a Server on 127.0.0.1 and stops it when the test ends.
func NewTest(t TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("fakeironic: %v", err)
	}
	if err := s.Start(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatalf("fakeironic: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start listens on addr (a loopback host:port; port 0 picks one) and serves
// until ctx is done or Close is called.
func (s *Server) Start(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s: %w", addr, ErrNotLoopback)
	}
	if err := s.listen(addr); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	return nil
}

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.lnMu.Lock()
	s.addr, s.ln, s.hs = ln.Addr().String(), ln, hs
	s.lnMu.Unlock()
	go hs.Serve(ln)
	return nil
}

// URL is the server's base URL (what an agent gets as ipa-api-url).
func (s *Server) URL() string {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	return "http://" + s.addr
}

// Close stops serving and closes every connection.
func (s *Server) Close() error {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.hs == nil {
		return nil
	}
	err := s.hs.Close()
	s.hs, s.ln = nil, nil
	return err
}

// SetDown(true) closes the listener, so clients get "connection refused";
// SetDown(false) listens on the same address again.
func (s *Server) SetDown(down bool) error {
	s.lnMu.Lock()
	addr, up := s.addr, s.hs != nil
	s.lnMu.Unlock()
	switch {
	case addr == "":
		return errors.New("server was never started")
	case down && up:
		return s.Close()
	case !down && !up:
		return s.listen(addr)
	}
	return nil
}

// SetConfig replaces the lookup config sent from now on.
func (s *Server) SetConfig(c Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg = c
}

// ServeHTTP serves the Ironic API subset.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.log.Info("ironic request", "method", r.Method, "path", r.URL.Path, "version", r.Header.Get(versionHeader))
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "" && r.Method == http.MethodGet:
		if s.fault(w, r, EndpointRoot) {
			return
		}
		s.root(w, r)
	case path == "/v1/lookup" && r.Method == http.MethodGet:
		s.lookup(w, r)
	case strings.HasPrefix(path, "/v1/heartbeat/") && r.Method == http.MethodPost:
		s.heartbeat(w, r, strings.TrimPrefix(path, "/v1/heartbeat/"))
	case path == "/v1/lookup" || strings.HasPrefix(path, "/v1/heartbeat/") || path == "":
		writeError(w, http.StatusMethodNotAllowed, "The server could not comply with the request since it is either malformed or otherwise incorrect.")
	default:
		writeError(w, http.StatusNotFound, "The resource could not be found.")
	}
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	base := "http://" + r.Host
	v1 := map[string]any{
		"id":          "v1",
		"links":       []map[string]string{{"href": base + "/v1/", "rel": "self"}},
		"status":      "CURRENT",
		"min_version": minVersion.String(),
		"version":     s.max.String(),
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":            "OpenStack Ironic API",
		"description":     "Ironic is an OpenStack project which enables the provision and management of baremetal machines.",
		"default_version": v1,
		"versions":        []any{v1},
	})
}

// notify wakes every waiter; callers hold s.mu.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor calls cond under the lock until it returns true or ctx is done.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
