package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Cache geometry of ReaderAt: reads of at least directRead bytes go
// straight to the server; smaller ones are served from cached spans of
// readAheadMin to readAheadMax bytes (doubling while reads are sequential),
// at most cacheMax bytes in all.
const (
	directRead   = 1 << 20
	readAheadMin = 256 << 10
	readAheadMax = 4 << 20
	cacheMax     = 8 << 20
	spanAlign    = 4 << 10
)

// ReaderAt is an io.ReaderAt over HTTP Range requests, with the retry,
// authentication, TLS and proxy rules of Stream. It is safe for concurrent
// use; small reads share a lock and a cache, large reads run in parallel.
type ReaderAt struct {
	f         *fetcher
	size      int64
	validator string

	mu      sync.Mutex
	spans   []span // most recently used last
	cached  int64
	window  int64
	nextSeq int64 // offset after the last span fetched
}

type span struct {
	off  int64
	data []byte
}

// NewReaderAt probes the URLs in order with a Range request for the start
// of the image and returns a ReaderAt over the first that serves ranges.
// It fails with ErrNoRange when the server answers with the whole object or
// does not tell the size.
func NewReaderAt(ctx context.Context, opts Options) (*ReaderAt, error) {
	f, err := newFetcher(ctx, opts)
	if err != nil {
		return nil, err
	}
	r := &ReaderAt{f: f, window: readAheadMin}
	rt := retrier{f: f}
	for {
		err = r.probe(rt.url())
		if err == nil {
			return r, nil
		}
		if err = rt.fail(err); err != nil {
			f.close()
			return nil, err
		}
	}
}

func (r *ReaderAt) probe(u string) error {
	resp, err := r.f.get(u, fmt.Sprintf("bytes=0-%d", readAheadMin-1), "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return fmt.Errorf("%w: %s answered a Range request with %s", ErrNoRange, redactString(u), resp.Status)
	}
	first, last, total, err := contentRange(resp.Header.Get("Content-Range"))
	if err != nil {
		return err
	}
	if first != 0 || total < 0 {
		return fmt.Errorf("%w: %s sent Content-Range %q", ErrNoRange, redactString(u), resp.Header.Get("Content-Range"))
	}
	data := make([]byte, last+1)
	if _, err := io.ReadFull(resp.Body, data); err != nil {
		return fmt.Errorf("image download: reading %s: %w", redactString(u), err)
	}
	r.f.o.URLs = []string{u}
	r.size, r.validator = total, validator(resp.Header)
	r.add(span{0, data})
	r.nextSeq = int64(len(data))
	return nil
}

// Size is the image's size.
func (r *ReaderAt) Size() int64 { return r.size }

// Requests is the number of HTTP requests sent so far, the probe included.
func (r *ReaderAt) Requests() int64 { return r.f.requests.Load() }

// Close releases the connections; ReadAt calls that need the network fail
// afterwards.
func (r *ReaderAt) Close() error {
	r.f.close()
	return nil
}

// ReadAt implements io.ReaderAt.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("image download: negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	var eof error
	if rem := r.size - off; int64(len(p)) > rem {
		p, eof = p[:rem], io.EOF
	}
	if len(p) >= directRead {
		if err := r.fetch(p, off); err != nil {
			return 0, err
		}
		return len(p), eof
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for done := 0; done < len(p); {
		pos := off + int64(done)
		s, err := r.lookup(pos, int64(len(p)-done))
		if err != nil {
			return done, err
		}
		done += copy(p[done:], s.data[pos-s.off:])
	}
	return len(p), eof
}

// lookup returns a cached span holding pos, fetching one of at least n
// bytes when none does. r.mu is held.
func (r *ReaderAt) lookup(pos, n int64) (span, error) {
	for i := len(r.spans) - 1; i >= 0; i-- {
		s := r.spans[i]
		if pos >= s.off && pos < s.off+int64(len(s.data)) {
			r.spans = append(append(r.spans[:i], r.spans[i+1:]...), s)
			return s, nil
		}
	}
	if pos == r.nextSeq {
		r.window = min(2*r.window, readAheadMax)
	} else {
		r.window = readAheadMin
	}
	start := pos &^ (spanAlign - 1)
	end := min(max(start+r.window, pos+n), r.size)
	r.evict(end - start)
	s := span{start, make([]byte, end-start)}
	if err := r.fetch(s.data, start); err != nil {
		return span{}, err
	}
	r.add(s)
	r.nextSeq = end
	return s, nil
}

// evict drops the least recently used spans until n more bytes fit in
// cacheMax.
func (r *ReaderAt) evict(n int64) {
	for len(r.spans) > 0 && r.cached+n > cacheMax {
		r.cached -= int64(len(r.spans[0].data))
		r.spans = r.spans[1:]
	}
}

func (r *ReaderAt) add(s span) {
	r.spans = append(r.spans, s)
	r.cached += int64(len(s.data))
}

// fetch fills p with the bytes at off, resuming short answers and retrying
// failures; every request is guarded by If-Range so bytes of a changed
// object end in ErrRestart.
func (r *ReaderAt) fetch(p []byte, off int64) error {
	rt := retrier{f: r.f}
	for done := 0; done < len(p); {
		n, err := r.fetchOnce(p[done:], off+int64(done))
		done += n
		if err != nil && done < len(p) {
			if err = rt.after(n > 0, err); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *ReaderAt) fetchOnce(p []byte, off int64) (int, error) {
	return rangeGet(r.f, r.f.o.URLs[0], r.validator, r.size, p, off)
}
