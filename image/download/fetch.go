package download

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// fetcher sends the GET requests of one Stream or ReaderAt.
type fetcher struct {
	o        Options
	c        *http.Client
	ctx      context.Context // ends at MaxDuration or Close
	cancel   context.CancelFunc
	rand     func() float64 // jitter source, fixed in tests
	requests *atomic.Int64  // shared with the fetchers derived by sub
}

func newFetcher(ctx context.Context, opts Options) (*fetcher, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	c, err := o.httpClient()
	if err != nil {
		return nil, err
	}
	f := &fetcher{o: o, c: c, rand: rand.Float64, requests: new(atomic.Int64)}
	if o.MaxDuration > 0 {
		f.ctx, f.cancel = context.WithTimeoutCause(ctx, o.MaxDuration,
			fmt.Errorf("%w (%v)", ErrMaxDuration, o.MaxDuration))
	} else {
		f.ctx, f.cancel = context.WithCancel(ctx)
	}
	return f, nil
}

// sub returns a fetcher for url alone that shares f's client and request
// count but has its own context, so it can be stopped on its own.
func (f *fetcher) sub(url string) *fetcher {
	g := *f
	g.o.URLs = []string{url}
	g.ctx, g.cancel = context.WithCancel(f.ctx)
	return &g
}

// stop cancels f's requests and leaves the shared client open.
func (f *fetcher) stop() { f.cancel() }

func (f *fetcher) close() {
	f.cancel()
	f.c.CloseIdleConnections()
}

// statusError is an HTTP answer other than 200 or 206.
type statusError struct {
	url    string
	code   int
	status string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: %s", redactString(e.url), e.status)
}

func (e *statusError) Unwrap() error {
	switch {
	case e.code >= 400 && e.code < 500:
		return ErrHTTPClient
	case e.code >= 500:
		return ErrHTTPServer
	}
	return nil
}

// get sends one GET of u with optional Range and If-Range headers and
// returns a 200 or 206 response whose body fails with ErrStalled when no
// byte arrives for ConnectTimeout.
func (f *fetcher) get(u, rng, ifRange string) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(f.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	f.o.authorize(req)
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", "goipa")
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	if ifRange != "" {
		req.Header.Set("If-Range", ifRange)
	}
	f.requests.Add(1)
	resp, err := f.c.Do(req)
	if err != nil {
		cancel(nil)
		if c := context.Cause(f.ctx); c != nil {
			return nil, c
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redactString(ue.URL)
		}
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		drain(resp.Body)
		cancel(nil)
		return nil, &statusError{url: u, code: resp.StatusCode, status: resp.Status}
	}
	resp.Body = newWatchedBody(ctx, resp.Body, f.o.ConnectTimeout, cancel)
	return resp, nil
}

// refused reports errors that retrying the same URL cannot fix: a 4xx
// answer, a certificate that does not verify, no range support. The URL is
// given up and the next one tried.
func refused(err error) bool {
	var se *statusError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case errors.Is(err, ErrNoRange),
		errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn):
		return true
	case errors.As(err, &se):
		return se.code < 500
	}
	return false
}

// retrier walks the URLs in order and pauses with backoff after each round
// in which every URL failed.
type retrier struct {
	f     *fetcher
	idx   int    // URL in use
	round int    // failed rounds since the last byte delivered
	dead  []bool // URLs given up, see refused
}

func (r *retrier) url() string { return r.f.o.URLs[r.idx] }

// progress records that the current URL delivered bytes.
func (r *retrier) progress() { r.round = 0 }

// fail records a failed attempt on the current URL and moves to the next
// usable one, pausing after a full round; it returns the error that ends
// the fetch, or nil to try again.
func (r *retrier) fail(err error) error {
	if c := context.Cause(r.f.ctx); c != nil {
		if errors.Is(err, c) {
			return err
		}
		return fmt.Errorf("%w (last error: %v)", c, err)
	}
	if errors.Is(err, ErrRestart) {
		return err
	}
	o := r.f.o
	o.Logger.Warn("image download attempt failed", "url", redactString(r.url()), "error", err)
	n := len(o.URLs)
	if refused(err) {
		if r.dead == nil {
			r.dead = make([]bool, n)
		}
		r.dead[r.idx] = true
	}
	next, wrapped := -1, false
	for i := r.idx + 1; i <= r.idx+n; i++ {
		if r.dead == nil || !r.dead[i%n] {
			next, wrapped = i%n, i >= n
			break
		}
	}
	if next < 0 {
		return err
	}
	r.idx = next
	if !wrapped {
		return nil
	}
	r.round++
	if r.round > o.Retries {
		return fmt.Errorf("%w after %d attempts per URL: %w", ErrRetriesExhausted, r.round, err)
	}
	d := r.backoff()
	o.Logger.Info("image download retrying", "in", d, "round", r.round, "of", o.Retries)
	if serr := o.Clock.Sleep(r.f.ctx, d); serr != nil {
		return fmt.Errorf("%w (last error: %v)", serr, err)
	}
	return nil
}

// backoff is the pause before round r.round: RetryInterval doubled each
// round up to maxBackoffFactor times, then drawn from [d/2, d) so agents
// retrying against one server spread out.
func (r *retrier) backoff() time.Duration {
	base := r.f.o.RetryInterval
	d := base
	for i := 1; i < r.round && d < base*maxBackoffFactor; i++ {
		d *= 2
	}
	d = min(d, base*maxBackoffFactor)
	return d/2 + time.Duration(r.f.rand()*float64(d/2))
}

// watchedBody cancels its request when a Read waits longer than timeout,
// so a stalled server ends in ErrStalled instead of hanging. Time spent by
// the caller between Reads does not count.
type watchedBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	t      *time.Timer
	d      time.Duration
}

func newWatchedBody(ctx context.Context, rc io.ReadCloser, d time.Duration, cancel context.CancelCauseFunc) *watchedBody {
	w := &watchedBody{rc: rc, ctx: ctx, cancel: cancel, d: d}
	w.t = time.AfterFunc(d, func() { cancel(fmt.Errorf("%w: no data for %v", ErrStalled, d)) })
	w.t.Stop()
	return w
}

func (w *watchedBody) Read(p []byte) (int, error) {
	w.t.Reset(w.d)
	n, err := w.rc.Read(p)
	w.t.Stop()
	if err != nil && err != io.EOF {
		if c := context.Cause(w.ctx); c != nil {
			err = c
		}
	}
	return n, err
}

func (w *watchedBody) Close() error {
	w.t.Stop()
	w.cancel(context.Canceled)
	return w.rc.Close()
}

// drain reads a little of an unwanted body so its connection can be
// reused, then closes it.
func drain(b io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, b, 4<<10)
	b.Close()
}

// validator returns what If-Range needs to resume the same object: a strong
// ETag, else Last-Modified (weak ETags are not allowed in If-Range).
func validator(h http.Header) string {
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		return et
	}
	return h.Get("Last-Modified")
}

// sameObject reports whether a resumed response still carries the ETag or
// Last-Modified that v holds, for servers that ignore If-Range.
func sameObject(v string, h http.Header) bool {
	if !strings.HasPrefix(v, `"`) {
		lm := h.Get("Last-Modified")
		return v == "" || lm == "" || lm == v
	}
	et := h.Get("ETag")
	return et == "" || et == v
}

// contentRange parses "bytes first-last/total"; total is -1 for "*".
func contentRange(s string) (first, last, total int64, err error) {
	bad := fmt.Errorf("image download: bad Content-Range %q", s)
	spec, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, tot, ok := strings.Cut(spec, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	f, l, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	if first, err = strconv.ParseInt(f, 10, 64); err != nil || first < 0 {
		return 0, 0, 0, bad
	}
	if last, err = strconv.ParseInt(l, 10, 64); err != nil || last < first {
		return 0, 0, 0, bad
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total <= last {
			return 0, 0, 0, bad
		}
	}
	return first, last, total, nil
}
