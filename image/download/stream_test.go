package download

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

const imageSize = 1<<20 + 12345

// readAll reads s to the end in odd-sized pieces and fails the test if
// io.EOF comes before Size bytes.
func readAll(t *testing.T, s *Stream) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	buf := make([]byte, 7777)
	for {
		n, err := s.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			if s.Size() >= 0 && int64(out.Len()) != s.Size() {
				t.Fatalf("io.EOF after %d of %d bytes", out.Len(), s.Size())
			}
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

func TestStreamSurvives(t *testing.T) {
	for _, tc := range []struct {
		name     string
		faults   []fault
		chunked  bool
		timeout  time.Duration
		requests int
		pauses   int
		resumes  int64
	}{
		{name: "clean", requests: 1},
		{name: "dropped connection", faults: []fault{drop}, requests: 2, resumes: 1},
		{name: "truncated body", faults: []fault{truncate}, requests: 2, resumes: 1},
		{name: "stall", faults: []fault{stall}, timeout: 300 * time.Millisecond, requests: 2, resumes: 1},
		{name: "stall before headers", faults: []fault{stallHeader}, timeout: 300 * time.Millisecond, requests: 2, pauses: 1},
		{name: "5xx then ok", faults: []fault{status500, status503, status500}, requests: 4, pauses: 3},
		{name: "drop then 5xx on resume", faults: []fault{drop, status503, truncate}, requests: 4, pauses: 1, resumes: 2},
		// Each drop spends one of the Retries+1 = 4 attempts; a fourth
		// drop would end the download (TestStreamAlwaysShort).
		{name: "repeated drops", faults: []fault{drop, drop, drop}, requests: 4, resumes: 3},
		{name: "chunked, dropped", faults: []fault{drop}, chunked: true, requests: 2, resumes: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := testData(imageSize)
			srv := newImageServer(t, data, tc.faults...)
			srv.chunked = tc.chunked
			opts, clk := testOptions(t, srv.url())
			if tc.timeout > 0 {
				opts.ConnectTimeout = tc.timeout
			}
			start := time.Now()
			s, err := Open(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			wantSize := int64(len(data))
			if tc.chunked {
				wantSize = -1
			}
			if s.Size() != wantSize {
				t.Errorf("Size() = %d, want %d", s.Size(), wantSize)
			}
			got, err := readAll(t, s)
			if err != nil {
				t.Fatalf("read %d bytes, then %v", len(got), err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes that differ from the %d-byte image", len(got), len(data))
			}
			if d := time.Since(start); tc.timeout > 0 && d > 10*tc.timeout {
				t.Errorf("took %v: the stall was not detected after %v", d, tc.timeout)
			}
			if n, err := s.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Errorf("Read after the end = %d, %v; want 0, io.EOF", n, err)
			}
			reqs := srv.requests()
			if len(reqs) != tc.requests || s.Requests() != int64(tc.requests) {
				t.Errorf("server saw %d requests, Requests() = %d, want %d", len(reqs), s.Requests(), tc.requests)
			}
			if p := clk.pauses(); len(p) != tc.pauses {
				t.Errorf("paused %v, want %d pauses", p, tc.pauses)
			}
			if p := s.Progress(); p.Resumes != tc.resumes || p.Bytes != int64(len(data)) {
				t.Errorf("Progress() = %+v, want %d resumes and %d bytes", p, tc.resumes, len(data))
			}
			for _, r := range reqs[1:] {
				if rng := r.Header.Get("Range"); rng != "" && r.Header.Get("If-Range") != `"v1"` {
					t.Errorf("resume %q sent If-Range %q, want the ETag", rng, r.Header.Get("If-Range"))
				}
			}
		})
	}
}

func TestStreamResumeRange(t *testing.T) {
	data := testData(90000)
	srv := newImageServer(t, data, drop)
	opts, _ := testOptions(t, srv.url())
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := readAll(t, s); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if got := reqs[1].Header.Get("Range"); got != "bytes=30000-" {
		t.Errorf("resume asked for %q, want bytes=30000- (a third was sent before the drop)", got)
	}
}

func TestStreamLastModifiedValidator(t *testing.T) {
	srv := newImageServer(t, testData(50000), drop)
	srv.etag = `W/"weak"`
	opts, _ := testOptions(t, srv.url())
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := readAll(t, s)
	if err != nil || len(got) != 50000 {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if ifr := srv.requests()[1].Header.Get("If-Range"); ifr != "Mon, 02 Jan 2006 15:04:05 GMT" {
		t.Errorf("If-Range = %q, want Last-Modified (weak ETags are not allowed)", ifr)
	}
}

// TestStreamCannotResume: bytes of a different object are never spliced,
// and a short stream never ends in io.EOF.
func TestStreamCannotResume(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(*imageServer) // after the first answer, unless before
		before   bool
		requests int
	}{
		{name: "server ignores Range", setup: func(s *imageServer) { s.noRange = true }, requests: 2},
		{name: "Accept-Ranges none", setup: func(s *imageServer) { s.noAcceptRange = true }, before: true, requests: 1},
		{name: "ETag changed", setup: func(s *imageServer) { s.setETag(`"v2"`) }, requests: 2},
		{name: "ETag changed, If-Range ignored", setup: func(s *imageServer) {
			s.setETag(`"v2"`)
			s.ignoreIfRange = true
		}, requests: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := testData(100000)
			srv := newImageServer(t, data, drop)
			opts, _ := testOptions(t, srv.url())
			if tc.before {
				tc.setup(srv)
			}
			s, err := Open(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tc.setup(srv)
			got, err := readAll(t, s)
			if !errors.Is(err, ErrRestart) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("err = %v, want ErrRestart and io.ErrUnexpectedEOF", err)
			}
			if !bytes.Equal(got, data[:len(got)]) || len(got) != len(data)/3 {
				t.Errorf("delivered %d bytes, want the %d sent before the drop", len(got), len(data)/3)
			}
			if n := len(srv.requests()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if _, err2 := s.Read(make([]byte, 1)); err2 != err {
				t.Errorf("next Read = %v, want the same error", err2)
			}
		})
	}
}

func TestStreamRetriesExhausted(t *testing.T) {
	data := testData(60000)
	srv := newImageServer(t, data, drop, status500, status503, status500, status500, status500)
	opts, clk := testOptions(t, srv.url())
	opts.Retries = 2
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := readAll(t, s)
	if !errors.Is(err, ErrRetriesExhausted) || !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, ErrHTTPServer) {
		t.Fatalf("err = %v, want ErrRetriesExhausted, ErrHTTPServer and io.ErrUnexpectedEOF", err)
	}
	if len(got) != 20000 {
		t.Errorf("delivered %d bytes, want 20000", len(got))
	}
	// The drop that delivered bytes spends an attempt like the 500s (3 in
	// all, Retries+1) but is resumed at once; the 500 is paused after.
	if n := len(srv.requests()); n != 3 {
		t.Errorf("%d requests, want 3 (Retries+1)", n)
	}
	p := clk.pauses()
	if len(p) != 1 || p[0] < 5*time.Second || p[0] >= 10*time.Second {
		t.Errorf("pauses %v, want one in [5s,10s)", p)
	}
}

// TestPauseWithinInterval: pauses never exceed RetryInterval, so the
// time bound the README states holds, and are spread over [d/2, d).
func TestPauseWithinInterval(t *testing.T) {
	for _, x := range []float64{0, 0.5, 0.999999} {
		f := &fetcher{o: Options{RetryInterval: 10 * time.Second}, rand: func() float64 { return x }}
		r := retrier{f: f}
		if got, want := r.pause(), 5*time.Second+time.Duration(x*float64(5*time.Second)); got != want {
			t.Errorf("rand %v: pause %v, want %v", x, got, want)
		}
	}
}

func TestStreamClientErrorsAreFatal(t *testing.T) {
	for _, f := range []fault{status404, status403} {
		srv := newImageServer(t, testData(1000), f, f, f)
		opts, clk := testOptions(t, srv.url())
		_, err := Open(context.Background(), opts)
		code := map[fault]string{status404: "404", status403: "403"}[f]
		if !errors.Is(err, ErrHTTPClient) || !strings.Contains(err.Error(), code) {
			t.Errorf("%s: err = %v, want ErrHTTPClient with the status", code, err)
		}
		if n := len(srv.requests()); n != 1 || len(clk.pauses()) != 0 {
			t.Errorf("%s: %d requests and pauses %v, want 1 and none", code, n, clk.pauses())
		}
	}
}

func TestStreamURLsInOrder(t *testing.T) {
	data := testData(5000)
	gone := newImageServer(t, data, status404)
	flaky := newImageServer(t, data, status503, status503)
	good := newImageServer(t, data)
	opts, clk := testOptions(t, gone.url(), flaky.url(), good.url())
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := readAll(t, s); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if g, f, o := len(gone.requests()), len(flaky.requests()), len(good.requests()); g != 1 || f != 1 || o != 1 {
		t.Errorf("requests gone/flaky/good = %d/%d/%d, want 1/1/1 (first success wins, no pause)", g, f, o)
	}
	if p := clk.pauses(); len(p) != 0 {
		t.Errorf("paused %v before trying the next URL", p)
	}

	// Every URL refusing ends at once; a dead URL is not retried.
	a, b := newImageServer(t, data, status404), newImageServer(t, data, status403)
	opts, _ = testOptions(t, a.url(), b.url())
	if _, err := Open(context.Background(), opts); !errors.Is(err, ErrHTTPClient) {
		t.Errorf("all URLs 4xx: err = %v, want ErrHTTPClient", err)
	}
	if len(a.requests())+len(b.requests()) != 2 {
		t.Errorf("all URLs 4xx: %d requests, want 2", len(a.requests())+len(b.requests()))
	}
}

func TestStreamMaxDuration(t *testing.T) {
	srv := newImageServer(t, testData(100000), stall)
	opts, _ := testOptions(t, srv.url())
	opts.MaxDuration = time.Second
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = readAll(t, s)
	if !errors.Is(err, ErrMaxDuration) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want ErrMaxDuration", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v, want about MaxDuration", d)
	}
}

func TestStreamCanceled(t *testing.T) {
	srv := newImageServer(t, testData(1000), status503, status503)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	opts, _ := testOptions(t, srv.url())
	if _, err := Open(ctx, opts); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestStreamTLS(t *testing.T) {
	ca := newTestCA(t)
	data := testData(70000)
	srv := newTLSImageServer(t, ca, data, drop)

	for _, tc := range []struct {
		name string
		tls  *tls.Config
		ok   bool
	}{
		{name: "private CA", tls: &tls.Config{RootCAs: ca.pool}, ok: true},
		{name: "insecure", tls: &tls.Config{InsecureSkipVerify: true}, ok: true},
		{name: "system roots", tls: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.requests())
			opts, clk := testOptions(t, srv.url())
			opts.TLS = tc.tls
			s, err := Open(context.Background(), opts)
			if !tc.ok {
				var cv *tls.CertificateVerificationError
				if !errors.As(err, &cv) {
					t.Fatalf("err = %v, want a certificate verification error", err)
				}
				if len(clk.pauses()) != 0 {
					t.Errorf("retried a certificate error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got, err := readAll(t, s); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			if n := len(srv.requests()) - before; n < 1 {
				t.Errorf("%d requests", n)
			}
		})
	}
}

func TestStreamAuth(t *testing.T) {
	data := testData(3000)
	for _, tc := range []struct {
		name, required string
		opts           func(*Options)
		ok             bool
	}{
		{name: "bearer", required: "Bearer s3cr3t", opts: func(o *Options) { o.Authorization = "Bearer s3cr3t" }, ok: true},
		{name: "bearer missing", required: "Bearer s3cr3t", opts: func(*Options) {}},
		{name: "basic", required: "Basic dXNlcjpwYXNz", opts: func(o *Options) { o.BasicUser, o.BasicPassword = "user", "pass" }, ok: true},
		{name: "basic wrong", required: "Basic dXNlcjpwYXNz", opts: func(o *Options) { o.BasicUser, o.BasicPassword = "user", "nope" }},
		{name: "authorization wins over basic", required: "Bearer s3cr3t", opts: func(o *Options) {
			o.Authorization, o.BasicUser, o.BasicPassword = "Bearer s3cr3t", "user", "pass"
		}, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newImageServer(t, data, drop)
			srv.auth = tc.required
			opts, _ := testOptions(t, srv.url())
			tc.opts(&opts)
			s, err := Open(context.Background(), opts)
			if !tc.ok {
				if !errors.Is(err, ErrHTTPClient) || !strings.Contains(err.Error(), "401") {
					t.Fatalf("err = %v, want ErrHTTPClient 401", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got, err := readAll(t, s); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			if n := len(srv.requests()); n != 2 {
				t.Errorf("%d requests, want 2 (the resume is authorized too)", n)
			}
		})
	}
}

func TestStreamProxy(t *testing.T) {
	data := testData(40000)
	ca := newTestCA(t)
	tlsSrv := newTLSImageServer(t, ca, data)

	for _, tc := range []struct {
		name    string
		https   bool
		proxies func(p *proxy) Proxies
		noProxy string
		relayed int
	}{
		{name: "http via proxy", proxies: func(p *proxy) Proxies { return Proxies{HTTP: p.URL} }, relayed: 1},
		{name: "proxy without scheme", proxies: func(p *proxy) Proxies { return Proxies{HTTP: strings.TrimPrefix(p.URL, "http://")} }, relayed: 1},
		{name: "https proxy not used for http", proxies: func(p *proxy) Proxies { return Proxies{HTTPS: p.URL} }},
		{name: "no_proxy IP", proxies: func(p *proxy) Proxies { return Proxies{HTTP: p.URL} }, noProxy: "example.com, 127.0.0.1"},
		{name: "no_proxy CIDR", proxies: func(p *proxy) Proxies { return Proxies{HTTP: p.URL} }, noProxy: "127.0.0.0/8"},
		{name: "no_proxy other host", proxies: func(p *proxy) Proxies { return Proxies{HTTP: p.URL} }, noProxy: "10.0.0.1,.example.com", relayed: 1},
		{name: "https via CONNECT", https: true, proxies: func(p *proxy) Proxies { return Proxies{HTTPS: p.URL} }, relayed: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t)
			u := newImageServer(t, data).url()
			if tc.https {
				u = tlsSrv.url()
			}
			opts, _ := testOptions(t, u)
			opts.Proxies, opts.NoProxy = tc.proxies(p), tc.noProxy
			opts.TLS = &tls.Config{RootCAs: ca.pool}
			s, err := Open(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got, err := readAll(t, s); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			if n := p.count(); n != tc.relayed {
				t.Errorf("proxy relayed %d requests (%v), want %d", n, p.relayed, tc.relayed)
			}
		})
	}
}

func TestStreamProgress(t *testing.T) {
	data := testData(100000)
	srv := newImageServer(t, data)
	opts, clk := testOptions(t, srv.url())
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := io.ReadFull(s, make([]byte, 25000)); err != nil {
		t.Fatal(err)
	}
	clk.advance(5 * time.Second)
	p := s.Progress()
	if p.Bytes != 25000 || p.Size != 100000 || p.Elapsed != 5*time.Second || p.Rate != 5000 || p.ETA != 15*time.Second {
		t.Errorf("Progress() = %+v, want 25000/100000 bytes at 5000 B/s, 15s left", p)
	}
	if s.BytesRead() != 25000 {
		t.Errorf("BytesRead() = %d", s.BytesRead())
	}
}

func TestOpenBadOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{URLs: []string{"ftp://example.com/x"}},
		{URLs: []string{"http://127.0.0.1/x"}, Retries: -1},
		{URLs: []string{"http://127.0.0.1/x"}, Proxies: Proxies{HTTP: "ftp://proxy:21"}},
	} {
		if _, err := Open(context.Background(), o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

// TestStreamHashSamePass is how the deploy uses Stream and Verifier: the
// digest is computed while the bytes are written, across a resume.
func TestStreamHashSamePass(t *testing.T) {
	data := testData(200000)
	srv := newImageServer(t, data, truncate)
	opts, _ := testOptions(t, srv.url())
	sum := sha256.Sum256(data)
	v, err := ParseChecksum(context.Background(), ChecksumSpec{Checksum: strings.ToUpper(hexString(sum[:]))}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := v.Hash()
	var disk bytes.Buffer
	if _, err := io.Copy(io.MultiWriter(&disk, h), s); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(h.Sum(nil)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk.Bytes(), data) {
		t.Fatal("written bytes differ")
	}
}

// TestPeekSerial: Peek shows the first bytes without consuming them or
// starting the parallel fetch; after Serial the image comes over the one
// connection, every byte read and hashed once.
func TestPeekSerial(t *testing.T) {
	data := testData(3*DefaultSegmentSize + 1234)
	for _, serial := range []bool{false, true} {
		srv := newImageServer(t, data)
		opts, _ := testOptions(t, srv.url())
		opts.Streams = 4
		s, err := Open(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		s.Hash(h)
		head, err := s.Peek(8)
		if err != nil || !bytes.Equal(head, data[:8]) {
			t.Fatalf("Peek = %x, %v; want %x", head, err, data[:8])
		}
		if serial {
			s.Serial()
		}
		got, err := readAll(t, s)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("serial %v: read %d bytes, %v; want the image", serial, len(got), err)
		}
		sum, err := s.Sum()
		if want := sha256.Sum256(data); err != nil || !bytes.Equal(sum, want[:]) {
			t.Errorf("serial %v: digest %x, %v; want the image's", serial, sum, err)
		}
		if ranges := srv.ranges(); serial != (len(ranges) == 0) {
			t.Errorf("serial %v: Range requests %q", serial, ranges)
		}
		if _, err := s.Peek(8); err == nil {
			t.Error("Peek after reading succeeded")
		}
		s.Close()
	}
}
