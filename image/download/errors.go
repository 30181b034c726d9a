package download

import "errors"

var (
	// ErrHTTPClient reports a 4xx answer: fatal, never retried.
	ErrHTTPClient = errors.New("image download: client error")
	// ErrHTTPServer reports a 5xx answer; it is retried, so callers see it
	// wrapped in ErrRetriesExhausted.
	ErrHTTPServer = errors.New("image download: server error")
	// ErrRetriesExhausted means every URL failed Options.Retries+1 times in a
	// row without delivering a byte.
	ErrRetriesExhausted = errors.New("image download: retries exhausted")
	// ErrStalled means no byte arrived for Options.ConnectTimeout.
	ErrStalled = errors.New("image download: stalled")
	// ErrMaxDuration means Options.MaxDuration passed.
	ErrMaxDuration = errors.New("image download: maximum duration exceeded")
	// ErrRestart means the bytes already delivered cannot be continued: the
	// server ignored the Range request, or the object changed (ETag or
	// Last-Modified, size). The caller must start the whole write again
	// from byte 0 with a new Stream.
	ErrRestart = errors.New("image download: cannot resume, restart from byte 0")
	// ErrNoRange means the server does not serve byte ranges, which
	// ReaderAt needs.
	ErrNoRange = errors.New("image download: server does not support range requests")
	// ErrChecksumMismatch means the image bytes do not hash to the expected
	// value (IPA's ImageChecksumError).
	ErrChecksumMismatch = errors.New("image checksum mismatch")
	// ErrChecksum reports checksum fields that cannot be used: unknown
	// algorithm, bad hex, MD5 while disabled, or a checksums file without
	// the image.
	ErrChecksum = errors.New("invalid image checksum")
)
