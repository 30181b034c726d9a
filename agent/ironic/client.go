// Package ironic is the agent's client of the bare metal (Ironic) API: API
// version discovery, node lookup, heartbeats and the heartbeat loop, plus the
// local facts they need (NIC MAC addresses, the address to advertise).
package ironic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Headers sent to Ironic.
const (
	headerAPIVersion = "X-OpenStack-Ironic-API-Version"
	headerRequestID  = "X-OpenStack-Request-ID"
)

// Response bodies larger than this are refused; a lookup reply carries one
// node with its secrets masked, far below it.
const maxResponseBody = 16 << 20

// maxErrorBody is how much of an error reply ends up in an error message.
const maxErrorBody = 1024

// Options configure a Client.
type Options struct {
	// URLs are the API endpoints (ipa-api-url). Each element may itself be a
	// comma-separated list, so the raw kernel parameter can be passed as is.
	URLs []string
	// HTTPClient carries TLS settings and timeouts; nil means http.DefaultClient.
	HTTPClient *http.Client
	// RequestID, if set, is sent as X-OpenStack-Request-ID (ipa-global-request-id).
	RequestID string
	// APIVersion, if set, replaces version discovery (ipa-ironic-api-version).
	APIVersion string
	// Logger hears retries and failures; nil discards them.
	Logger *slog.Logger
}

// Client talks to the Ironic API. It is safe for concurrent use.
type Client struct {
	http      *http.Client
	requestID string
	log       *slog.Logger
	clk       clock
	rand      randFloat

	mu       sync.Mutex
	urls     []string // the endpoint that last answered first
	max      Version  // API maximum, once known
	maxKnown bool
}

// New validates opts and returns a Client. No request is made.
func New(opts Options) (*Client, error) {
	var urls []string
	for _, list := range opts.URLs {
		for _, u := range strings.Split(list, ",") {
			u = strings.TrimSpace(u)
			if u == "" {
				continue
			}
			if u == "mdns" {
				return nil, errors.New("ironic: API discovery via mdns is not supported; give ipa-api-url explicitly")
			}
			p, err := url.Parse(u)
			if err != nil {
				return nil, fmt.Errorf("ironic: API URL %q: %w", u, err)
			}
			if (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return nil, fmt.Errorf("ironic: API URL %q: want http(s)://host[:port][/path]", u)
			}
			urls = append(urls, strings.TrimRight(u, "/"))
		}
	}
	if len(urls) == 0 {
		return nil, errors.New("ironic: no API URL given")
	}
	c := &Client{
		http:      opts.HTTPClient,
		requestID: opts.RequestID,
		log:       opts.Logger,
		clk:       realClock{},
		rand:      defaultRand,
		urls:      urls,
	}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if opts.APIVersion != "" {
		v, err := ParseVersion(opts.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("ironic: ipa-ironic-api-version: %w", err)
		}
		c.max, c.maxKnown = v, true
	}
	return c, nil
}

// URLs returns the API endpoints, the one that last answered first.
func (c *Client) URLs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.urls...)
}

// MaxVersion returns the newest API version Ironic supports: the override
// from Options, else what GET / reports (remembered once known), else
// VersionMin when discovery fails (retried on the next call).
func (c *Client) MaxVersion(ctx context.Context) Version {
	c.mu.Lock()
	v, ok := c.max, c.maxKnown
	c.mu.Unlock()
	if ok {
		return v
	}
	v, err := c.discover(ctx)
	if err != nil {
		c.log.Warn("ironic: API version discovery failed, assuming the minimum",
			"version", VersionMin.String(), "error", err)
		return VersionMin
	}
	c.mu.Lock()
	c.max, c.maxKnown = v, true
	c.mu.Unlock()
	return v
}

func (c *Client) discover(ctx context.Context) (Version, error) {
	resp, err := c.do(ctx, http.MethodGet, "/", nil, nil, nil)
	if err != nil {
		return Version{}, err
	}
	if resp.status != http.StatusOK {
		return Version{}, resp.statusError()
	}
	var root struct {
		DefaultVersion struct {
			Version string `json:"version"`
		} `json:"default_version"`
	}
	if err := json.Unmarshal(resp.body, &root); err != nil {
		return Version{}, fmt.Errorf("GET %s: decoding reply: %w", resp.url, err)
	}
	return ParseVersion(root.DefaultVersion.Version)
}

// StatusError is an unexpected HTTP reply from Ironic.
type StatusError struct {
	Method     string
	URL        string
	StatusCode int
	Body       string // the start of the reply body
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

type response struct {
	method string
	url    string
	status int
	body   []byte
}

func (r *response) statusError() *StatusError {
	b := strings.TrimSpace(string(r.body))
	if len(b) > maxErrorBody {
		b = b[:maxErrorBody] + "…"
	}
	return &StatusError{Method: r.method, URL: r.url, StatusCode: r.status, Body: b}
}

// do sends one request to each endpoint in turn until one answers with any
// HTTP status; that endpoint moves to the front of the list. version nil
// means no API version header.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, version *Version, body any) (*response, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, base := range c.URLs() {
		u := base + path
		if len(query) > 0 {
			u += "?" + query.Encode()
		}
		resp, err := c.send(ctx, method, u, version, payload)
		if err == nil {
			c.promote(base)
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, err)
	}
	return nil, joinErrors(errs)
}

func (c *Client) send(ctx context.Context, method, u string, version *Version, payload []byte) (*response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.requestID != "" {
		req.Header.Set(headerRequestID, c.requestID)
	}
	if version != nil {
		req.Header.Set(headerAPIVersion, version.String())
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading reply: %w", method, u, err)
	}
	if len(b) > maxResponseBody {
		return nil, fmt.Errorf("%s %s: reply larger than %d bytes", method, u, maxResponseBody)
	}
	return &response{method: method, url: u, status: res.StatusCode, body: b}, nil
}

func (c *Client) promote(base string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.urls[0] == base {
		return
	}
	urls := []string{base}
	for _, u := range c.urls {
		if u != base {
			urls = append(urls, u)
		}
	}
	c.urls = urls
	c.log.Info("ironic: switched API endpoint", "url", base)
}

// joinErrors keeps one line per endpoint, unlike errors.Join's newlines.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return &multiError{msg: strings.Join(msgs, "; "), errs: errs}
}

type multiError struct {
	msg  string
	errs []error
}

func (m *multiError) Error() string   { return m.msg }
func (m *multiError) Unwrap() []error { return m.errs }
