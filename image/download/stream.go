package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Stream reads an image from start to end, reconnecting and resuming on
// the way. It is not safe for concurrent Reads; Progress, BytesRead and
// Size may be called from any goroutine.
type Stream struct {
	f         *fetcher
	r         retrier
	size      int64  // Content-Length of the first answer, -1 if unknown
	validator string // ETag or Last-Modified of the first answer
	ranges    bool   // the server did not announce Accept-Ranges: none
	opened    bool   // size is set
	started   time.Time

	body    io.ReadCloser
	gotData bool // body delivered bytes
	err     error
	off     atomic.Int64
	resumes atomic.Int64
}

// Open connects to the first URL that answers and returns the stream of
// the image's bytes. The Stream keeps using ctx; Close releases it.
func Open(ctx context.Context, opts Options) (*Stream, error) {
	f, err := newFetcher(ctx, opts)
	if err != nil {
		return nil, err
	}
	s := &Stream{f: f, r: retrier{f: f}, size: -1, started: f.o.Clock.Now()}
	if err := s.connect(); err != nil {
		f.close()
		return nil, err
	}
	return s, nil
}

// connect opens a body at the current offset, over URLs and retries.
func (s *Stream) connect() error {
	for {
		err := s.try()
		if err == nil {
			return nil
		}
		if err := s.r.fail(err); err != nil {
			return err
		}
	}
}

// try sends one request for the bytes from the current offset on.
func (s *Stream) try() error {
	u := s.r.url()
	off := s.off.Load()
	if off == 0 {
		resp, err := s.f.get(u, "", "")
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			drain(resp.Body)
			return fmt.Errorf("image download: GET %s: unrequested %s", redactString(u), resp.Status)
		}
		if !s.opened {
			s.size = resp.ContentLength
			s.opened = true
		} else if resp.ContentLength != s.size {
			drain(resp.Body)
			return fmt.Errorf("%w: %s changed size from %d to %d", ErrRestart, redactString(u), s.size, resp.ContentLength)
		}
		s.validator = validator(resp.Header)
		s.ranges = resp.Header.Get("Accept-Ranges") != "none"
		s.setBody(resp.Body)
		return nil
	}
	if !s.ranges {
		return fmt.Errorf("%w: %s does not serve ranges (Accept-Ranges: none)", ErrRestart, redactString(u))
	}
	resp, err := s.f.get(u, fmt.Sprintf("bytes=%d-", off), s.validator)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusRequestedRangeNotSatisfiable {
		return fmt.Errorf("%w: %w", ErrRestart, err)
	}
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusPartialContent {
		drain(resp.Body)
		return fmt.Errorf("%w: %s answered a Range request with the whole object (no range support, or the object changed)",
			ErrRestart, redactString(u))
	}
	first, last, total, err := contentRange(resp.Header.Get("Content-Range"))
	switch {
	case err != nil:
		err = fmt.Errorf("%w: %w", ErrRestart, err)
	case first != off || (s.size >= 0 && (total != s.size || last >= s.size)):
		err = fmt.Errorf("%w: %s sent bytes %d-%d/%d for a resume at %d of %d",
			ErrRestart, redactString(u), first, last, total, off, s.size)
	case !sameObject(s.validator, resp.Header):
		err = fmt.Errorf("%w: %s changed ETag from %s to %s", ErrRestart, redactString(u), s.validator, resp.Header.Get("ETag"))
	}
	if err != nil {
		drain(resp.Body)
		return err
	}
	s.resumes.Add(1)
	s.f.o.Logger.Info("image download resumed", "url", redactString(u), "offset", off, "size", s.size)
	s.setBody(resp.Body)
	return nil
}

func (s *Stream) setBody(b io.ReadCloser) {
	s.body = b
	s.gotData = false
}

// Read returns the image's bytes in order. It returns io.EOF only after
// Size bytes (or, with an unknown size, at the clean end of the body); a
// stream that cannot be completed ends in an error wrapping
// io.ErrUnexpectedEOF, ErrRestart when the caller should start over.
func (s *Stream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if s.body == nil {
			if err := s.connect(); err != nil {
				s.err = s.final(err)
				return 0, s.err
			}
		}
		n, err := s.body.Read(p)
		off := s.off.Add(int64(n))
		if n > 0 {
			s.gotData = true
			s.r.progress()
		}
		if err == nil {
			return n, nil
		}
		s.body.Close()
		s.body = nil
		if err == io.EOF && (s.size < 0 || off == s.size) {
			s.err = io.EOF
			return n, io.EOF
		}
		if err == io.EOF {
			err = fmt.Errorf("body ended at byte %d of %d: %w", off, s.size, io.ErrUnexpectedEOF)
		}
		s.f.o.Logger.Warn("image download interrupted", "url", redactString(s.r.url()), "offset", off, "size", s.size, "error", err)
		if !s.gotData {
			if ferr := s.r.fail(err); ferr != nil {
				s.err = s.final(ferr)
				return n, s.err
			}
		}
		if n > 0 {
			return n, nil
		}
	}
}

// final makes the error that ends the stream say how far it got.
func (s *Stream) final(err error) error {
	off := s.off.Load()
	if off == 0 || errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	return fmt.Errorf("%w at byte %d of %d: %w", io.ErrUnexpectedEOF, off, s.size, err)
}

// Size is the image's Content-Length, -1 if the server did not send one.
func (s *Stream) Size() int64 { return s.size }

// BytesRead is the number of bytes Read has returned.
func (s *Stream) BytesRead() int64 { return s.off.Load() }

// Requests is the number of HTTP requests sent so far.
func (s *Stream) Requests() int64 { return s.f.requests.Load() }

// Close ends the stream and releases its connections.
func (s *Stream) Close() error {
	if s.body != nil {
		s.body.Close()
		s.body = nil
	}
	if s.err == nil {
		s.err = errors.New("image download: stream closed")
	}
	s.f.close()
	return nil
}

// Progress is a snapshot of a Stream for logs.
type Progress struct {
	Bytes   int64
	Size    int64 // -1 if unknown
	Elapsed time.Duration
	Rate    float64       // bytes per second since Open
	ETA     time.Duration // -1 if unknown
	Resumes int64         // successful Range resumes
}

// Progress returns the current progress.
func (s *Stream) Progress() Progress {
	p := Progress{
		Bytes:   s.off.Load(),
		Size:    s.size,
		Elapsed: s.f.o.Clock.Now().Sub(s.started),
		ETA:     -1,
		Resumes: s.resumes.Load(),
	}
	if p.Elapsed > 0 {
		p.Rate = float64(p.Bytes) / p.Elapsed.Seconds()
	}
	if p.Size >= 0 && p.Rate > 0 {
		p.ETA = time.Duration(float64(p.Size-p.Bytes) / p.Rate * float64(time.Second))
	}
	return p
}
