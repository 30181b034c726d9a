// Package client talks to an agent's REST API the way the Ironic conductor
// does (ironic/drivers/modules/agent_client.py): commands are posted to
// /v1/commands/ with the agent token as the agent_token query parameter.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ErrBadCA is returned by New when a CA bundle holds no usable certificate.
var ErrBadCA = errors.New("no PEM certificate found")

// maxResponse bounds how much of a reply is read; command results carrying
// system logs (base64 tar.gz) are the biggest legitimate answers.
const maxResponse = 512 << 20

// Client is a client of one agent. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// Option configures a Client.
type Option func(*Client) error

// WithToken sets the agent token sent with every command request.
func WithToken(token string) Option {
	return func(c *Client) error { c.token = token; return nil }
}

// WithHTTPClient replaces the HTTP client (for custom TLS or timeouts).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error { c.hc = hc; return nil }
}

// WithCA trusts only the PEM certificates given, as the conductor does with
// the agent_verify_ca an agent sends in its heartbeat (a self-signed cert).
func WithCA(pem []byte) Option {
	return func(c *Client) error {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return ErrBadCA
		}
		c.hc = &http.Client{Transport: newTransport(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})}
		return nil
	}
}

// WithInsecureTLS skips verification of the agent's certificate.
func WithInsecureTLS() Option {
	return func(c *Client) error {
		c.hc = &http.Client{Transport: newTransport(&tls.Config{InsecureSkipVerify: true})}
		return nil
	}
}

func newTransport(cfg *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return t
}

// New returns a client of the agent at baseURL (its callback_url, e.g.
// "https://10.0.0.5:9999").
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("agent URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("agent URL %q: want http(s)://host:port", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, hc: http.DefaultClient}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Status is GET /v1/status.
type Status struct {
	StartedAt float64 `json:"started_at"`
	Version   string  `json:"version"`
}

// Status asks for the agent's start time and version.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Commands lists every command the agent ran, oldest first.
func (c *Client) Commands(ctx context.Context) ([]Result, error) {
	var list struct {
		Commands []Result `json:"commands"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/commands/", nil, nil, &list); err != nil {
		return nil, err
	}
	return list.Commands, nil
}

// Command fetches one result; with wait it blocks until the command is done.
func (c *Client) Command(ctx context.Context, id string, wait bool) (*Result, error) {
	q := url.Values{}
	if wait {
		q.Set("wait", "true")
	}
	var r Result
	if err := c.do(ctx, http.MethodGet, "/v1/commands/"+url.PathEscape(id), q, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Run posts command name ("extension.command") with params (nil means {}).
// With wait the agent answers once the command is done; otherwise async
// commands come back RUNNING.
//
// Like the conductor, if the connection breaks after the request went out it
// looks at the command list and accepts a RUNNING last command of the same
// name as the answer.
func (c *Client) Run(ctx context.Context, name string, params any, wait bool) (*Result, error) {
	if params == nil {
		params = struct{}{}
	}
	body, err := json.Marshal(struct {
		Name   string `json:"name"`
		Params any    `json:"params"`
	}{name, params})
	if err != nil {
		return nil, fmt.Errorf("encode params of %s: %w", name, err)
	}
	q := url.Values{"wait": {strconv.FormatBool(wait)}}
	var r Result
	err = c.do(ctx, http.MethodPost, "/v1/commands/", q, body, &r)
	if err == nil {
		return &r, nil
	}
	var netErr net.Error
	if ctx.Err() != nil || !(errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return nil, err
	}
	if last, lerr := c.lastRunning(ctx, name); lerr == nil && last != nil {
		return last, nil
	}
	return nil, err
}

// lastRunning is the conductor's _status_if_last_command_matches.
func (c *Client) lastRunning(ctx context.Context, name string) (*Result, error) {
	cmds, err := c.Commands(ctx)
	if err != nil || len(cmds) == 0 {
		return nil, err
	}
	last := cmds[len(cmds)-1]
	if last.CommandName == ShortName(name) && last.CommandStatus == StatusRunning {
		return &last, nil
	}
	return nil, nil
}

// ShortName is the part of "extension.command" after the dot, which is what
// the agent reports as command_name.
func ShortName(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	u := *c.base
	u.Path += path
	if strings.HasPrefix(path, "/v1/commands/") && c.token != "" {
		if q == nil {
			q = url.Values{}
		}
		q.Set("agent_token", c.token)
	}
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s %s: read reply: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		return newAPIError(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode reply: %w", method, path, err)
	}
	return nil
}
