package download

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Defaults of IPA's image_download_connection_* options.
const (
	DefaultConnectTimeout = 60 * time.Second
	DefaultRetries        = 9
	DefaultRetryInterval  = 10 * time.Second
	DefaultStreams        = 4
	DefaultSegmentSize    = 4 << 20
)

// Options configure one image fetch; Ironic's image_info and the agent's
// ipa-image-download-* parameters map onto them.
type Options struct {
	// URLs are tried in order; a failing URL hands over to the next.
	URLs []string
	// Proxies are used for http and https URLs respectively, unless the
	// host matches NoProxy. A value without a scheme means http://.
	Proxies Proxies
	// NoProxy is a comma-separated list of hosts, domains (".example.com"
	// or "example.com" also match subdomains), IPs, CIDRs, optionally with
	// ":port", or "*".
	NoProxy string
	// TLS is the client TLS configuration (CA file, ipa-insecure); nil
	// means the system roots.
	TLS *tls.Config
	// Authorization is a full Authorization header value (image_info's
	// image_request_authorization, already base64-decoded). It wins over
	// basic auth.
	Authorization string
	// BasicUser and BasicPassword are http_basic credentials.
	BasicUser, BasicPassword string
	// ConnectTimeout bounds connecting, the TLS handshake, waiting for
	// response headers, and the time without a body byte (stall). Zero
	// means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Retries is how many more attempts each URL gets after its first:
	// every attempt that ends early counts, whatever it delivered.
	Retries int
	// RetryInterval is the pause between rounds of failed attempts,
	// jittered into [RetryInterval/2, RetryInterval).
	RetryInterval time.Duration
	// MaxDuration caps the whole fetch; zero means unlimited.
	MaxDuration time.Duration
	// Logger receives retries and resumes; nil discards them.
	Logger *slog.Logger
	// Clock paces retries and progress; nil means the real clock.
	Clock Clock
	// Streams is how many connections a Stream uses at once for an image
	// of at least two segments whose server announces byte ranges and a
	// validator: the first answer serves the first segment, Range requests
	// the others, and Read still returns the bytes in order. Zero means
	// DefaultStreams on a path whose round-trip time is LongPathRTT or
	// more, else one; 1 means one connection.
	Streams int
	// SegmentSize is the size of the pieces a Stream fetches ahead of its
	// reader; connections+4 of them are buffered. Zero means
	// DefaultSegmentSize.
	SegmentSize int64
}

// Proxies are image_info's proxies map.
type Proxies struct {
	HTTP, HTTPS string
}

// Clock is the time source of retry pauses and progress, replaceable in
// tests. Stall detection and MaxDuration always use real time because they
// guard real network I/O.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, returning ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// normalize checks o and fills defaults.
func (o Options) normalize() (Options, error) {
	if len(o.URLs) == 0 {
		return o, errors.New("image download: no URLs")
	}
	for _, u := range o.URLs {
		if _, err := parseHTTPURL(u); err != nil {
			return o, err
		}
	}
	if o.ConnectTimeout < 0 || o.Retries < 0 || o.RetryInterval < 0 || o.MaxDuration < 0 || o.Streams < 0 || o.SegmentSize < 0 {
		return o, errors.New("image download: negative timeout, retry count, interval, stream count or segment size")
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	return o, nil
}

// httpClient builds the client for o. Compression is disabled so byte
// offsets are those of the image and Range requests stay meaningful.
func (o Options) httpClient() (*http.Client, error) {
	proxy, err := o.proxyFunc()
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	var tlsConf *tls.Config
	if o.TLS != nil {
		tlsConf = o.TLS.Clone()
	}
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           d.DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.ConnectTimeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{Transport: tr}, nil
}

// authorize sets the Authorization header, image_request_authorization
// first.
func (o Options) authorize(req *http.Request) {
	switch {
	case o.Authorization != "":
		req.Header.Set("Authorization", o.Authorization)
	case o.BasicUser != "":
		req.SetBasicAuth(o.BasicUser, o.BasicPassword)
	}
}
