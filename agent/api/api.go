// Package api serves the Ironic Python Agent REST API (contract §1) that the
// Ironic conductor drives: routes, JSON shapes, status codes and error bodies
// are IPA's, because the conductor parses them.
package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/goipa/goipa/ipa"
)

// MaxBodyBytes caps a request body. A write_image request carries the node and
// a base64 config drive of up to 64 MiB gzipped (~86 MiB encoded) twice, so
// bodies approach 180 MiB; larger ones are refused from their Content-Length.
const MaxBodyBytes = 256 << 20

// Server is the agent's command API.
type Server struct {
	Runner    *ipa.Runner
	Version   string    // agent version reported by /v1/status
	StartedAt time.Time // reported by /v1/status
	// Token returns the agent token handed out by Ironic's lookup ("" until then).
	Token func() string
	// Seen, if set, is called for every request to the command routes: the
	// conductor acting on a heartbeat.
	Seen func()
	Log  *slog.Logger

	// tokenGets is set once the conductor sent the token on a GET command
	// route: from then on a GET without it is refused (see tokenIfGiven).
	tokenGets atomic.Bool
}

// Handler returns the HTTP handler with every route of IPA's app.py.
func (s *Server) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.RequestID())
	e.Use(s.logRequests)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.Log.Error("panic in API handler", "error", err, "request_id", requestID(c), "stack", string(stack))
			return err
		},
	}))
	e.Use(middleware.BodyLimit(fmt.Sprintf("%dB", MaxBodyBytes)))

	e.GET("/", s.root)
	for _, p := range []string{"/v1", "/v1/"} {
		e.GET(p, s.v1)
	}
	for _, prefix := range []string{"/v1", ""} {
		e.GET(prefix+"/status", s.status)
		e.GET(prefix+"/status/", s.status)
		for _, p := range []string{prefix + "/commands", prefix + "/commands/"} {
			e.GET(p, s.listCommands, s.tokenIfGiven)
			e.POST(p, s.runCommand, s.tokenRequired)
		}
		e.GET(prefix+"/commands/:id", s.getCommand, s.tokenIfGiven)
		e.GET(prefix+"/commands/:id/", s.getCommand, s.tokenIfGiven)
	}
	return e
}

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
	Type string `json:"type,omitempty"`
}

type version struct {
	ID    string `json:"id"`
	Links []link `json:"links"`
}

func rootURL(c echo.Context) string {
	return c.Scheme() + "://" + c.Request().Host
}

func v1Version(root string) version {
	return version{ID: "v1", Links: []link{
		{Href: root + "/v1/", Rel: "self"},
		{Href: "https://docs.openstack.org/ironic-python-agent", Rel: "describedby", Type: "text/html"},
	}}
}

func (s *Server) root(c echo.Context) error {
	v := v1Version(rootURL(c))
	return c.JSON(http.StatusOK, map[string]any{
		"name":            "OpenStack Ironic Python Agent API",
		"description":     "Ironic Python Agent is a provisioning agent for OpenStack Ironic",
		"versions":        []version{v},
		"default_version": v,
	})
}

func (s *Server) v1(c echo.Context) error {
	root := rootURL(c)
	v := v1Version(root)
	return c.JSON(http.StatusOK, map[string]any{
		"id":    v.ID,
		"links": v.Links,
		"commands": []link{
			{Href: root + "/v1/commands/", Rel: "self"},
			{Href: root + "/commands/", Rel: "bookmark"},
		},
		"status": []link{
			{Href: root + "/v1/status/", Rel: "self"},
			{Href: root + "/status/", Rel: "bookmark"},
		},
		"media_types": []map[string]string{
			{"base": "application/json", "type": "application/vnd.openstack.ironic-python-agent.v1+json"},
		},
	})
}

func (s *Server) status(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{
		"started_at": float64(s.StartedAt.UnixNano()) / 1e9,
		"version":    s.Version,
	})
}

func (s *Server) listCommands(c echo.Context) error {
	list := s.Runner.List()
	if list == nil {
		list = []*ipa.Result{}
	}
	return c.JSON(http.StatusOK, map[string]any{"commands": list})
}

func (s *Server) getCommand(c echo.Context) error {
	res, err := s.Runner.Get(c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.wait(c, res); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

type runRequest struct {
	Name   string          `json:"name"`
	Params json.RawMessage `json:"params"`
}

func (s *Server) runCommand(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	req, err := decodeRunRequest(body)
	if err != nil {
		return err
	}
	res, err := s.Runner.Execute(req.Name, req.Params)
	if err != nil {
		return err
	}
	if err := s.wait(c, res); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// decodeRunRequest validates a POST /v1/commands/ body: an object with a
// string name and an object params, as IPA's run_command requires.
func decodeRunRequest(body []byte) (runRequest, error) {
	var req runRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return req, ipa.InvalidContent("Missing or invalid name or params")
	}
	p := strings.TrimSpace(string(req.Params))
	if req.Name == "" || !strings.HasPrefix(p, "{") {
		return req, ipa.InvalidContent("Missing or invalid name or params")
	}
	return req, nil
}

// wait blocks until res is done when the request asks ?wait=true.
func (s *Server) wait(c echo.Context, res *ipa.Result) error {
	if c.QueryParam("wait") != "true" {
		return nil
	}
	select {
	case <-res.Done():
		return nil
	case <-c.Request().Context().Done():
		return c.Request().Context().Err()
	}
}

var errTokenInvalid = echo.NewHTTPError(http.StatusUnauthorized, "Token invalid.")

func (s *Server) tokenValid(supplied string) bool {
	stored := s.Token()
	if supplied == "" || stored == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(supplied), []byte(stored)) == 1
}

// tokenRequired guards POST: the agent_token query parameter must match.
func (s *Server) tokenRequired(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.tokenValid(c.QueryParam("agent_token")) {
			return errTokenInvalid
		}
		s.seen()
		return next(c)
	}
}

func (s *Server) seen() {
	if s.Seen != nil {
		s.Seen()
	}
}

// tokenIfGiven guards the GET command routes. Ironic 21.4 polls them with
// no token (IPA 9.4 did not check there); Ironic 35 sends it on every
// request and IPA 13 refuses a GET without it. So a wrong token is always
// refused, and a missing one is served until the conductor has once sent
// the right one on a GET: a conductor that sends tokens sends them always,
// and from then on nobody else reads the results without it.
func (s *Server) tokenIfGiven(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch {
		case c.QueryParams().Has("agent_token"):
			if !s.tokenValid(c.QueryParam("agent_token")) {
				return errTokenInvalid
			}
			s.tokenGets.Store(true)
		case s.tokenGets.Load():
			return errTokenInvalid
		}
		s.seen()
		return next(c)
	}
}

// handleError writes IPA's WSME-style error body for every failure.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, fault := http.StatusInternalServerError, err.Error()
	var ce *ipa.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ce):
		code, fault = ce.Code, ce.Error()
	case errors.As(err, &he):
		code = he.Code
		fault = fmt.Sprintf("%d %s: %v", he.Code, http.StatusText(he.Code), he.Message)
	}
	faultcode := "Client"
	if code >= 500 {
		faultcode = "Server"
	}
	s.Log.Warn("API error", "request_id", requestID(c), "method", c.Request().Method,
		"path", c.Request().URL.Path, "status", code, "fault", fault)
	if err := c.JSON(code, map[string]string{"faultcode": faultcode, "faultstring": fault}); err != nil {
		s.Log.Error("writing error response", "error", err)
	}
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		r := c.Request()
		s.Log.Debug("request", "request_id", requestID(c), "method", r.Method, "path", r.URL.Path,
			"remote", r.RemoteAddr, "duration", time.Since(start))
		return err
	}
}
