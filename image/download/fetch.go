package download

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	attempts *attempts      // shared with the fetchers derived by sub
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
	f := &fetcher{o: o, c: c, rand: rand.Float64, requests: new(atomic.Int64), attempts: &attempts{}}
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
// byte arrives for ConnectTimeout. gotConn, if not nil, sees the connection
// the request goes out on.
func (f *fetcher) get(u, rng, ifRange string, gotConn func(net.Conn)) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(f.ctx)
	if gotConn != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { gotConn(i.Conn) }})
	}
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

// attempts counts the failed attempts of each URL over one fetch and the
// fetchers sub derives from it (the segments of a parallel Stream), so
// every request that ends short spends one of the URL's Retries+1, whatever
// it delivered: a server that always sends a little and then stops cannot
// keep a fetch alive.
type attempts struct {
	mu     sync.Mutex
	failed map[string]int
}

// spend records one failed attempt of u and returns how many there were.
func (a *attempts) spend(u string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failed == nil {
		a.failed = map[string]int{}
	}
	a.failed[u]++
	return a.failed[u]
}

// retrier walks the URLs in order and pauses RetryInterval after each round
// in which every URL failed, as IPA does between attempts: a fetch that
// cannot finish ends within (Retries+1) × (ConnectTimeout + RetryInterval)
// per URL, plus the time its bytes took to arrive.
type retrier struct {
	f    *fetcher
	idx  int    // URL in use
	dead []bool // URLs given up: refused, or out of attempts
}

func (r *retrier) url() string { return r.f.o.URLs[r.idx] }

// fail records a failed attempt on the current URL that delivered nothing
// and moves to the next usable one, pausing after a full round; it returns
// the error that ends the fetch, or nil to try again.
func (r *retrier) fail(err error) error {
	spent, stop := r.record(err)
	if stop != nil {
		return stop
	}
	o := r.f.o
	n := len(o.URLs)
	exhausted := spent > o.Retries
	if refused(err) || exhausted {
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
		if exhausted {
			return fmt.Errorf("%w after %d attempts per URL: %w", ErrRetriesExhausted, spent, err)
		}
		return err
	}
	r.idx = next
	if !wrapped {
		return nil
	}
	d := r.pause()
	o.Logger.Info("image download retrying", "in", d, "attempts_failed", spent, "of", o.Retries+1)
	if serr := o.Clock.Sleep(r.f.ctx, d); serr != nil {
		return fmt.Errorf("%w (last error: %v)", serr, err)
	}
	return nil
}

// interrupted records an attempt that ended early after delivering bytes:
// it spends one of the URL's attempts like any failure, and the caller
// resumes on the same URL at once (the bytes are kept); it returns the
// error that ends the fetch when no attempt is left.
func (r *retrier) interrupted(err error) error {
	spent, stop := r.record(err)
	if stop != nil {
		return stop
	}
	if spent > r.f.o.Retries {
		return fmt.Errorf("%w after %d attempts per URL: %w", ErrRetriesExhausted, spent, err)
	}
	return nil
}

// after is interrupted for an attempt that delivered bytes, else fail.
func (r *retrier) after(delivered bool, err error) error {
	if delivered {
		return r.interrupted(err)
	}
	return r.fail(err)
}

// record logs a failed attempt and spends it; stop is the error that ends
// the fetch regardless of attempts left (cancelled, cannot resume).
func (r *retrier) record(err error) (spent int, stop error) {
	if c := context.Cause(r.f.ctx); c != nil {
		if errors.Is(err, c) {
			return 0, err
		}
		return 0, fmt.Errorf("%w (last error: %v)", c, err)
	}
	if errors.Is(err, ErrRestart) {
		return 0, err
	}
	r.f.o.Logger.Warn("image download attempt failed", "url", redactString(r.url()), "error", err)
	return r.f.attempts.spend(r.url()), nil
}

// pause is the wait before the next round: RetryInterval drawn from
// [d/2, d), so agents retrying against one server spread out without
// exceeding IPA's interval.
func (r *retrier) pause() time.Duration {
	d := r.f.o.RetryInterval
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
